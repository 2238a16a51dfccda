"""Every change of consent goes through here: a ledger event and the current state, together."""

from collections.abc import Callable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer

from .models import MARKETING_KINDS, Consent, ConsentEvent, NoticeVersion, Purpose

# Which states an action moves from, and to which state. Anything else is a repeat (a double click,
# a second signup, a retried task) and writes nothing: the ledger records changes, not clicks.
_TRANSITIONS = {
    ConsentEvent.Action.GIVEN: ({None, Consent.State.WITHDRAWN}, Consent.State.PENDING),
    ConsentEvent.Action.CONFIRMED: (
        {None, Consent.State.PENDING, Consent.State.WITHDRAWN},
        Consent.State.CONFIRMED,
    ),
    ConsentEvent.Action.WITHDRAWN: (
        {Consent.State.PENDING, Consent.State.CONFIRMED},
        Consent.State.WITHDRAWN,
    ),
}


# What withdrawing a consent of a kind also removes, registered by the app that holds it: seating
# needs exist only under the accessibility consent (subscriptions registers their deletion). Called
# by every withdrawal, in its transaction, so that no path can withdraw and leave the data behind.
_on_withdrawal: dict[str, list[Callable[..., None]]] = {}


def on_withdrawal(kind: str, handler: Callable[..., None]) -> None:
    """Run `handler(customer=..., actor=...)` whenever a consent of `kind` is withdrawn."""
    handlers = _on_withdrawal.setdefault(kind, [])
    if handler not in handlers:
        handlers.append(handler)


def _record(
    *,
    customer: Customer,
    purpose: Purpose,
    action: str,
    channel: str,
    notice: NoticeVersion | None = None,
    evidence: str = "",
    actor=None,
    at: datetime | None = None,
) -> ConsentEvent | None:
    """Append one ledger event and move the current state with it; None when nothing changed.

    The caller holds the person's row lock, so two requests for the same person (a double click)
    are serialised and the second one sees the first one's state.
    """
    current = Consent.objects.filter(customer=customer, purpose=purpose).first()
    sources, target = _TRANSITIONS[action]
    if (current.state if current else None) not in sources:
        return None
    if notice is None:
        # Confirming or withdrawing refers to the wording the person was shown when giving it.
        if current is None:
            raise ValidationError(_("Consent needs the notice text the person was shown."))
        notice = current.notice
    if notice.purpose_id != purpose.pk:
        raise ValueError("the notice belongs to another purpose")
    now = at or timezone.now()
    event = ConsentEvent.objects.create(
        customer=customer,
        purpose=purpose,
        action=action,
        notice=notice,
        channel=channel,
        at=now,
        evidence=evidence,
        actor=actor if actor is not None and actor.is_authenticated else None,
    )
    state = {
        "state": target,
        "notice": notice,
        "changed_at": now,
        "confirmed_at": now if target == Consent.State.CONFIRMED else None,
    }
    # The row read above is still the row: the caller's lock on the person keeps any other change
    # of their consents out until this transaction ends (update_or_create would read it again,
    # locked, inside two savepoints: four more statements on every signup).
    if current is None:
        Consent.objects.create(customer=customer, purpose=purpose, **state)
    else:
        Consent.objects.filter(pk=current.pk).update(**state)
    if action == ConsentEvent.Action.WITHDRAWN:
        for handler in _on_withdrawal.get(purpose.kind, []):
            handler(customer=customer, actor=event.actor)
    return event


def _locked(customer: Customer) -> Customer:
    return Customer.objects.select_for_update().get(pk=customer.pk)


@transaction.atomic
def consent_give(
    *,
    customer: Customer,
    purpose: Purpose,
    notice: NoticeVersion,
    channel: str,
    evidence: str = "",
    actor=None,
    at: datetime | None = None,
) -> ConsentEvent | None:
    """Record a consent that counts only once confirmed (double opt-in), given `at` (when the
    person sent the form, if that was earlier than now)."""
    return _record(
        customer=_locked(customer),
        purpose=purpose,
        action=ConsentEvent.Action.GIVEN,
        channel=channel,
        notice=notice,
        evidence=evidence,
        actor=actor,
        at=at,
    )


@transaction.atomic
def consent_confirm(
    *,
    customer: Customer,
    purpose: Purpose,
    channel: str,
    notice: NoticeVersion | None = None,
    evidence: str = "",
    actor=None,
) -> ConsentEvent | None:
    """Confirm a pending consent, or record one given where the person's identity is already
    established (the preference centre reached from their own inbox, the counter)."""
    return _record(
        customer=_locked(customer),
        purpose=purpose,
        action=ConsentEvent.Action.CONFIRMED,
        channel=channel,
        notice=notice,
        evidence=evidence,
        actor=actor,
    )


@transaction.atomic
def consent_withdraw(
    *, customer: Customer, purpose: Purpose, channel: str, evidence: str = "", actor=None
) -> ConsentEvent | None:
    """Art. 7(3): withdrawing is as easy as giving, needs no reason and is idempotent."""
    return _record(
        customer=_locked(customer),
        purpose=purpose,
        action=ConsentEvent.Action.WITHDRAWN,
        channel=channel,
        evidence=evidence,
        actor=actor,
    )


@transaction.atomic
def consents_withdraw_marketing(
    *, customer: Customer, channel: str, evidence: str = "", actor=None
) -> list[ConsentEvent]:
    """Withdraw every marketing consent at once: newsletters, offers, surveys, ad matching and
    open tracking. Accessibility data serves the season subscription and is not touched."""
    return _withdraw_every(
        customer=customer,
        kinds=MARKETING_KINDS,
        channel=channel,
        evidence=evidence,
        actor=actor,
    )


@transaction.atomic
def consents_withdraw_all(
    *, customer: Customer, channel: str, evidence: str = "", actor=None
) -> list[ConsentEvent]:
    """Withdraw every consent the person holds, of every kind, accessibility data included (and
    with it the data it allowed). The events written say what was withdrawn: none if nothing was."""
    return _withdraw_every(
        customer=customer, kinds=None, channel=channel, evidence=evidence, actor=actor
    )


def _withdraw_every(*, customer, kinds, channel, evidence, actor) -> list[ConsentEvent]:
    customer = _locked(customer)
    active = Consent.objects.filter(
        customer=customer, state__in=[Consent.State.PENDING, Consent.State.CONFIRMED]
    ).select_related("purpose")
    if kinds is not None:
        active = active.filter(purpose__kind__in=kinds)
    events = [
        _record(
            customer=customer,
            purpose=consent.purpose,
            action=ConsentEvent.Action.WITHDRAWN,
            channel=channel,
            evidence=evidence,
            actor=actor,
        )
        for consent in active.order_by("purpose__position", "purpose__name")
    ]
    return [event for event in events if event is not None]
