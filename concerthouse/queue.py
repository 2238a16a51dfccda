"""Handing work to Celery without ever losing what the person sent."""

import logging

from django.core.cache import cache
from django.db import transaction

from .celery import app as celery_app

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


def enqueue_coalesced_on_commit(task, *, seconds: float) -> None:
    """Queue `task()` once the current transaction commits, to start `seconds` later, unless a run
    was queued less than `seconds` before that commit: that run has not started yet, so it will
    find in the database what this transaction wrote.

    For a task that takes no arguments and finds its work in the database (a batch over the rows a
    busy public form inserts): a broker message every `seconds` instead of one per request. The
    run queued is marked in the cache under the task's name, for `seconds`: with a shared cache
    (Redis in production) one message for every web process together, with a per-process cache
    one per process. Eager tasks (no broker) run at once, so they are never coalesced. A lost run,
    or one started early by a worker whose clock runs ahead, is caught up by the task's periodic
    sweep.
    """

    def send():
        eager = celery_app.conf.task_always_eager
        if not eager and not _mark_queued(task.name, seconds):
            return
        try:
            task.apply_async(countdown=None if eager else seconds)
        except Exception:
            logger.warning("could not queue %s; its periodic sweep will catch up", task.name)

    transaction.on_commit(send)


def _mark_queued(name: str, seconds: float) -> bool:
    """Whether this caller is to queue the run: the first to mark it within `seconds`."""
    try:
        return cache.add(f"queue:coalesced:{name}", True, timeout=seconds)
    except Exception:
        # A cache that is down must not keep the task from being queued: one run per commit
        # until it is back.
        logger.warning("could not mark %s as queued; queueing it anyway", name)
        return True
