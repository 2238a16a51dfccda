"""A person's data as the map declares it: the access export (Art. 15), the portability export
(Art. 20), and what the register holds about them and whom it was disclosed to.

Each function makes one query per declaration, whatever the number of the person's rows.
"""

from typing import Any

from django.db.models import QuerySet

from .map import LegalBasis, declarations


def _people(person) -> QuerySet:
    return type(person)._default_manager.filter(pk=person.pk)


def export_person(person) -> dict[str, list[dict[str, Any]]]:
    """Every mapped row of one person, with its declared fields, keyed by model label."""
    people = _people(person)
    export = {}
    for declaration in declarations():
        fields = [*declaration.fields, *declaration.export_related]
        rows = declaration.rows_of(people).order_by("pk").values(*fields)
        export[declaration.label] = [dict(row) for row in rows]
    return export


# Art. 20 covers data processed on consent or on a contract, and only what the person provided.
PORTABLE_BASES = {LegalBasis.CONSENT, LegalBasis.CONTRACT, LegalBasis.EXPLICIT_CONSENT}


def portable_data(person) -> dict[str, list[dict[str, Any]]]:
    people = _people(person)
    result = {}
    for declaration in declarations():
        fields = sorted(declaration.provided_by_person)
        if not fields or declaration.legal_basis not in PORTABLE_BASES:
            continue
        rows = declaration.rows_of(people).order_by("pk").values(*fields)
        result[declaration.label] = [dict(row) for row in rows]
    return result


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
