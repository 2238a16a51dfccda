"""Triggers only: ids in, a service or an email out; each safe to run twice."""

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from . import breach_services, emails, packages, services
from .models import PrivacyRequest, RecipientNotice


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=30, max_retries=5)
def send_verification_task(request_id: int) -> bool:
    return services.privacy_request_send_verification(request_id=request_id)


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=30, max_retries=5)
def notify_dpo_task(request_id: int) -> None:
    request = PrivacyRequest.objects.filter(pk=request_id).first()
    if request is not None:
        emails.dpo_notice(request).send()


# Which notices the request records as sent, so that what depends on them can go ahead.
_SENT_FIELD = {
    "completed": "closing_notice_sent_at",
    "rejection": "closing_notice_sent_at",
}


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=30, max_retries=5)
def send_notice_task(request_id: int, which: str) -> None:
    request = PrivacyRequest.objects.get(pk=request_id)
    field = _SENT_FIELD.get(which)
    if field and getattr(request, field) is not None:
        return  # sent already: a duplicated task
    emails.notice(request, which).send()
    if field:
        PrivacyRequest.objects.filter(pk=request_id).update(**{field: timezone.now()})
    services.privacy_request_redact_if_answered(request_id=request_id)


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=60, max_retries=10)
def send_recipient_notice_task(notice_id: int) -> None:
    # One row locked across one email: a duplicated task waits, then finds the notice sent.
    with transaction.atomic():
        notice = (
            RecipientNotice.objects.select_for_update()
            .select_related("request", "processor")
            .get(pk=notice_id)
        )
        if notice.sent_at is not None:
            return
        emails.recipient_notice(notice).send()
        notice.sent_at = timezone.now()
        notice.save(update_fields=["sent_at"])
    services.privacy_request_redact_if_answered(request_id=notice.request_id)


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=60, max_retries=10)
def send_breach_notices_task(breach_id: int) -> int:
    """Art. 34: the queued messages of one breach, in batches; safe to run twice."""
    return breach_services.breach_notices_send(breach_id=breach_id)


@shared_task(acks_late=True)
def sweep_task() -> dict[str, int]:
    """Beat: finish what a lost task or a broker outage left undone, from the database's own
    record of what is owed: verification links, answers and Art. 19 notices never sent, and
    package files whose rows are gone."""
    owed = services.privacy_requests_owed()
    for request_id in owed["verifications"]:
        send_verification_task.delay(request_id)
    for request_id, which in owed["answers"]:
        send_notice_task.delay(request_id, which)
    for notice_id in owed["recipient_notices"]:
        send_recipient_notice_task.delay(notice_id)
    owed["breach_messages"] = breach_services.breaches_with_messages_owed()
    for breach_id in owed["breach_messages"]:
        send_breach_notices_task.delay(breach_id)
    return {name: len(ids) for name, ids in owed.items()} | {
        "orphan_package_files": packages.package_files_remove_orphans()
    }
