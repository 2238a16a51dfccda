"""A person's data as the map declares it: the access export (Art. 15), the portability export
(Art. 20), and what the register holds about them and whom it was disclosed to.

Each function makes one query per declaration, whatever the number of the person's rows.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from .map import Declaration, LegalBasis, declarations


def _people(person) -> QuerySet:
    return type(person)._default_manager.filter(pk=person.pk)


def _exported(declaration: Declaration) -> list[str]:
    """The declared fields, the related values that make them readable, without repeats."""
    wanted = [*declaration.fields, *declaration.export_related, *declaration.words.values()]
    return list(dict.fromkeys(wanted))


def export_person(person) -> dict[str, list[dict[str, Any]]]:
    """Every mapped row of one person, with its declared fields and the related values that name
    them in words (`words`, `export_related`), keyed by model label."""
    people = _people(person)
    export = {}
    for declaration in declarations():
        rows = declaration.rows_of(people).order_by("pk").values(*_exported(declaration))
        export[declaration.label] = [dict(row) for row in rows]
    return export


# Art. 20 covers data processed on consent or on a contract, and only what the person provided.
PORTABLE_BASES = {LegalBasis.CONSENT, LegalBasis.CONTRACT, LegalBasis.EXPLICIT_CONSENT}


def portable_data(person) -> dict[str, list[dict[str, Any]]]:
    """What the person provided, readable by them and by another controller: codes as their
    labels (in the active language), dates in ISO 8601, related rows by their natural key
    (a series' code, a purpose's code), never an internal id."""
    people = _people(person)
    result = {}
    for declaration in declarations():
        fields = sorted(declaration.provided_by_person)
        if not fields or declaration.legal_basis not in PORTABLE_BASES:
            continue
        lookups = {name: declaration.natural_keys.get(name, name) for name in fields}
        rows = declaration.rows_of(people).order_by("pk").values(*lookups.values())
        result[declaration.label] = [
            {
                name: _portable(declaration, name, lookup, row[lookup])
                for name, lookup in lookups.items()
            }
            for row in rows
        ]
    return result


def _portable(declaration: Declaration, name: str, lookup: str, value):
    if value is None:
        return None
    if name in declaration.describe:
        return declaration.describe[name](value)
    field = final_field(declaration.model, lookup)
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def final_field(model: type[models.Model], lookup: str) -> models.Field:
    """The field a lookup such as "series__season__name" ends on."""
    *path, last = lookup.split("__")
    for step in path:
        model = model._meta.get_field(step).related_model
    return model._meta.get_field(last)


# --- In words, for the person to read ------------------------------------------------------------
def _empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def categories_in(declaration: Declaration, rows: list[dict]) -> set[str]:
    """The categories of data these rows really hold: a field left empty in every row (no
    national ID recorded) does not count."""
    return {
        category
        for name, category in declaration.fields.items()
        if any(not _empty(row.get(name)) for row in rows)
    }


def rows_in_words(declaration: Declaration, rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The rows of an export as a table a person reads: the fields' names in the active language,
    codes as their labels, related rows by name, times in the house's zone, never an internal id.
    Fields that are empty in every row are left out."""
    zone = timezone.get_current_timezone()
    shown = [name for name in declaration.fields if any(not _empty(row.get(name)) for row in rows)]
    headers = [
        str(capfirst(declaration.model._meta.get_field(name).verbose_name)) for name in shown
    ]
    labels = {}
    for name in shown:
        lookup = declaration.words.get(name, name)
        field = final_field(declaration.model, lookup)
        labels[name] = (lookup, dict(field.flatchoices) if field.choices else None)
    table = []
    for row in rows:
        cells = []
        for name in shown:
            lookup, choices = labels[name]
            value = row.get(lookup)
            if _empty(value):
                cells.append("—")
            elif name in declaration.describe:
                cells.append(str(declaration.describe[name](value)))
            elif choices is not None:
                cells.append(str(choices.get(value, value)))
            elif isinstance(value, bool):
                cells.append(_("yes") if value else _("no"))
            elif isinstance(value, datetime):
                cells.append(value.astimezone(zone).strftime("%Y-%m-%d %H:%M"))
            elif isinstance(value, date):
                cells.append(value.isoformat())
            else:
                cells.append(str(value))
        table.append(cells)
    return headers, table


def categories_held(person) -> set[str]:
    """The categories of data the register holds about the person: one EXISTS per declaration."""
    people = _people(person)
    held = set()
    for declaration in declarations():
        if declaration.rows_of(people).exists():
            held.update(declaration.fields.values())
    return held


def disclosures_of(person) -> list[tuple[str, Any]]:
    """(recipient code, when) for every recorded disclosure of the person's data (Art. 15(1)(c))."""
    people = _people(person)
    found = []
    for declaration in declarations():
        if declaration.disclosures is not None:
            found += list(declaration.disclosures(declaration.rows_of(people)))
    return found
