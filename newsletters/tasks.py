"""Triggers only: each task takes ids, calls a service and may run twice without harm. The database
knows what is owed; the periodic sweeps below finish whatever a lost task left undone."""

from celery import shared_task
from django.conf import settings

from customers.models import Customer

from . import campaigns, emails, services


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=30, max_retries=5)
def send_signup_confirmation_task(signup_id: int) -> bool:
    return services.signup_send_confirmation(signup_id=signup_id)


@shared_task(acks_late=True)
def process_signup_intakes_task() -> int:
    """Queued by the signup form (coalesced: one run a second per web process) and run by beat as
    the sweep for runs that were lost. Runs side by side share the rows (SKIP LOCKED)."""
    return services.signup_intakes_process()


@shared_task(acks_late=True)
def send_owed_confirmations_task() -> int:
    """Beat: confirmation emails that a broker outage or a lost task never sent."""
    sent = 0
    for signup_id in services.signups_owing_confirmation().values_list("pk", flat=True):
        sent += services.signup_send_confirmation(signup_id=signup_id)
    return sent


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=30, max_retries=5)
def send_preference_link_task(customer_id: int, language: str) -> None:
    customer = Customer.objects.deliverable().filter(pk=customer_id).first()
    if customer is not None:
        emails.preference_link(customer, language=language).send()


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=60, max_retries=10)
def send_campaign_task(campaign_id: int, fan_out: bool = True) -> int:
    """Send a due campaign. The first task starts more senders for the same campaign: sending is
    bound by rendering and SMTP round trips, and the row claims (SKIP LOCKED) let several workers
    share one campaign without ever sharing a message."""
    if fan_out and campaigns.campaign_prepare(campaign_id=campaign_id):
        for _ in range(settings.NEWSLETTER_SENDERS - 1):
            send_campaign_task.delay(campaign_id, False)
    return campaigns.campaign_send(campaign_id=campaign_id)


@shared_task(acks_late=True)
def send_due_campaigns_task() -> int:
    """Beat, every minute: start scheduled campaigns and resume any whose task was lost. A resumed
    campaign only sends rows still queued, so a duplicate start is harmless."""
    due = list(campaigns.campaigns_due().values_list("pk", flat=True))
    for campaign_id in due:
        send_campaign_task.delay(campaign_id)
    return len(due)


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=30, max_retries=3)
def read_mailbox_task() -> dict[str, int]:
    """Beat, every minute: bounces, complaints and unsubscribe mails. The mailbox is the queue and
    each message is claimed once, so a run that is lost, doubled or overlapping acts once."""
    from . import inbound

    return inbound.mailbox_read()
