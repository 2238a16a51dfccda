"""The audit log's one way in."""

from collections.abc import Iterable

from django.db.models import Model
from django.utils import translation
from django.utils.translation import gettext_lazy as _

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


# What an entry about a person means to that person: the access report tells when staff looked at
# or changed their data, what they did and why, never who (Art. 15(1)(a)).
ACTIONS_IN_WORDS = {
    "customer.viewed": _("Your record was opened"),
    "customer.created": _("Your record was created"),
    "customer.changed": _("Your contact details were changed"),
    "customer.identifiers_changed": _(
        "Your national identity number or bank account was recorded or changed"
    ),
    "customer.identifier_revealed": _(
        "Your national identity number or bank account was shown in full"
    ),
    "customer.restricted": _("Processing of your data was restricted"),
    "customer.restriction_lift_announced": _(
        "We decided to tell you that your restriction will be lifted"
    ),
    "customer.restriction_lifted": _("The restriction of your data was lifted"),
    "customer.marketing_objection_recorded": _("Your objection to direct marketing was recorded"),
    "customer.marketing_objection_withdrawn": _(
        "Your objection to direct marketing was lifted by your own confirmed opt-in"
    ),
    "customer.relationship_started": _("Your customer relationship started"),
    "customer.relationship_ended": _("Your customer relationship ended"),
    "subscription.booked": _("A season subscription was booked for you"),
    "subscription.cancelled": _("A season subscription of yours was cancelled"),
    "subscription.seating_needs_recorded": _("Your seating needs were recorded"),
    "subscription.seating_needs_viewed": _("Your seating needs were looked at"),
    "subscription.seating_needs_deleted": _("Your seating needs were deleted"),
    "newsletter.signup_confirmed": _("Your newsletter signup was confirmed"),
}


def action_in_words(action: str):
    """The action of an audit entry in words, in the active language."""
    return ACTIONS_IN_WORDS.get(action, _("Your data was handled"))
