"""Triggers only: each takes no arguments, and each is safe to run twice (the run row is the lock)."""

from celery import shared_task

from . import engine
from .models import Run


@shared_task(acks_late=True)
def purge_task() -> int | None:
    """Beat, daily: finish any interrupted run first, then apply every rule as of now."""
    while engine.purge(trigger=Run.Trigger.SCHEDULE, resume_only=True) is not None:
        pass
    run = engine.purge(trigger=Run.Trigger.SCHEDULE)
    return run.pk if run else None


@shared_task(acks_late=True)
def resume_task() -> int | None:
    """Beat, often: a run whose worker died is resumed once its lease has run out."""
    run = engine.purge(trigger=Run.Trigger.SCHEDULE, resume_only=True)
    return run.pk if run else None
