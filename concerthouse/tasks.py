"""Triggers only: each takes no arguments and is safe to run twice."""

from celery import shared_task

from .audit import audit_record
from .encryption import reencrypt
from .privacy import journal


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=30, max_retries=5)
def write_journal_task() -> int:
    """After each erasure, and from beat in case that task was lost: the erasure journal's entries
    appended to its file."""
    return journal.write_pending()


@shared_task(acks_late=True)
def reencrypt_task() -> int:
    """Beat, weekly: finishes a key rotation that was started but not completed, and is a no-op
    otherwise. Idempotent: a second run finds nothing under the old key."""
    rewritten = reencrypt()
    if any(rewritten.values()):
        audit_record(action="encryption.reencrypted", detail={"rows": rewritten})
    return sum(rewritten.values())
