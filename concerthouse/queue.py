"""Handing work to Celery without ever losing what the person sent."""

import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(task, *args) -> None:
    """Queue `task(*args)` once the current transaction commits.

    The database is the source of truth and the task only a trigger: if the broker is down the
    request still succeeds, and the periodic sweep that belongs to every such task does the work
    later. Arguments are ids only, never personal data.
    """

    def send():
        try:
            task.delay(*args)
        except Exception:
            # Only the task's name: its arguments are ids, but there is nothing to gain from them.
            logger.warning("could not queue %s; its periodic sweep will catch up", task.name)

    transaction.on_commit(send)
