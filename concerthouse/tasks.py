"""Triggers only: each takes no arguments and is safe to run twice."""

from celery import shared_task

from .privacy import journal


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=30, max_retries=5)
def write_journal_task() -> int:
    """After each erasure, and from beat in case that task was lost: the erasure journal's entries
    appended to its file."""
    return journal.write_pending()
