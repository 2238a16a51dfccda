"""Triggers only: each task takes ids, calls a service and may run twice without harm. The database
knows what is owed; the sweep finishes whatever a lost task left undone."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from . import imports, pre_concert, services
from .models import TicketAgentImport


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=30, max_retries=5)
def send_booking_confirmation_task(subscription_id: int) -> bool:
    return services.booking_confirmation_send(subscription_id=subscription_id)


@shared_task(acks_late=True)
def send_pre_concert_mail_task() -> int:
    """Beat, hourly: the information email for every concert in the next few days. A second run
    (or a second beat) finds the rows already there and the messages already claimed."""
    sent = 0
    for concert in pre_concert.concerts_due():
        pre_concert.pre_concert_mail_prepare(concert=concert)
        sent += pre_concert.pre_concert_mail_send(concert_id=concert.pk)
    return sent


@shared_task(acks_late=True)
def import_task(run_id: int) -> int:
    return imports.import_run(run_id=run_id).booked_count


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=60, max_retries=10)
def send_source_notices_task() -> int:
    return services.source_notices_send()


@shared_task(acks_late=True)
def sweep_task() -> dict:
    """Beat: what lost tasks left undone."""
    confirmations = 0
    for subscription_id in services.booking_confirmations_owed().values_list("pk", flat=True):
        confirmations += services.booking_confirmation_send(subscription_id=subscription_id)
    stalled = TicketAgentImport.objects.filter(
        status__in=[TicketAgentImport.Status.PENDING, TicketAgentImport.Status.RUNNING],
        created_at__lt=timezone.now() - timedelta(minutes=10),
    ).values_list("pk", flat=True)
    stalled = list(stalled)
    for run_id in stalled:
        # Resumes after the last committed batch; a worker still on it stops at its next batch.
        import_task.delay(run_id)
    return {
        "confirmations": confirmations,
        "imports": len(stalled),
        "source_notices": services.source_notices_send(),
    }


@shared_task(acks_late=True)
def daily_task() -> dict:
    """Beat, nightly: relationships whose last subscription has run out end (set-based, idempotent).
    Seating needs of ended seasons go with the retention engine's rules."""
    return {"relationships_ended": services.relationships_end_due()}
