"""The retention engine: every rule of the personal-data map, applied in bounded batches.

A run takes the lock (the one `running` Run row), then for each rule repeats, each time in its own
transaction: beat (prove it still holds the lock), pick the next batch of expired rows by primary
key after the rule's checkpoint, purge them set-based, move the checkpoint. A killed run leaves
whole batches only, and the next run resumes it from the checkpoints with the same `as_of`, so that
it purges exactly what the interrupted one would have.

Rows of restricted people are skipped (Art. 18: storage only), and so is what a legal hold still
covers: the accounting rule is the hold itself, and erasing a person keeps their held records.
"""

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, IntegrityError, models, transaction
from django.db.models import F, ProtectedError, QuerySet
from django.utils import timezone

from concerthouse.erasure import delete_rows, erase_people
from concerthouse.personal_data_map import PERSON_MODEL, Rule, declaration_for, retention_rules

from .models import RuleRun, Run

logger = logging.getLogger(__name__)


class LostLock(Exception):
    """Another worker took the run over while this one was stalled: this one must stop."""


def candidates(model: type[models.Model], rule: Rule, as_of: datetime) -> QuerySet:
    """The rows `rule` purges at `as_of`: past their time, and not a restricted person's."""
    rows = model._base_manager.filter(rule.expired(as_of))
    declaration = declaration_for(model)
    if declaration is not None:
        restricted = apps.get_model(PERSON_MODEL)._default_manager.restricted()
        rows = rows.exclude(declaration.owned_by(restricted))
    return rows


# --- Forecast ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Forecast:
    rule: Rule
    model: type[models.Model]
    due: int  # what a run now would purge
    within: int  # what will have become due by the end of the horizon, `due` included


def forecast(*, now: datetime | None = None, days: int = 30) -> list[Forecast]:
    """What each rule would purge now and within `days`, counted with the run's own query."""
    now = now or timezone.now()
    horizon = now + timedelta(days=days)
    return [
        Forecast(
            rule=rule,
            model=model,
            due=candidates(model, rule, now).count(),
            within=candidates(model, rule, horizon).count(),
        )
        for model, rule in retention_rules()
    ]


# --- Runs --------------------------------------------------------------------------------------
def purge(*, trigger: str, now: datetime | None = None, resume_only: bool = False) -> Run | None:
    """Resume an interrupted run, or else (unless `resume_only`) start one as of `now`; apply every
    rule and return the run. None when there was nothing to resume or another run holds the lock."""
    run = _claim(trigger=trigger, as_of=now or timezone.now(), resume_only=resume_only)
    if run is None:
        return None
    logger.info("retention run %s started (as of %s)", run.pk, run.as_of.isoformat())
    try:
        failed = False
        for model, rule in retention_rules():
            failed |= not _apply(run, model, rule)
    except LostLock:
        logger.warning("retention run %s was taken over by another worker; stopping", run.pk)
        return None
    except BaseException:
        # A time limit or a shutdown: leave the run for the next one to resume, at once.
        Run.objects.filter(pk=run.pk, holder=run.holder, status=Run.Status.RUNNING).update(
            status=Run.Status.INTERRUPTED
        )
        raise
    status = Run.Status.FAILED if failed else Run.Status.FINISHED
    Run.objects.filter(pk=run.pk, holder=run.holder).update(
        status=status, finished_at=timezone.now()
    )
    run.refresh_from_db()
    logger.info("retention run %s %s", run.pk, status)
    return run


def _claim(*, trigger: str, as_of: datetime, resume_only: bool) -> Run | None:
    """Take the lock: resume the oldest interrupted run, or start a new one."""
    stale = timezone.now() - timedelta(seconds=settings.RETENTION_LEASE_SECONDS)
    try:
        with transaction.atomic():
            # A run that stopped beating has lost its worker: it becomes resumable.
            Run.objects.filter(status=Run.Status.RUNNING, heartbeat_at__lt=stale).update(
                status=Run.Status.INTERRUPTED
            )
            run = (
                Run.objects.select_for_update(skip_locked=True)
                .filter(status=Run.Status.INTERRUPTED)
                .order_by("started_at", "pk")
                .first()
            )
            if run is not None:
                run.status = Run.Status.RUNNING
                run.holder = uuid.uuid4()
                run.heartbeat_at = timezone.now()
                run.resumed += 1
                run.save(update_fields=["status", "holder", "heartbeat_at", "resumed"])
                return run
            if resume_only:
                return None
            # The unique index on running runs refuses a second one, even from a concurrent start.
            return Run.objects.create(as_of=as_of, trigger=trigger, status=Run.Status.RUNNING)
    except IntegrityError:
        logger.info("retention run not started: another run holds the lock")
        return None


def _beat(run: Run) -> None:
    """Prove, inside the batch's transaction, that this worker still holds the run. The row lock
    this takes also keeps a concurrent claim from calling the run stale until the batch commits."""
    alive = Run.objects.filter(pk=run.pk, holder=run.holder, status=Run.Status.RUNNING).update(
        heartbeat_at=timezone.now()
    )
    if not alive:
        raise LostLock


def _apply(run: Run, model: type[models.Model], rule: Rule) -> bool:
    """Apply one rule in batches from its checkpoint; False if a batch failed."""
    log, _created = RuleRun.objects.get_or_create(
        run=run, rule=rule.code, defaults={"model": model._meta.label_lower}
    )
    if log.finished_at is not None:
        return not log.error  # done before the run was interrupted
    rows = candidates(model, rule, run.as_of)
    erase = model._meta.label_lower == PERSON_MODEL
    while True:
        started = time.monotonic()
        try:
            with transaction.atomic():
                _beat(run)
                pending = rows if log.last_pk is None else rows.filter(pk__gt=log.last_pk)
                # Locked rows (a person being edited right now) are left for the next run.
                keys = list(
                    pending.order_by("pk")
                    .select_for_update(skip_locked=True, of=("self",))
                    .values_list("pk", flat=True)[: settings.RETENTION_BATCH_SIZE]
                )
                if not keys:
                    log.finished_at = timezone.now()
                    log.save(update_fields=["finished_at"])
                    break
                batch = model._base_manager.filter(pk__in=keys)
                touched = erase_people(batch, now=run.as_of) if erase else delete_rows(batch)
                log.last_pk = keys[-1]
                RuleRun.objects.filter(pk=log.pk).update(
                    last_pk=log.last_pk,
                    rows=F("rows") + len(keys),
                    related_rows=F("related_rows") + touched - len(keys),
                    batches=F("batches") + 1,
                    seconds=F("seconds") + (time.monotonic() - started),
                )
        except (DatabaseError, ProtectedError) as error:
            # The kind of error only: a database's message may quote a row's values.
            RuleRun.objects.filter(pk=log.pk).update(
                error=type(error).__name__, finished_at=timezone.now()
            )
            logger.error(
                "retention rule %s failed after key %s: %s",
                rule.code,
                log.last_pk,
                type(error).__name__,
            )
            return False
    log.refresh_from_db()
    logger.info(
        "retention rule %s: %d rows, %d related rows, %d batches, %.1f s",
        rule.code,
        log.rows,
        log.related_rows,
        log.batches,
        log.seconds,
    )
    return True


def last_runs(limit: int = 10) -> list[Run]:
    return list(Run.objects.prefetch_related("rules").order_by("-started_at", "-pk")[:limit])
