"""Newsletter signup with double opt-in, the preference centre, unsubscribe and the suppression list.

Who may receive marketing email is decided by the consent ledger (consent), the person's own record
(restriction, objection: customers) and the suppression list here, and by nothing else.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from concerthouse.audit import audit_record
from concerthouse.email_address import normalise_email
from concerthouse.encryption import blind_index
from concerthouse.mail import send_owed
from concerthouse.privacy.person import Right, exercise_right
from concerthouse.queue import enqueue_coalesced_on_commit, enqueue_on_commit
from consent.models import (
    EMAIL_KINDS,
    MARKETING_KINDS,
    Channel,
    Consent,
    ConsentEvent,
    NoticeVersion,
    Purpose,
)
from consent.services import (
    consent_confirm,
    consent_give,
    consent_withdraw,
    consents_withdraw_all,
    consents_withdraw_marketing,
)
from customers.models import Customer
from customers.services import (
    customer_get_or_create,
    customer_mark_deliverable,
    customer_withdraw_objection,
    customers_mark_undeliverable,
)

from . import emails
from .models import Delivery, Signup, SignupIntake, Suppression

# A second signup inside this window (a double click, an impatient reload) does not send a second
# confirmation email; after it, a repeated signup resends the link.
RESEND_AFTER = timedelta(minutes=2)

logger = logging.getLogger(__name__)


# --- Suppression list ----------------------------------------------------------------------------
def suppression_hash(email: str) -> str:
    return blind_index(normalise_email(email), purpose="suppression")


def is_suppressed(email: str) -> bool:
    return Suppression.objects.filter(email_hash=suppression_hash(email)).exists()


def suppression_add(*, email: str, reason: str) -> None:
    """Idempotent: the first reason recorded stays."""
    Suppression.objects.bulk_create(
        [Suppression(email_hash=suppression_hash(email), reason=reason)], ignore_conflicts=True
    )


def suppression_lift(*, email: str) -> None:
    """Only the address's owner lifts it, by opting in again through a link sent to that address."""
    Suppression.objects.filter(email_hash=suppression_hash(email)).delete()


def _suppress_if_unsubscribed(customer: Customer) -> None:
    """An address whose owner is left with no email consent at all goes on the suppression list."""
    still_subscribed = customer.consents.filter(
        purpose__kind__in=EMAIL_KINDS,
        state__in=[Consent.State.PENDING, Consent.State.CONFIRMED],
    ).exists()
    if not still_subscribed:
        suppression_add(email=customer.email, reason=Suppression.Reason.UNSUBSCRIBED)


# --- Signup and double opt-in --------------------------------------------------------------------
@transaction.atomic
def newsletter_signup(
    *,
    email: str,
    language: str,
    notices: list[NoticeVersion],
    first_name: str = "",
    last_name: str = "",
    channel: str = Channel.WEB_SIGNUP,
    at: datetime | None = None,
    queue_confirmation: bool = True,
) -> Signup:
    """Store the pending consents and owe a confirmation email; nothing counts until confirmed.

    `notices` are the exact wordings whose boxes the person ticked (lists and, optionally, open
    tracking), `at` when they sent them if that was before now (a received signup recorded later).
    The same call for a new, a pending and an already confirmed address, so that the page answers
    all three alike. A repeat reuses the open signup and resends its link. Without
    `queue_confirmation` the caller sends the email owed (`signup_send_confirmation`) once its
    transaction has committed; the sweep sends it if the caller never does.
    """
    if not any(notice.purpose.kind in EMAIL_KINDS for notice in notices):
        raise ValidationError({"notices": [_("Choose at least one newsletter.")]})
    email = normalise_email(email)
    first_name, last_name = " ".join(first_name.split()), " ".join(last_name.split())
    now = at or timezone.now()
    # Locked (a known person) or new (inserted here): either way a double click waits for this
    # transaction, and a new person has no open signup yet to look for.
    person, created = customer_get_or_create(
        email=email,
        source=Customer.Source.WEB_SIGNUP,
        lock=True,
        first_name=first_name,
        last_name=last_name,
        preferred_language=language,
    )
    signup = (
        None
        if created
        else Signup.objects.filter(customer=person, confirmed_at__isnull=True).first()
    )
    if signup is None:
        signup = Signup.objects.create(
            customer=person,
            language=language,
            first_name=first_name,
            last_name=last_name,
            confirmation_requested_at=now,
        )
    else:
        signup.language, signup.first_name, signup.last_name = language, first_name, last_name
        # Measured from the last request, not the last send: two requests at once (the second
        # waited for the first's lock) must not both ask for an email before either was sent.
        if now - signup.confirmation_requested_at >= RESEND_AFTER:
            signup.confirmation_requested_at = now
        signup.save()
    if signup.confirmation_requested_at == now and not created:
        # A new request for the link is contact: the retention of unconfirmed signups (and of the
        # person they alone brought in) counts from it. (A new person was created with it.)
        Customer.objects.filter(pk=person.pk).update(last_activity_at=now)
    for notice in notices:
        consent_give(
            customer=person,
            purpose=notice.purpose,
            notice=notice,
            channel=channel,
            evidence=f"signup {signup.public_id}",
            at=now,
        )
    if queue_confirmation and signup.owes_confirmation_email:
        from .tasks import send_signup_confirmation_task

        enqueue_on_commit(send_signup_confirmation_task, signup.pk)
    return signup


def signup_receive(
    *,
    email: str,
    language: str,
    notice_ids: list[int],
    first_name: str = "",
    last_name: str = "",
) -> None:
    """What the public signup form does with a valid submission: store it as sent, in one row,
    and have it recorded (`newsletter_signup`) within seconds by a task.

    `notice_ids` are the notice versions whose boxes were ticked, as the form checked them; the
    recording checks them again, against the lists still offered then. The page's answer never
    depended on what the register holds, so nothing is lost by answering before the person is
    looked up; what the person sent is in the database before the answer, so a broker that is down
    delays the confirmation email and loses nothing.
    """
    if not notice_ids:
        raise ValidationError({"notices": [_("Choose at least one newsletter.")]})
    SignupIntake.objects.create(
        email=normalise_email(email),
        language=language,
        first_name=first_name,
        last_name=last_name,
        notice_ids=list(notice_ids),
    )
    from .tasks import process_signup_intakes_task

    enqueue_coalesced_on_commit(
        process_signup_intakes_task, seconds=settings.NEWSLETTER_INTAKE_DELAY_SECONDS
    )


def signup_intakes_process(*, batch_size: int | None = None) -> int:
    """Turn the signups the form received into signups: the person, their pending consents given
    at the moment they sent the form, and the confirmation email owed. Returns how many were done.

    In batches of `batch_size`, each its own transaction, oldest first. Rows are claimed with
    SKIP LOCKED, so that several workers (a task and the sweep) share the work and never do an
    intake twice; each is deleted in the transaction that processed it. The confirmation emails a
    batch owes are sent once it has committed. An intake that fails is left for the next run
    (logged by its id) and purged with the unconfirmed signups if it never succeeds; one the
    service refuses (its lists were all withdrawn since) is dropped.
    """
    batch_size = batch_size or settings.NEWSLETTER_INTAKE_BATCH_SIZE
    processed, after = 0, 0
    while True:
        owed = []
        with transaction.atomic():
            batch = list(
                SignupIntake.objects.select_for_update(skip_locked=True)
                .filter(pk__gt=after)
                .order_by("pk")[:batch_size]
            )
            if not batch:
                return processed
            after = batch[-1].pk
            # Still offered: a list withdrawn since the form was sent takes nobody new.
            notices = (
                NoticeVersion.objects.filter(purpose__is_active=True)
                .select_related("purpose")
                .in_bulk({pk for intake in batch for pk in intake.notice_ids})
            )
            done = []
            for intake in batch:
                try:
                    with transaction.atomic():
                        signup = newsletter_signup(
                            email=intake.email,
                            language=intake.language,
                            notices=[notices[pk] for pk in intake.notice_ids if pk in notices],
                            first_name=intake.first_name,
                            last_name=intake.last_name,
                            at=intake.received_at,
                            queue_confirmation=False,
                        )
                except ValidationError:
                    pass  # nothing left to sign up for
                except Exception as error:
                    # Its savepoint is rolled back and the rest of the batch goes on; no personal
                    # data in the line, only which row failed and how.
                    logger.error("signup intake %s failed: %s", intake.pk, type(error).__name__)
                    continue
                else:
                    if signup.owes_confirmation_email:
                        owed.append(signup.pk)
                done.append(intake.pk)
            SignupIntake.objects.filter(pk__in=done).delete()
            processed += len(done)
        # Sent here, after the commit, rather than by a task a signup: a rush of signups would
        # otherwise queue a message for each. Claimed one by one, so a task or the sweep sending
        # the same email at once sends it only once; one that fails is left to the sweep.
        for signup_id in owed:
            try:
                signup_send_confirmation(signup_id=signup_id)
            except Exception as error:
                logger.warning(
                    "confirmation of signup %s not sent: %s", signup_id, type(error).__name__
                )


def signup_send_confirmation(*, signup_id: int) -> bool:
    """Send the confirmation email a signup owes; False when it owes none (a task run twice, or a
    signup confirmed meanwhile). A failed send is left to the sweep (`signups_owing_confirmation`).
    """
    owed = Signup.objects.select_related("customer").filter(
        Q(confirmation_sent_at__isnull=True)
        | Q(confirmation_sent_at__lt=F("confirmation_requested_at")),
        pk=signup_id,
        confirmed_at__isnull=True,
    )
    return send_owed(owed, sent_field="confirmation_sent_at", message=emails.signup_confirmation)


def signups_owing_confirmation():
    """Signups whose confirmation email a lost task or a broker that was down never sent; the
    minute of grace leaves the freshly queued ones to their own task."""
    grace = timezone.now() - timedelta(minutes=1)
    expiry = timezone.now() - timedelta(days=settings.NEWSLETTER_CONFIRMATION_DAYS)
    return Signup.objects.filter(
        Q(confirmation_sent_at__isnull=True)
        | Q(confirmation_sent_at__lt=F("confirmation_requested_at")),
        confirmed_at__isnull=True,
        confirmation_requested_at__lt=grace,
        confirmation_requested_at__gt=expiry,
    )


@transaction.atomic
def signup_confirm(*, signup: Signup) -> Signup:
    """The link was clicked: the pending consents count from now. Idempotent."""
    signup = Signup.objects.select_for_update().select_related("customer").get(pk=signup.pk)
    if signup.confirmed_at is not None:
        return signup
    person = Customer.objects.select_for_update().get(pk=signup.customer_id)
    pending = list(person.consents.filter(state=Consent.State.PENDING).select_related("purpose"))
    evidence = f"signup {signup.public_id} confirmed by link"
    # The way back after an objection to direct marketing (Art. 21(3)): a fresh, explicit opt-in
    # confirmed from the person's own address, whether asked for in the preference centre or on
    # the signup form. The ledger says it lifted the objection.
    lifts_objection = person.objects_to_marketing and any(
        consent.purpose.kind in MARKETING_KINDS for consent in pending
    )
    if lifts_objection:
        evidence += f"; lifts the objection of {person.marketing_objection_at:%Y-%m-%d}"
    for consent in pending:
        consent_confirm(
            customer=person, purpose=consent.purpose, channel=Channel.WEB_SIGNUP, evidence=evidence
        )
    if lifts_objection:
        person = customer_withdraw_objection(customer=person, evidence=f"signup {signup.public_id}")
    # The owner of the address has spoken: names they typed fill gaps, their language is theirs.
    changed = ["preferred_language", "last_activity_at", "updated_at"]
    person.preferred_language = signup.language
    person.last_activity_at = timezone.now()
    for name in ("first_name", "last_name"):
        if not getattr(person, name) and getattr(signup, name):
            setattr(person, name, getattr(signup, name))
            changed.append(name)
    person.save(update_fields=changed)
    suppression_lift(email=person.email)
    # The confirmation link reached the address: it takes mail again, whatever bounced before.
    customer_mark_deliverable(customer=person)
    signup.confirmed_at = timezone.now()
    signup.save(update_fields=["confirmed_at"])
    audit_record(action="newsletter.signup_confirmed", target=person)
    return signup


# --- Preference centre and unsubscribe -----------------------------------------------------------
def preferences_purposes(customer: Customer):
    """The consents the preference centre lists: every marketing purpose (none after an objection:
    only a confirmed opt-in starts marketing again) and every other consent the person holds, such
    as the explicit consent to keep their seating needs."""
    held = Q(
        consents__customer=customer,
        consents__state__in=[Consent.State.PENDING, Consent.State.CONFIRMED],
    )
    if customer.objects_to_marketing:
        return Purpose.objects.filter(held).exclude(kind__in=MARKETING_KINDS).distinct()
    return Purpose.objects.filter(Q(kind__in=MARKETING_KINDS) | held).distinct()


@transaction.atomic
def preferences_update(*, customer: Customer, chosen: list[NoticeVersion]) -> list[ConsentEvent]:
    """Make the person's consents on the page exactly the ones they ticked, on the wording shown;
    returns what changed, so that the page says it and nothing else.

    The link came to their inbox, so a marketing box ticked here is consent from the address's
    owner and counts at once; a box left empty withdraws, whatever the consent (withdrawing the
    accessibility consent deletes the seating needs with it). A consent of another kind is given
    where its data is recorded (the counter, the booking form), never here. Repeating the same
    choice changes nothing.
    """
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    wanted = {notice.purpose_id: notice for notice in chosen}
    on_page = list(preferences_purposes(customer))
    if set(wanted) - {purpose.pk for purpose in on_page} or any(
        notice.purpose.kind not in MARKETING_KINDS
        and not customer.consents.filter(
            purpose_id=notice.purpose_id, state=Consent.State.CONFIRMED
        ).exists()
        for notice in chosen
    ):
        raise ValidationError(_("That choice is no longer offered; please try again."))
    states = {c.purpose_id: c.state for c in customer.consents.all()}
    evidence = "preference-centre link"
    events = []
    for purpose in on_page:
        state = states.get(purpose.pk)
        if purpose.pk in wanted and state != Consent.State.CONFIRMED:
            events.append(
                consent_confirm(
                    customer=customer,
                    purpose=purpose,
                    notice=wanted[purpose.pk],
                    channel=Channel.PREFERENCE_CENTRE,
                    evidence=evidence,
                )
            )
        elif purpose.pk not in wanted and state in (Consent.State.PENDING, Consent.State.CONFIRMED):
            events.append(
                consent_withdraw(
                    customer=customer,
                    purpose=purpose,
                    channel=Channel.PREFERENCE_CENTRE,
                    evidence=evidence,
                )
            )
    if any(notice.purpose.kind in EMAIL_KINDS for notice in chosen):
        suppression_lift(email=customer.email)
    else:
        _suppress_if_unsubscribed(customer)
    return [event for event in events if event is not None]


@transaction.atomic
def preferences_withdraw_all(
    *, customer: Customer, channel: str = Channel.PREFERENCE_CENTRE
) -> list[ConsentEvent]:
    """Art. 7(3): every consent on the page, of every kind, in one click; returns what was
    withdrawn (nothing, if nothing was held)."""
    events = consents_withdraw_all(
        customer=customer, channel=channel, evidence="preference-centre link"
    )
    suppression_add(email=customer.email, reason=Suppression.Reason.UNSUBSCRIBED)
    return events


@transaction.atomic
def preferences_object(*, customer: Customer) -> list[ConsentEvent]:
    """Art. 21(2)-(3): an objection to direct marketing is absolute and ends all of it at once.
    The same right as through a privacy request or at the counter: one path, every app's part.
    Returns the consents it withdrew, so that the page can say which."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    before = customer.consent_events.aggregate(last=Max("pk"))["last"] or 0
    exercise_right(
        Right.OBJECTION,
        person=customer,
        channel=Customer.ObjectionChannel.PREFERENCE_CENTRE,
    )
    return list(
        customer.consent_events.filter(pk__gt=before, action=ConsentEvent.Action.WITHDRAWN)
        .select_related("purpose")
        .order_by("pk")
    )


def preferences_opt_in_again(
    *, customer: Customer, notices: list[NoticeVersion], language: str
) -> Signup:
    """The one way back after an objection: the person chooses again, and nothing starts until
    they confirm through the link sent to their own address (signup_confirm then lifts the
    objection). Until then the objection stands and nothing is sent."""
    notices = [notice for notice in notices if notice.purpose.kind in MARKETING_KINDS]
    return newsletter_signup(
        email=customer.email,
        language=language,
        notices=notices,
        channel=Channel.PREFERENCE_CENTRE,
    )


@transaction.atomic
def unsubscribe(
    *,
    customer: Customer,
    purpose: Purpose,
    channel: str = Channel.ONE_CLICK_UNSUBSCRIBE,
    evidence: str = "List-Unsubscribe",
) -> None:
    """Unsubscribe from one list: RFC 8058's one click, or a mail to the List-Unsubscribe mailto.
    Idempotent: a repeat changes nothing."""
    consent_withdraw(customer=customer, purpose=purpose, channel=channel, evidence=evidence)
    _suppress_if_unsubscribed(customer)


# --- Mail that comes back (newsletters/inbound.py) ------------------------------------------------
@transaction.atomic
def complaint_record(*, customer: Customer, evidence: str, delivery_id: int | None = None) -> None:
    """A spam complaint (RFC 5965) is the person saying stop: every marketing consent withdrawn and
    the address suppressed, as an unsubscribe by the person, with the report as the evidence (a
    hash of it, never an address). Idempotent."""
    if delivery_id is not None:
        Delivery.objects.filter(pk=delivery_id, complained_at__isnull=True).update(
            complained_at=timezone.now()
        )
    consents_withdraw_marketing(
        customer=customer, channel=Channel.SPAM_COMPLAINT, evidence=evidence
    )
    suppression_add(email=customer.email, reason=Suppression.Reason.COMPLAINED)
    audit_record(action="newsletter.complaint_received", target=customer)


@transaction.atomic
def bounces_record(bounces) -> dict[str, int]:
    """Record bounces, set-wise: `bounces` are (delivery id, Delivery.Bounce, status, diagnostic).

    Each is kept on its delivery (a hard bounce overrides a soft one, never the reverse). A hard
    bounce marks the address undeliverable at once; soft ones once NEWSLETTER_SOFT_BOUNCE_LIMIT
    deliveries to the person bounced softly within NEWSLETTER_SOFT_BOUNCE_DAYS. Undeliverable is
    neither a withdrawal of consent nor a suppression. Returns how many deliveries were recorded
    and addresses newly marked.
    """
    bounces = list(bounces)
    deliveries = Delivery.objects.select_for_update().in_bulk([b[0] for b in bounces])
    now, changed = timezone.now(), {}
    for delivery_id, kind, status, diagnostic in bounces:
        delivery = changed.get(delivery_id) or deliveries.get(delivery_id)
        if delivery is None or delivery.bounce == Delivery.Bounce.HARD:
            continue
        delivery.bounce, delivery.bounced_at = kind, now
        delivery.bounce_status, delivery.bounce_diagnostic = status[:16], diagnostic[:500]
        changed[delivery_id] = delivery
    Delivery.objects.bulk_update(
        changed.values(),
        ["bounce", "bounce_status", "bounce_diagnostic", "bounced_at"],
        batch_size=500,
    )
    hard = {d.customer_id for d in changed.values() if d.bounce == Delivery.Bounce.HARD}
    soft = {d.customer_id for d in changed.values() if d.bounce == Delivery.Bounce.SOFT} - hard
    window = now - timedelta(days=settings.NEWSLETTER_SOFT_BOUNCE_DAYS)
    too_many = (
        Delivery.objects.filter(
            customer__in=soft, bounce=Delivery.Bounce.SOFT, bounced_at__gte=window
        )
        .values("customer")
        .annotate(n=Count("pk"))
        .filter(n__gte=settings.NEWSLETTER_SOFT_BOUNCE_LIMIT)
        .values_list("customer", flat=True)
    )
    marked = customers_mark_undeliverable(
        customer_ids=hard, reason=Customer.UndeliverableReason.HARD_BOUNCE
    )
    marked += customers_mark_undeliverable(
        customer_ids=list(too_many), reason=Customer.UndeliverableReason.SOFT_BOUNCES
    )
    return {"recorded": len(changed), "marked": marked}


def person_bounced_hard(*, customer: Customer) -> int:
    """A hard bounce of mail that was no campaign's (matched to the person for certain by the
    return path, concerthouse/return_path.py): the address is marked undeliverable."""
    return customers_mark_undeliverable(
        customer_ids=[customer.pk], reason=Customer.UndeliverableReason.HARD_BOUNCE
    )


def preference_link_request(*, email: str, language: str) -> None:
    """Queue a fresh preference-centre link for an address we hold; silently nothing otherwise, so
    that the page (and its timing) is the same for a known and an unknown address."""
    from .tasks import send_preference_link_task

    customer = Customer.objects.deliverable().with_email(normalise_email(email)).only("pk").first()
    if customer is not None:
        enqueue_on_commit(send_preference_link_task, customer.pk, language)
