"""Handing work to Celery without ever losing what the person sent."""

import logging
import threading
import time

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


# Until when each process's last queued run of each coalesced task is still to start:
# time.monotonic() by the task object's id. Not by its name: a @shared_task is a proxy that looks
# the task up in the app on every attribute read, about 20 µs each, which on the path of every
# public signup was 5% of the POST's CPU.
_coalesced_until: dict[int, float] = {}
_coalesced_lock = threading.Lock()


def enqueue_coalesced_on_commit(task, *, seconds: float) -> None:
    """Queue `task()` once the current transaction commits, to start `seconds` later, unless this
    process queued it less than `seconds` before that commit: that run has not started yet, so it
    will find in the database what this transaction wrote.

    For a task that takes no arguments and finds its work in the database (a batch over the rows a
    busy public form inserts): a broker message every `seconds` per process instead of one per
    request. Eager tasks (no broker) run at once, so they are never coalesced. A lost run, or one
    started early by a worker whose clock runs ahead, is caught up by the task's periodic sweep.
    """

    def send():
        now = time.monotonic()
        with _coalesced_lock:
            # Checked before Celery's configuration, whose every read costs 20 µs: only a run sent
            # to a broker is ever recorded, and a process does not switch between the two (the
            # tests that do start from an empty record: the broker_down fixture).
            if now < _coalesced_until.get(id(task), now):
                return
            eager = celery_app.conf.task_always_eager
            if not eager:
                _coalesced_until[id(task)] = now + seconds
        try:
            task.apply_async(countdown=None if eager else seconds)
        except Exception:
            logger.warning("could not queue %s; its periodic sweep will catch up", task.name)

    transaction.on_commit(send)
