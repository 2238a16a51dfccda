"""Deleting and erasing rows in sets, never one object at a time.

Django's `QuerySet.delete()` loads every row into memory once a model has relations or delete
signals, and then deletes object by object (DESIGN.md, Known traps): a million people would take
minutes and gigabytes. `delete_rows` walks the relations instead and issues one statement per
relation, each a subquery on the rows being deleted, so that its cost grows with the schema and not
with the rows. The Art. 17 executor (`erase_person`, one person), the retention engine (thousands
per batch) and the erasure journal after a restore all erase through `erase_people`, so that an
erasure means the same thing wherever it comes from.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from django.apps import apps
from django.db import models
from django.db.models import ProtectedError, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from ..audit import untranslated
from . import journal
from .map import PERSON_MODEL, Erasure, declarations, retention_of
from .person import Right, exercise_right


def _relations_pointing_at(model: type[models.Model]):
    # What Django's own Collector follows: reverse foreign keys and one-to-ones, hidden ones included.
    return [
        field
        for field in model._meta.get_fields(include_hidden=True)
        if field.auto_created and not field.concrete and (field.one_to_one or field.one_to_many)
    ]


def delete_rows(rows: QuerySet, *, cleared: Collection[type[models.Model]] = ()) -> int:
    """Delete `rows` and what their relations cascade to; returns the number of rows deleted.

    Only `CASCADE`, `SET_NULL` and `DO_NOTHING` are followed; a `PROTECT` or `RESTRICT` with rows
    behind it raises, as Django's delete would. The statements run one after another and each
    re-reads `rows`, so `rows` must not change meaning as its dependants go: a filter on its own
    columns or on rows deleted after it, never on rows deleted before it.
    A cascade into a model in `cleared` is left out: the caller has deleted those rows already.
    """
    model = rows.model
    retention = retention_of(model)
    if retention is not None and retention.before_delete is not None:
        retention.before_delete(rows)
    deleted = 0
    for relation in _relations_pointing_at(model):
        field = relation.field
        related = relation.related_model._base_manager.filter(**{f"{field.name}__in": rows})
        on_delete = field.remote_field.on_delete
        if on_delete is models.CASCADE and relation.related_model in cleared:
            continue
        if on_delete is models.CASCADE:
            deleted += delete_rows(related)
        elif on_delete is models.SET_NULL:
            related.update(**{field.name: None})
        elif on_delete is models.DO_NOTHING:
            continue
        elif related.exists():
            raise ProtectedError(
                f"{relation.related_model._meta.label} rows protect the rows being deleted",
                set(),
            )
    # The DELETE itself, without the Collector (which would load every row): what Django's
    # Collector issues for its "fast deletes", on a set whose dependants are already dealt with.
    return deleted + rows._raw_delete(rows.db)


def erase_people(people: QuerySet, *, now: datetime) -> int:
    """Erase every mapped row of `people` as the map says: delete, anonymise, or keep what a legal
    hold still covers at `now`; the people go last. Returns how many rows were deleted or changed,
    the people included.

    `people` must be a stable set (filtered by primary key): every other statement finds its rows
    through it, and it holds still until the people themselves go, last. Rows a declaration
    spares (`erasure_spares`: a request still owed its answer needs the address) are left alone.
    The erasure hooks (the suppression list) are the caller's: a retention purge is not a request.
    """
    touched = 0
    person_declaration = None
    deleted = set()  # the models whose rows of `people` are gone
    # Deletions before anonymisations: anonymising changes columns (a request's address) through
    # which other declarations find the person's rows (the request's packages).
    for declaration in sorted(declarations(), key=lambda d: d.erasure == Erasure.ANONYMISE):
        if declaration.label == PERSON_MODEL:
            person_declaration = declaration
            continue
        if declaration.erasure == Erasure.KEEP:
            # The suppression list: kept on purpose, as a keyed hash. (Not even looked up: its
            # rows are found by hashing every person's address.)
            continue
        rows = declaration.rows_of(people)
        spared = declaration.erasure_spares is not None
        if spared:
            rows = rows.exclude(declaration.erasure_spares)
        if declaration.erasure == Erasure.DELETE:
            touched += delete_rows(rows)
            if not spared:
                deleted.add(declaration.model)
        elif declaration.erasure == Erasure.ANONYMISE:
            values = {
                name: value() if callable(value) else value
                for name, value in declaration.anonymise.items()
            }
            touched += rows.update(**values)
        elif declaration.erasure == Erasure.HOLD:
            # Only what the statute no longer covers goes; the rest loses its link to the person
            # when the person is deleted (the foreign key is SET_NULL, checked by register()).
            expired = declaration.retention.expired(now)
            if expired is not None:
                touched += delete_rows(rows.filter(expired))
    assert person_declaration is not None, "the person model must be declared"
    # The people, and what still points at them: held rows lose their link (SET_NULL), anything
    # outside the map cascades. What the map deleted above is not looked for a second time (a
    # statement per table, for nothing): a declaration finds a person's rows by their key to the
    # person, and a row one missed still goes as its foreign key says, in the database itself
    # (its foreign key's ON DELETE, set by the migrations; elsewhere than PostgreSQL, the commit
    # is refused instead).
    return touched + delete_rows(people, cleared=deleted)


# --- One person (Art. 17) ------------------------------------------------------------------------
@dataclass(frozen=True)
class HeldRows:
    """Rows a statute obliges the house to keep: told to the person with the statute and date."""

    label: str  # the model, e.g. "subscriptions.order"
    statute: str
    held_until: date
    count: int


def erase_person(person, *, actor=None) -> list[HeldRows]:
    """Delete or anonymise every mapped row of the person; keep rows under a legal hold and say
    which.

    The registered erasure hooks (the suppression list) run first, while the address is known; the
    erasure is written to the journal, so that restoring a backup cannot bring the person back.
    """
    now = timezone.now()
    people = type(person)._base_manager.filter(pk=person.pk)
    held = holds_of(people, today=timezone.localdate(now))
    exercise_right(Right.ERASURE, person=person, actor=actor)
    journal.record(person, now=now)
    erase_people(people, now=now)
    return held


def holds_of(people: QuerySet, *, today: date) -> list[HeldRows]:
    """The rows of `people` a statute still covers today, by model, with the last day of the hold."""
    held = []
    for declaration in declarations():
        if declaration.erasure != Erasure.HOLD:
            continue
        hold = declaration.legal_hold
        keep = [row for row in declaration.rows_of(people) if hold.held_until(row) >= today]
        if keep:
            held.append(
                HeldRows(
                    label=declaration.label,
                    # In the source language: translated when told, in the person's language.
                    statute=untranslated(hold.statute),
                    held_until=max(hold.held_until(row) for row in keep),
                    count=len(keep),
                )
            )
    return held


def holds_for_display(holds: list[dict]) -> list[dict]:
    """An erasure's recorded holds, named in the active language."""
    return [
        {
            "what": apps.get_model(hold["model"])._meta.verbose_name_plural,
            "statute": gettext(hold["statute"]),
            "until": hold["until"],
        }
        for hold in holds
    ]
