"""Triggers only: ids in, a service out; each safe to run twice."""

from celery import shared_task

from . import services


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=30, max_retries=5)
def send_restriction_lift_notice_task(customer_id: int) -> bool:
    return services.customer_send_restriction_lift_notice(customer_id=customer_id)


@shared_task(acks_late=True)
def sweep_task() -> dict[str, int]:
    """Beat: notices of a lifting that staff announced and a lost task never sent."""
    owed = list(services.customers_owing_lift_notice())
    for customer_id in owed:
        send_restriction_lift_notice_task.delay(customer_id)
    return {"restriction_lift_notices": len(owed)}
