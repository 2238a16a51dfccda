"""The life of a privacy request: submitted, verified, handled within the deadline, answered.

Every action writes the request's timeline and the audit log. Actions of staff check their
permission here, so that the dashboard, the admin and any script obey the same rules.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from concerthouse.audit import audit_record
from concerthouse.email_address import normalise_email
from concerthouse.mail import send_owed
from concerthouse.privacy.erasure import erase_person
from concerthouse.privacy.map import declaration_for
from concerthouse.privacy.person import Right, exercise_right, find_person, person_model
from concerthouse.queue import enqueue_on_commit

from . import deadlines, emails, executors
from .models import PrivacyRequest, RecipientNotice, RequestEvent

HANDLE = "privacy_requests.handle_request"
REGISTER = "privacy_requests.register_request"


def _require(actor, permission: str) -> None:
    if actor is None or not actor.has_perm(permission):
        raise PermissionDenied


def _event(request: PrivacyRequest, action: str, *, actor=None, note: str = "", detail=None):
    """One line of the timeline and one audit entry; neither holds the person's data."""
    RequestEvent.objects.create(request=request, action=action, actor=actor, note=note)
    audit_record(
        action=f"privacy_request.{action}", actor=actor, target=request, detail=detail or {}
    )


def _locked(request: PrivacyRequest) -> PrivacyRequest:
    return PrivacyRequest.objects.select_for_update().get(pk=request.pk)


def _open(request: PrivacyRequest, *, now) -> None:
    """Receipt: the Art. 12(3) month starts, and the person is looked up by address."""
    request.state = PrivacyRequest.State.OPEN
    request.received_at = now
    request.due_on = deadlines.due_date(timezone.localdate(now))
    request.customer = find_person(request.email)


def _address(email: str) -> str:
    """The address in the form the register stores it, so that the request finds its person."""
    try:
        return normalise_email(email)
    except ValidationError as error:
        raise ValidationError({"email": error.messages}) from None


# --- Submission -----------------------------------------------------------------------------------
@transaction.atomic
def privacy_request_submit(
    *,
    kind: str,
    email: str,
    language: str,
    name: str = "",
    details: str = "",
    wrong_data: str = "",
    correct_data: str = "",
) -> PrivacyRequest:
    """A request from the public form: stored, and a verification link owed to the address.

    Nothing is looked up yet: whether the address is known is decided only after verification,
    so the answer is the same for every address.
    """
    if kind == PrivacyRequest.Kind.RECTIFICATION and not (wrong_data.strip() and correct_data):
        raise ValidationError(
            {"wrong_data": [_("Say what is wrong and what it should be.")]},
        )
    request = PrivacyRequest.objects.create(
        kind=kind,
        channel=PrivacyRequest.Channel.WEB,
        email=_address(email),
        name=" ".join(name.split()),
        language=language,
        details=details.strip(),
        wrong_data=wrong_data.strip(),
        correct_data=correct_data.strip(),
    )
    RequestEvent.objects.create(request=request, action="submitted")
    from .tasks import send_verification_task

    enqueue_on_commit(send_verification_task, request.pk)
    return request


def privacy_request_send_verification(*, request_id: int) -> bool:
    """Send the verification link a new request owes; False when it owes none (a task run twice).
    A failed send is left to the sweep (`privacy_requests_owed`)."""
    owed = PrivacyRequest.objects.filter(
        pk=request_id, state=PrivacyRequest.State.UNVERIFIED, verification_sent_at__isnull=True
    )
    return send_owed(owed, sent_field="verification_sent_at", message=emails.verification)


@transaction.atomic
def privacy_request_verify(*, request: PrivacyRequest) -> PrivacyRequest:
    """The link in the email was followed: the request is received. Idempotent."""
    request = _locked(request)
    if request.state != PrivacyRequest.State.UNVERIFIED:
        return request
    _open(request, now=timezone.now())
    request.save()
    _event(request, "verified")
    from .tasks import notify_dpo_task

    enqueue_on_commit(notify_dpo_task, request.pk)
    return request


@transaction.atomic
def privacy_request_register(
    *,
    actor,
    kind: str,
    channel: str,
    email: str,
    language: str,
    identity_check: str,
    name: str = "",
    details: str = "",
    wrong_data: str = "",
    correct_data: str = "",
) -> PrivacyRequest:
    """A request received by phone, at the counter or by letter, registered by staff."""
    _require(actor, REGISTER)
    errors = {}
    if channel == PrivacyRequest.Channel.WEB:
        errors["channel"] = [_("Requests from the web form register themselves.")]
    if not identity_check.strip():
        errors["identity_check"] = [_("Say how you checked who the person is.")]
    if kind == PrivacyRequest.Kind.RECTIFICATION and not (wrong_data.strip() and correct_data):
        errors["wrong_data"] = [_("Say what is wrong and what it should be.")]
    if errors:
        raise ValidationError(errors)
    request = PrivacyRequest(
        kind=kind,
        channel=channel,
        email=_address(email),
        name=" ".join(name.split()),
        language=language,
        details=details.strip(),
        wrong_data=wrong_data.strip(),
        correct_data=correct_data.strip(),
        identity_check=identity_check.strip(),
        registered_by=actor,
    )
    _open(request, now=timezone.now())
    request.save()
    _event(request, "registered", actor=actor, detail={"channel": channel})
    from .tasks import notify_dpo_task

    enqueue_on_commit(notify_dpo_task, request.pk)
    return request


# --- Handling -------------------------------------------------------------------------------------
def _require_open(request: PrivacyRequest) -> None:
    if request.state != PrivacyRequest.State.OPEN:
        raise ValidationError(_("This request is not open."))


@transaction.atomic
def privacy_request_assign(*, request: PrivacyRequest, actor, assignee) -> PrivacyRequest:
    _require(actor, HANDLE)
    if assignee is not None and not assignee.has_perm(HANDLE):
        raise ValidationError(_("Only someone who handles privacy requests can be assigned."))
    request = _locked(request)
    request.assigned_to = assignee
    request.save(update_fields=["assigned_to"])
    _event(request, "assigned", actor=actor)
    return request


@transaction.atomic
def privacy_request_extend(*, request: PrivacyRequest, actor, reason: str) -> PrivacyRequest:
    """Art. 12(3): two more months, for a reason, decided and told within the first month."""
    _require(actor, HANDLE)
    request = _locked(request)
    _require_open(request)
    if not reason.strip():
        raise ValidationError({"reason": [_("An extension needs a reason, told to the person.")]})
    if request.extended_due_on is not None:
        raise ValidationError(_("The deadline has already been extended once."))
    if timezone.localdate() > request.due_on:
        raise ValidationError(_("An extension must be decided before the first deadline."))
    request.extended_due_on = deadlines.extended_due_date(timezone.localdate(request.received_at))
    request.extension_reason = reason.strip()
    request.save(update_fields=["extended_due_on", "extension_reason"])
    _event(request, "extended", actor=actor)
    _send_later(request, "extension")
    return request


@transaction.atomic
def privacy_request_reject(*, request: PrivacyRequest, actor, reason: str) -> PrivacyRequest:
    """Art. 12(4): the reason, and the right to complain and to go to court, told to the person."""
    _require(actor, HANDLE)
    request = _locked(request)
    _require_open(request)
    if not reason.strip():
        raise ValidationError({"reason": [_("A rejection needs a reason, told to the person.")]})
    request.state = PrivacyRequest.State.REJECTED
    request.rejection_reason = reason.strip()
    request.closed_at = timezone.now()
    request.save(update_fields=["state", "rejection_reason", "closed_at"])
    _event(request, "rejected", actor=actor)
    _send_later(request, "rejection")
    return request


def _send_later(request: PrivacyRequest, notice: str) -> None:
    from .tasks import send_notice_task

    enqueue_on_commit(send_notice_task, request.pk, notice)


def _complete(request: PrivacyRequest, *, actor, note: str = "") -> None:
    request.state = PrivacyRequest.State.COMPLETED
    request.closed_at = timezone.now()
    request.save()
    _event(request, "completed", actor=actor, note=note)
    _send_later(request, "completed")


def _notify_recipients(request: PrivacyRequest, recipients) -> None:
    """Art. 19: one notice per recipient holding the data, each its own task, tracked here."""
    from .tasks import send_recipient_notice_task

    for processor in recipients:
        notice, created = RecipientNotice.objects.get_or_create(
            request=request, processor=processor
        )
        if created:
            enqueue_on_commit(send_recipient_notice_task, notice.pk)


@transaction.atomic
def privacy_request_execute(
    *, request: PrivacyRequest, actor, changes: dict | None = None, ground: str = ""
) -> PrivacyRequest:
    """Carry out an open request of any kind, through the personal-data map, and answer it."""
    _require(actor, HANDLE)
    request = _locked(request)
    _require_open(request)
    person = None
    if request.customer_id is not None:
        # Locked: no other change to the person runs while their request is carried out.
        person = person_model()._default_manager.select_for_update().get(pk=request.customer_id)
    kind = PrivacyRequest.Kind
    if request.kind == kind.ACCESS:
        executors.build_access_package(request, person)
        _event(request, "access_package_created", actor=actor)
        _complete(request, actor=actor)
        return request
    if request.kind == kind.PORTABILITY:
        executors.build_portability_package(request, person)
        _event(request, "portability_package_created", actor=actor)
        _complete(request, actor=actor)
        return request
    if person is None:
        # Nothing to change: the answer tells the person we hold no data about them.
        _complete(request, actor=actor, note="no data held")
        return request
    if request.kind == kind.RECTIFICATION:
        declaration = declaration_for(type(person))
        unknown = set(changes or {}) - set(declaration.rectifiable)
        if not changes or unknown:
            raise ValidationError(_("Choose the fields to correct."))
        recipients = executors.recipients_of(person)
        declaration.rectify(person, changes, actor)
        _event(request, "rectified", actor=actor, detail={"fields": sorted(changes)})
        _notify_recipients(request, recipients)
    elif request.kind == kind.ERASURE:
        recipients = executors.recipients_of(person)
        # The request itself keeps the address until its answer has gone (the map's
        # `erasure_spares`), and then forgets it (privacy_request_redact_if_answered).
        held = erase_person(person, actor=actor)
        request.customer = None  # the person is gone (the database set the link to NULL)
        request.erasure_holds = [
            {"model": h.label, "statute": h.statute, "until": h.held_until.isoformat()}
            for h in held
        ]
        _event(request, "erased", actor=actor, detail={"held": len(held)})
        _notify_recipients(request, recipients)
    elif request.kind == kind.RESTRICTION:
        if not ground:
            raise ValidationError({"ground": [_("Choose the ground of the restriction.")]})
        recipients = executors.recipients_of(person)
        exercise_right(Right.RESTRICTION, person=person, actor=actor, ground=ground)
        request.restriction_ground = ground
        _event(request, "restricted", actor=actor, detail={"ground": ground})
        _notify_recipients(request, recipients)
    elif request.kind == kind.OBJECTION:
        exercise_right(Right.OBJECTION, person=person, actor=actor)
        _event(request, "objection_recorded", actor=actor)
    _complete(request, actor=actor)
    return request


@transaction.atomic
def privacy_request_announce_lift(*, request: PrivacyRequest, actor) -> PrivacyRequest:
    """Art. 18(3): the person is told before their restriction is lifted; the notice is the one
    every path sends (the person's app owns it), and the lifting waits for it."""
    _require(actor, HANDLE)
    request = _locked(request)
    if request.kind != PrivacyRequest.Kind.RESTRICTION or request.customer is None:
        raise ValidationError(_("Only a restriction of a person in the register can be lifted."))
    exercise_right(Right.LIFT_NOTICE, person=request.customer, actor=actor)
    _event(request, "lift_announced", actor=actor)
    return request


@transaction.atomic
def privacy_request_lift_restriction(*, request: PrivacyRequest, actor) -> PrivacyRequest:
    """Lifted through the same service as on the customer's page, which refuses until the person
    has been told."""
    _require(actor, HANDLE)
    request = _locked(request)
    if request.kind != PrivacyRequest.Kind.RESTRICTION or request.customer is None:
        raise ValidationError(_("Only a restriction of a person in the register can be lifted."))
    exercise_right(Right.LIFT_RESTRICTION, person=request.customer, actor=actor)
    _event(request, "restriction_lifted", actor=actor)
    return request


@transaction.atomic
def recipient_notice_done(*, notice: RecipientNotice, actor) -> RecipientNotice:
    _require(actor, HANDLE)
    notice = RecipientNotice.objects.select_for_update().get(pk=notice.pk)
    if notice.done_at is None:
        notice.done_at, notice.done_by = timezone.now(), actor
        notice.save(update_fields=["done_at", "done_by"])
        _event(notice.request, "recipient_confirmed", actor=actor, note=notice.processor.name)
    return notice


def privacy_request_redact_if_answered(*, request_id: int) -> bool:
    """After an erasure, the request itself forgets the person once nothing more needs the
    address: the answer and every Art. 19 notice sent. The request and its timeline stay."""
    with transaction.atomic():
        request = PrivacyRequest.objects.select_for_update().get(pk=request_id)
        if request.kind != PrivacyRequest.Kind.ERASURE or request.contact_redacted_at:
            return False
        if request.state != PrivacyRequest.State.COMPLETED or not request.closing_notice_sent_at:
            return False
        if request.recipient_notices.filter(sent_at__isnull=True).exists():
            return False
        PrivacyRequest.objects.filter(pk=request.pk).update(
            email="",
            name="",
            details="",
            wrong_data="",
            correct_data="",
            identity_check="",
            contact_redacted_at=timezone.now(),
        )
        _event(request, "contact_redacted")
    return True


# --- Sweeps ---------------------------------------------------------------------------------------
# A minute's grace leaves work that was just queued to its own task.
SWEEP_GRACE = timedelta(minutes=1)


def privacy_requests_owed() -> dict[str, list]:
    """What the database says is owed and not yet sent."""
    now = timezone.now()
    verifications = PrivacyRequest.objects.filter(
        state=PrivacyRequest.State.UNVERIFIED,
        verification_sent_at__isnull=True,
        created_at__lt=now - SWEEP_GRACE,
        created_at__gt=now - timedelta(days=settings.PRIVACY_VERIFICATION_DAYS),
    ).values_list("pk", flat=True)
    answers = PrivacyRequest.objects.filter(
        state__in=[PrivacyRequest.State.COMPLETED, PrivacyRequest.State.REJECTED],
        closing_notice_sent_at__isnull=True,
        closed_at__lt=now - SWEEP_GRACE,
    ).values_list("pk", "state")
    notices = RecipientNotice.objects.filter(
        sent_at__isnull=True, created_at__lt=now - SWEEP_GRACE
    ).values_list("pk", flat=True)
    which = {
        PrivacyRequest.State.COMPLETED: "completed",
        PrivacyRequest.State.REJECTED: "rejection",
    }
    return {
        "verifications": list(verifications),
        "answers": [(pk, which[state]) for pk, state in answers],
        "recipient_notices": list(notices),
    }
