"""The audit log's one way in."""

from collections.abc import Iterable

from django.db.models import Model
from django.utils import translation

from .bulk import copy_insert
from .models import AuditEntry
from .roles import purpose_of


def audit_record(
    *,
    action: str,
    actor=None,
    target: Model | None = None,
    purpose: str = "",
    detail: dict | None = None,
) -> AuditEntry:
    """Append an entry. `detail` may name fields and count rows; it never holds their values.

    The purpose defaults to the one the actor's role serves, so that every entry can later tell the
    person why their data was looked at (Art. 15(1)(a)) without naming the member of staff.
    """
    if actor is not None and not actor.is_authenticated:
        actor = None
    return AuditEntry.objects.create(
        action=action,
        actor=actor,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=target.public_id if target is not None else None,
        purpose=untranslated(purpose or (purpose_of(actor) if actor is not None else "")),
        detail=detail or {},
    )


def audit_record_many(
    *, action: str, actor=None, entries: Iterable[tuple[Model, dict]], purpose: str = ""
) -> list[AuditEntry]:
    """What `audit_record` appends, for each (target, detail) of `entries`, in one insert: for a
    service that changes many people at once (an import). The same rules: `detail` names fields
    and counts rows, never their values."""
    entries = list(entries)
    if not entries:
        return []
    if actor is not None and not actor.is_authenticated:
        actor = None
    purpose = untranslated(purpose or (purpose_of(actor) if actor is not None else ""))
    added = [
        AuditEntry(
            action=action,
            actor=actor,
            target_type=target._meta.label_lower,
            target_id=target.public_id,
            purpose=purpose,
            detail=detail,
        )
        for target, detail in entries
    ]
    copy_insert(added)
    return added


def untranslated(text) -> str:
    """Text as stored: in the source language whatever the staff member's, and translated when
    shown (the access report gives it in the person's language)."""
    with translation.override(None):
        return str(text)
