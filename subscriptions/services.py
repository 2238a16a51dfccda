"""Booking and cancelling season subscriptions, seating needs under explicit consent, and the
relationship dates the retention rules count from.

A subscription is a contract (Art. 6(1)(b)): it never depends on, and never creates, a marketing
consent. The marketing boxes of the booking form go through the newsletters' double opt-in like any
other signup; the accessibility box records an explicit consent (Art. 9(2)(a)) of its own.
"""

import logging
import secrets
import smtplib
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.core import mail
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import DateField, Exists, Max, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from concerthouse.audit import audit_record
from concerthouse.mail import send_owed
from concerthouse.queue import enqueue_on_commit
from consent.models import Channel, ConsentEvent, NoticeVersion, Purpose
from consent.services import consent_confirm, consent_withdraw
from customers.models import Customer
from customers.services import (
    customer_end_relationship,
    customer_get_or_create,
    customer_start_relationship,
)

from . import accounting, emails
from .models import (
    Order,
    Payment,
    Season,
    SeasonSubscription,
    SeatingNeed,
    Series,
    SourceNotice,
)

logger = logging.getLogger(__name__)

SOURCE_NOTICE_CLAIM_TIMEOUT = timedelta(hours=1)

# Booking references are read out at the counter and typed from emails: no 0/O, 1/I/L.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_reference(length: int = 8) -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(length))


@dataclass(frozen=True)
class Buyer:
    """Who books, as the form gave it; normalised and validated by the customers service."""

    email: str
    first_name: str
    last_name: str
    phone: str
    street_address: str
    postal_code: str
    city: str
    country: str
    preferred_language: str

    @property
    def full_name(self) -> str:
        return " ".join(f"{self.first_name} {self.last_name}".split())

    @property
    def postal_address(self) -> str:
        parts = [self.street_address, f"{self.postal_code} {self.city}".strip(), self.country]
        return ", ".join(" ".join(part.split()) for part in parts if part.strip())

    def contact_fields(self) -> dict:
        return {
            "first_name": self.first_name,
            "last_name": self.last_name,
            "phone": self.phone,
            "street_address": self.street_address,
            "postal_code": self.postal_code,
            "city": self.city,
            "country": self.country,
            "preferred_language": self.preferred_language,
        }


# --- Seats -----------------------------------------------------------------------------------------
def seats_taken(series: Series) -> int:
    taken = series.subscriptions.filter(status=SeasonSubscription.Status.ACTIVE).aggregate(
        seats=Sum("seats")
    )["seats"]
    return taken or 0


def seats_left(series: Series) -> int:
    return max(series.capacity - seats_taken(series), 0)


# --- Booking ---------------------------------------------------------------------------------------
@transaction.atomic
def subscription_book(
    *,
    series: Series,
    seats: int,
    buyer: Buyer,
    channel: str,
    booking_key=None,
    payment_method: str = "",
    seating_needs: list[str] = (),
    seating_notice: NoticeVersion | None = None,
    customer: Customer | None = None,
    actor=None,
) -> SeasonSubscription:
    """Book a season subscription: the person (`customer`, or found by the buyer's address, or
    new), the contract, the order as an accounting record, a payment if one was taken, and seating
    needs only with the explicit consent the person gave to them. Owes the confirmation email.

    `booking_key` is the form's one-time key: the same key books once, so a double click or a
    resent form returns the first booking.
    """
    if booking_key is not None:
        earlier = SeasonSubscription.objects.filter(booking_key=booking_key).first()
        if earlier is not None:
            return earlier
    _check_booking(series=series, seats=seats, channel=channel, actor=actor)
    if seating_needs and seating_notice is None:
        # Art. 9(2)(a): health-related data only with an explicit consent of its own.
        raise ValidationError(
            {
                "seating_consent": [
                    _("To record seating needs we need your explicit consent: tick the box.")
                ]
            }
        )
    source = (
        Customer.Source.BOX_OFFICE
        if channel == Order.Channel.BOX_OFFICE
        else Customer.Source.SUBSCRIPTION_FORM
    )
    if customer is not None:
        person = Customer.objects.get(pk=customer.pk)  # as it is now, not as the page saw it
    else:
        person, _created = customer_get_or_create(
            email=buyer.email, source=source, actor=actor, **buyer.contact_fields()
        )
    if (
        person.is_restricted
        and actor is not None
        and not actor.has_perm("customers.restrict_processing")
    ):
        # Art. 18: staff only store a restricted person's data; the DPO decides. (The person's own
        # booking on the website is their own request, and is taken.)
        raise ValidationError(
            {
                NON_FIELD_ERRORS: [
                    _(
                        "Processing of this person's data is restricted: ask the data protection "
                        "officer."
                    )
                ]
            }
        )
    # Seats are counted under the series' row lock: two last bookings cannot both take the last
    # seats.
    series = Series.objects.select_for_update().select_related("season").get(pk=series.pk)
    if booking_key is not None:
        # Its twin (a double click) held the lock first and booked: that booking is the answer,
        # not "sold out" because it took the last seats. Undo what this call wrote.
        earlier = SeasonSubscription.objects.filter(booking_key=booking_key).first()
        if earlier is not None:
            transaction.set_rollback(True)
            return earlier
    left = seats_left(series)
    if seats > left:
        raise ValidationError(
            {
                "seats": [
                    _("Only %(left)d seats are left in this series.") % {"left": left}
                    if left
                    else _("This series is sold out.")
                ]
            }
        )
    today = timezone.localdate()
    person = customer_start_relationship(customer=person, on=today, actor=actor)
    price = series.price_per_seat * seats
    order = Order.objects.create(
        reference=f"O-{new_reference(10)}",
        customer=person,
        buyer_name=buyer.full_name or person.full_name,
        buyer_address=buyer.postal_address,
        description=order_description(series, seats),
        amount=price,
        currency=series.currency,
        ordered_on=today,
        channel=channel,
        financial_year_ends_on=accounting.financial_year_end(today),
    )
    if payment_method and payment_method != Payment.Method.INVOICE:
        Payment.objects.create(
            order=order,
            method=payment_method,
            amount=price,
            currency=series.currency,
            paid_on=today,
            financial_year_ends_on=accounting.financial_year_end(today),
        )
    try:
        with transaction.atomic():
            subscription = SeasonSubscription.objects.create(
                reference=new_reference(),
                customer=person,
                series=series,
                seats=seats,
                price=price,
                currency=series.currency,
                channel=channel,
                booked_at=timezone.now(),
                ends_on=series.season.ends_on,
                order=order,
                booking_key=booking_key,
                booked_by=actor if actor is not None and actor.is_authenticated else None,
            )
    except IntegrityError:
        # The same form sent twice at once: the other request booked it; undo this one's order.
        earlier = SeasonSubscription.objects.filter(booking_key=booking_key).first()
        if booking_key is None or earlier is None:
            raise
        transaction.set_rollback(True)
        return earlier
    if seating_needs:
        seating_needs_record(
            customer=person,
            season=series.season,
            needs=seating_needs,
            notice=seating_notice,
            channel=Channel.COUNTER_OR_PHONE
            if channel == Order.Channel.BOX_OFFICE
            else Channel.BOOKING_FORM,
            evidence=f"booking {subscription.reference}",
            actor=actor,
        )
    audit_record(
        action="subscription.booked",
        actor=actor,
        target=person,
        detail={"series": series.code, "seats": seats, "channel": channel},
    )
    from .tasks import send_booking_confirmation_task

    enqueue_on_commit(send_booking_confirmation_task, subscription.pk)
    return subscription


def _check_booking(*, series: Series, seats: int, channel: str, actor) -> None:
    if channel == Order.Channel.BOX_OFFICE and not (
        actor is not None and actor.has_perm("subscriptions.book_at_counter")
    ):
        raise PermissionDenied
    if not 1 <= seats <= 20:
        raise ValidationError({"seats": [_("Choose between 1 and 20 seats.")]})
    if series.season.ends_on < timezone.localdate():
        raise ValidationError({"series": [_("This season has ended.")]})
    if channel == Order.Channel.WEB and not series.on_sale:
        raise ValidationError({"series": [_("This series is not on sale.")]})


def order_description(series: Series, seats: int) -> str:
    # Stored in the source language: an accounting record reads the same for every reader.
    return f"Season subscription {series.code}, {seats} seat(s)"


@transaction.atomic
def subscription_cancel(
    *, subscription: SeasonSubscription, actor, refund_method: str = ""
) -> SeasonSubscription:
    """Cancel at the counter; idempotent. A refund of what was paid is recorded as a payment of
    its own (the accounting record is never edited). If it was the person's last contract, the
    customer relationship ends today."""
    if not actor.has_perm("subscriptions.book_at_counter"):
        raise PermissionDenied
    subscription = SeasonSubscription.objects.select_for_update().get(pk=subscription.pk)
    if subscription.status == SeasonSubscription.Status.CANCELLED:
        return subscription
    now = timezone.now()
    subscription.status = SeasonSubscription.Status.CANCELLED
    subscription.cancelled_at = now
    subscription.save(update_fields=["status", "cancelled_at", "updated_at"])
    if refund_method and subscription.order_id:
        paid = order_balance(subscription.order)
        if paid > 0:
            # The house's calendar day, not UTC's: after local midnight it is the next day.
            paid_on = timezone.localdate(now)
            Payment.objects.create(
                order=subscription.order,
                kind=Payment.Kind.REFUND,
                method=refund_method,
                amount=paid,
                currency=subscription.currency,
                paid_on=paid_on,
                financial_year_ends_on=accounting.financial_year_end(paid_on),
            )
    customer = subscription.customer
    if not _has_ongoing_subscription(customer, today=timezone.localdate()):
        customer_end_relationship(customer=customer, on=timezone.localdate(), actor=actor)
    audit_record(
        action="subscription.cancelled",
        actor=actor,
        target=customer,
        detail={"series": subscription.series.code, "refunded": bool(refund_method)},
    )
    return subscription


def order_balance(order: Order) -> Decimal:
    """Paid minus refunded."""
    totals = dict(order.payments.values_list("kind").annotate(total=Sum("amount")).order_by("kind"))
    return totals.get(Payment.Kind.PAYMENT, Decimal(0)) - totals.get(
        Payment.Kind.REFUND, Decimal(0)
    )


def _has_ongoing_subscription(customer: Customer, *, today) -> bool:
    return customer.season_subscriptions.filter(
        status=SeasonSubscription.Status.ACTIVE, ends_on__gte=today
    ).exists()


def relationships_end_due(*, today=None) -> int:
    """End the relationship of every customer whose last subscription is over, run daily by the
    sweep: on the last day of the latest season, or today if every subscription was cancelled.
    Set-based: one UPDATE, whatever the number of people."""
    today = today or timezone.localdate()
    subscriptions = SeasonSubscription.objects.filter(customer=OuterRef("pk"))
    active = subscriptions.filter(status=SeasonSubscription.Status.ACTIVE)
    last_end = active.values("customer").annotate(last=Max("ends_on")).values("last")
    return (
        Customer.objects.filter(kind=Customer.Kind.CUSTOMER, relationship_ended_on__isnull=True)
        .filter(Exists(subscriptions), ~Exists(active.filter(ends_on__gte=today)))
        .update(
            relationship_ended_on=Coalesce(
                Subquery(last_end), Value(today), output_field=DateField()
            )
        )
    )


# --- Seating needs (Art. 9) ------------------------------------------------------------------------
def accessibility_purpose() -> Purpose:
    return Purpose.objects.get(kind=Purpose.Kind.ACCESSIBILITY)


@transaction.atomic
def seating_needs_record(
    *,
    customer: Customer,
    season: Season,
    needs: list[str],
    notice: NoticeVersion,
    channel: str,
    evidence: str = "",
    actor=None,
) -> SeatingNeed:
    """Record a person's seating needs for a season, with the explicit consent they gave to it.

    Without the consent's ledger entry the row cannot exist (a NOT NULL foreign key); the needs
    are codes from a fixed list, never free text.
    """
    if actor is not None and not actor.has_perm("customers.view_health_data"):
        raise PermissionDenied
    valid = set(SeatingNeed.Need.values)
    chosen = [code for code in SeatingNeed.Need.values if code in set(needs)]
    if not chosen or set(needs) - valid:
        raise ValidationError({"seating_needs": [_("Choose seating needs from the list.")]})
    if notice is None or notice.purpose.kind != Purpose.Kind.ACCESSIBILITY:
        raise ValidationError(
            {"seating_consent": [_("Seating needs can only be stored with explicit consent.")]}
        )
    consent_confirm(
        customer=customer,
        purpose=notice.purpose,
        notice=notice,
        channel=channel,
        evidence=evidence,
        actor=actor,
    )
    # A consent already given (an earlier season) writes no new event: the standing one counts.
    event = (
        ConsentEvent.objects.filter(
            customer=customer, purpose=notice.purpose, action=ConsentEvent.Action.CONFIRMED
        )
        .order_by("-at", "-pk")
        .first()
    )
    seating, _created = SeatingNeed.objects.update_or_create(
        customer=customer,
        season=season,
        defaults={"needs": ",".join(chosen), "consent_event": event},
    )
    audit_record(
        action="subscription.seating_needs_recorded",
        actor=actor,
        target=customer,
        detail={"fields": ["needs"]},
    )
    return seating


@transaction.atomic
def seating_consent_withdraw(*, customer: Customer, channel: str, actor=None) -> int:
    """Art. 7(3), 9: withdrawing the explicit consent deletes every seating need it allowed, as
    every withdrawal of it does (subscriptions/personal_data.py registers the deletion with the
    consent app). Returns how many seasons' needs went."""
    if actor is not None and not actor.has_perm("customers.view_health_data"):
        raise PermissionDenied
    held = SeatingNeed.objects.filter(customer=customer).count()
    withdrawn = consent_withdraw(
        customer=customer, purpose=accessibility_purpose(), channel=channel, actor=actor
    )
    return held if withdrawn is not None else 0


# --- Emails the database says are owed -------------------------------------------------------------
def booking_confirmation_send(*, subscription_id: int) -> bool:
    """Send the confirmation a booking owes, once (a task that runs twice sends one email); a
    failed send is left to the sweep (`booking_confirmations_owed`). An undeliverable address gets
    nothing; the sweep sends it, within the week, if the person's address takes mail again."""
    owed = SeasonSubscription.objects.select_related("customer", "series__season", "order").filter(
        pk=subscription_id,
        confirmation_sent_at__isnull=True,
        customer__email_undeliverable_at__isnull=True,
    )
    return send_owed(owed, sent_field="confirmation_sent_at", message=emails.booking_confirmation)


def booking_confirmations_owed():
    """Confirmations a lost task never sent: booked in the last week, at least a minute ago."""
    now = timezone.now()
    return SeasonSubscription.objects.filter(
        confirmation_sent_at__isnull=True,
        booked_at__lt=now - timedelta(minutes=1),
        booked_at__gte=now - timedelta(days=7),
    )


def source_notices_send(*, batch_size: int = 200) -> int:
    """Send every owed Art. 14 notice, a batch per SMTP connection; returns how many were sent."""
    sent = 0
    while True:
        with transaction.atomic():
            stale = timezone.now() - SOURCE_NOTICE_CLAIM_TIMEOUT
            # An undeliverable address's notice stays owed until the address takes mail again.
            batch = list(
                SourceNotice.objects.filter(
                    sent_at__isnull=True, customer__email_undeliverable_at__isnull=True
                )
                .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale))
                .select_related("customer")
                .order_by("pk")
                .select_for_update(skip_locked=True, of=("self",))[:batch_size]
            )
            if not batch:
                return sent
            claimed_at = timezone.now()
            SourceNotice.objects.filter(pk__in=[n.pk for n in batch]).update(claimed_at=claimed_at)
        done, failed = [], []
        with mail.get_connection() as connection:
            for notice in batch:
                message = emails.source_notice(notice)
                message.connection = connection
                try:
                    message.send()
                except smtplib.SMTPRecipientsRefused:
                    # This address only: the others go on. It stays claimed, so it is tried
                    # again after the claim times out, not at once in a loop. (No traceback:
                    # the error's text names the address.)
                    logger.warning("Art. 14 notice %s: recipient refused", notice.pk)
                except Exception as error:
                    logger.warning("Art. 14 notice %s failed: %s", notice.pk, type(error).__name__)
                    failed.append(notice.pk)
                else:
                    done.append(notice.pk)
        SourceNotice.objects.filter(pk__in=done).update(sent_at=timezone.now())
        SourceNotice.objects.filter(pk__in=failed).update(claimed_at=None)
        sent += len(done)
        if failed:
            return sent  # the SMTP server is unwell: the sweep tries again later
