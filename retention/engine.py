"""The retention engine: every rule of the personal-data map, applied in bounded batches.

A run takes the lock (the one `running` Run row), then for each rule splits its rows by primary key
into lanes (RETENTION_PARALLELISM, each with a database connection of its own) and in every lane
repeats, each time in its own transaction: hold the run (so that nobody takes it over mid-batch),
pick the next batch of expired rows by primary key after the lane's checkpoint, purge them
set-based, beat (keep the lease, and prove the run is still this worker's), move the checkpoint. A killed run leaves whole batches only, and the next run resumes it from the
checkpoints with the same `as_of`, so that it purges exactly what the interrupted one would have.

Rows of restricted people are skipped (Art. 18: storage only), and so is what a legal hold still
covers: the accounting rule is the hold itself, and erasing a person keeps their held records.
"""

import functools
import logging
import operator
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, connection, connections, models, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Mod
from django.utils import timezone

from concerthouse.privacy.erasure import delete_rows, erase_people
from concerthouse.privacy.map import (
    PERSON_MODEL,
    Erasure,
    Rule,
    declaration_for,
    declarations,
    retention_rules,
)
from concerthouse.privacy.person import people, person_model, restricted

from .models import Checkpoint, RuleRun, Run

logger = logging.getLogger(__name__)


class LostLock(Exception):
    """Another worker took the run over while this one was stalled: this one must stop."""


def candidates(model: type[models.Model], rule: Rule, as_of: datetime) -> QuerySet:
    """The rows `rule` purges at `as_of`: past their time, and not of a person who is held,
    being restricted (Art. 18: storage only) or kept by rows of the map (a privacy request still
    owed its answer, a copy of their data not yet expired)."""
    return _purgeable(model, rule.expired(as_of), as_of)


def _purgeable(model: type[models.Model], expired: Q, as_of: datetime) -> QuerySet:
    """The rows of `model` matching `expired` that no held person keeps (see candidates)."""
    rows = model._base_manager.filter(expired)
    kept = [d.retention.keeps_person(as_of) for d in declarations() if d.retention.keeps_person]
    kept = functools.reduce(operator.or_, kept) if kept else None
    if model is person_model():
        # A person's own row says whether they are restricted: a filter on the row, where the
        # map's "rows of the restricted" would be a subquery reading the whole register again
        # for every batch (restricted people are a handful, and have no index of their own).
        rows = rows.exclude(restricted())
        return rows if kept is None else rows.exclude(kept)
    declaration = declaration_for(model)
    if declaration is not None:
        rows = rows.exclude(declaration.owned_by(people().filter(restricted())))
        if kept is not None:
            rows = rows.exclude(declaration.owned_by(people().filter(kept)))
    return rows


def _with_keys(model: type[models.Model], keys: list) -> QuerySet:
    """The rows of `model` with these primary keys: a batch, which every statement of its purge
    finds its rows through. PostgreSQL gets the keys as one array, written out once: as thousands
    of placeholders, or as a list the driver adapts anew for every statement, they would cost more
    to send than the rows cost to delete."""
    if connection.vendor == "postgresql":
        array = "{" + ",".join(str(key) for key in keys) + "}"
        pk_type = model._meta.pk.rel_db_type(connection)
        in_array = RawSQL(f"SELECT unnest(%s::{pk_type}[])", (array,))  # noqa: S611 (a type name)
        return model._base_manager.filter(pk__in=in_array)
    return model._base_manager.filter(pk__in=keys)


# --- Forecast ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Forecast:
    rule: Rule
    model: type[models.Model]
    due: int  # what a run now would purge
    within: int  # what will have become due by the end of the horizon, `due` included


def forecast(*, now: datetime | None = None, days: int = 30) -> list[Forecast]:
    """What each rule would purge now and within `days`, counted with the run's own query.

    Each row is counted where the run counts it, once: a row that a rule applied before its own
    takes first (its person erased, a row it belongs to deleted) is among that rule's related
    rows, not again under its own; and what goes tonight is not there to go again by the
    horizon."""
    now = now or timezone.now()
    horizon = now + timedelta(days=days)
    rules = _rules()
    lines = []
    for index, (model, rule) in enumerate(rules):
        first = rules[:index]
        due = candidates(model, rule, now).exclude(_taken_by(first, model, now)).count()
        later = (
            candidates(model, rule, horizon)
            .exclude(_taken_by(first, model, horizon))
            .exclude(_taken_by(rules, model, now))
        )
        lines.append(Forecast(rule=rule, model=model, due=due, within=due + later.count()))
    return lines


def _taken_by(rules: list, model: type[models.Model], as_of: datetime) -> Q:
    """The rows of `model` that `rules`, applied at `as_of`, purge: the model's own rows under
    them, the rows of the people they erase (where erasure deletes rows rather than anonymising
    them), and the rows that deleting theirs cascades to. One subquery for each of these, the
    rules' conditions OR-ed inside it."""
    declaration = declaration_for(model)

    def expired_under(target) -> Q | None:
        conditions = [rule.expired(as_of) for other, rule in rules if other is target]
        return functools.reduce(operator.or_, conditions) if conditions else None

    taken = Q(pk__in=[])
    own = expired_under(model)
    if own is not None:
        taken |= Q(pk__in=_purgeable(model, own, as_of).values("pk"))
    Person = person_model()
    erased = expired_under(Person) if model is not Person else None
    # Erasure deletes these rows, or those of them whose hold has ended: the ones their rule wants.
    if erased is not None and declaration and declaration.erasure in (Erasure.DELETE, Erasure.HOLD):
        taken |= declaration.owned_by(_purgeable(Person, erased, as_of))
    for field in model._meta.concrete_fields:
        if field.is_relation and field.remote_field.on_delete is models.CASCADE:
            parents = expired_under(field.related_model)
            if parents is not None:
                purged = _purgeable(field.related_model, parents, as_of)
                taken |= Q(**{f"{field.name}__in": purged.values("pk")})
    return taken


def _rules() -> list:
    """The map's rules, those that erase whole people first: their people's rows go with them,
    so that the rules on those rows find only what remains (and the forecast can say so)."""
    return sorted(retention_rules(), key=lambda pair: pair[0]._meta.label_lower != PERSON_MODEL)


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
        for model, rule in _rules():
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
            # A run that stopped beating has lost its worker: it becomes resumable. FOR UPDATE
            # waits for the batches in flight (_hold), and then reads the row again: a batch
            # that was only slow has beaten on its way out, and its run is not stale after all.
            stale_runs = Run.objects.select_for_update().filter(
                status=Run.Status.RUNNING, heartbeat_at__lt=stale
            )
            Run.objects.filter(pk__in=list(stale_runs.values_list("pk", flat=True))).update(
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


def _hold(run: Run) -> None:
    """At the start of a batch: prove that this worker holds the run, and keep it so until the
    batch commits. The lock on the run's row (KEY SHARE) is one the lanes share with each other
    and with their heartbeats, and one a claim (FOR UPDATE) must wait for: a worker that stalls
    in a batch cannot be taken over until the batch has committed or its connection is gone."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM {connection.ops.quote_name(Run._meta.db_table)} "  # noqa: S608
                "WHERE id = %s AND holder = %s AND status = %s FOR KEY SHARE",
                [run.pk, run.holder, Run.Status.RUNNING],
            )
            alive = cursor.fetchone() is not None
    else:  # one writer at a time: nothing to share
        alive = Run.objects.filter(pk=run.pk, holder=run.holder, status=Run.Status.RUNNING).exists()
    if not alive:
        raise LostLock


def _beat(run: Run) -> None:
    """At the end of a batch: the heartbeat that keeps the lease, and proof once more that this
    worker holds the run, or the batch does not commit. The row lock this update takes is held
    for a moment only, so that the lanes of a rule do not queue behind one another."""
    alive = Run.objects.filter(pk=run.pk, holder=run.holder, status=Run.Status.RUNNING).update(
        heartbeat_at=timezone.now()
    )
    if not alive:
        raise LostLock


def _parallel() -> bool:
    """Whether lanes can work at once here: each needs a connection of its own that sees what
    this one has committed (a server database, and no transaction open here, such as a test's,
    whose rows the other connections would not see)."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def _apply(run: Run, model: type[models.Model], rule: Rule) -> bool:
    """Apply one rule, each lane in batches from its checkpoint; False if a batch failed."""
    log, _created = RuleRun.objects.get_or_create(
        run=run,
        rule=rule.code,
        defaults={
            "model": model._meta.label_lower,
            "lanes": max(1, settings.RETENTION_PARALLELISM) if _parallel() else 1,
        },
    )
    if log.finished_at is not None:
        return not log.error  # done before the run was interrupted
    for lane in range(log.lanes):
        Checkpoint.objects.get_or_create(rule_run=log, lane=lane)
    checkpoints = list(log.checkpoints.order_by("lane"))
    started = time.monotonic()
    try:
        error = _work_lanes(run, log, model, rule, checkpoints)
    except LostLock:
        raise  # the run is another worker's now, and so is its log
    except BaseException:
        # Interrupted: this attempt's time counts, and the resumed run adds its own.
        RuleRun.objects.filter(pk=log.pk).update(
            seconds=F("seconds") + (time.monotonic() - started)
        )
        raise
    with transaction.atomic():
        _beat(run)
        RuleRun.objects.filter(pk=log.pk).update(
            seconds=F("seconds") + (time.monotonic() - started)
        )
        log.refresh_from_db()
        if error is None:
            # Past their time and still here: held (restricted, kept by a request), or locked by
            # someone at work on them when their batch came (left for the next run).
            log.skipped = model._base_manager.filter(rule.expired(run.as_of)).count()
        else:
            # One rule's failure (a database error, a package file that cannot be removed) must
            # not stop the others, today or on any later day: the rule is marked failed and the
            # run goes on. The kind of error only: its message may quote a row's values.
            log.error = type(error).__name__
        log.finished_at = timezone.now()
        log.save(update_fields=["skipped", "error", "finished_at"])
    if error is not None:
        logger.error("retention rule %s failed: %s", rule.code, log.error)
        return False
    logger.info(
        "retention rule %s: %d rows, %d related rows, %d skipped, %d batches in %d lanes, %.1f s",
        rule.code,
        log.rows,
        log.related_rows,
        log.skipped,
        log.batches,
        log.lanes,
        log.seconds,
    )
    return True


def _work_lanes(run, log, model, rule, checkpoints) -> Exception | None:
    """Work every lane to its end: each in a thread with a connection of its own where lanes can
    work at once (the foreign-key checks that follow each deleted person keep one database core
    busy per connection), else one after the other here. The first lane to fail stops the others
    after their current batch; an error is returned, an interruption (LostLock, a time limit, a
    shutdown) raised."""
    stop = threading.Event()
    errors = []
    if log.lanes == 1 or not _parallel():
        for checkpoint in checkpoints:
            try:
                _work_lane(run, log, model, rule, checkpoint, stop=stop)
            except Exception as error:
                errors.append(error)
                break
    else:

        def lane(checkpoint):
            try:
                _work_lane(run, log, model, rule, checkpoint, stop=stop)
            except BaseException:
                stop.set()
                raise
            finally:
                connections.close_all()  # this thread's own

        with ThreadPoolExecutor(len(checkpoints), thread_name_prefix="retention") as pool:
            futures = [pool.submit(lane, checkpoint) for checkpoint in checkpoints]
            try:
                wait(futures)
            except BaseException:
                # A time limit or a shutdown reached this thread: the lanes stop after their batch.
                stop.set()
                raise
        errors = [future.exception() for future in futures if future.exception() is not None]
    for error in errors:
        if isinstance(error, LostLock | SoftTimeLimitExceeded) or not isinstance(error, Exception):
            raise error
    return errors[0] if errors else None


def _work_lane(run, log, model, rule, checkpoint, *, stop: threading.Event) -> None:
    """Purge one lane's rows in batches from its checkpoint, until none is left or `stop` is set."""
    rows = candidates(model, rule, run.as_of)
    if log.lanes > 1:
        rows = rows.alias(lane=Mod("pk", log.lanes)).filter(lane=checkpoint.lane)
    erase = model._meta.label_lower == PERSON_MODEL
    while not stop.is_set():
        with transaction.atomic():
            _hold(run)
            pending = rows if checkpoint.last_pk is None else rows.filter(pk__gt=checkpoint.last_pk)
            # Locked rows (a person being edited right now) are left for the next run.
            keys = list(
                pending.order_by("pk")
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("pk", flat=True)[: settings.RETENTION_BATCH_SIZE]
            )
            if not keys:
                return
            batch = _with_keys(model, keys)
            touched = erase_people(batch, now=run.as_of) if erase else delete_rows(batch)
            if connection.vendor == "postgresql":
                # The deferred foreign-key checks now, before the run's and the log's row locks
                # are taken, rather than at the commit while the other lanes wait for those.
                connection.check_constraints()
            _beat(run)
            Checkpoint.objects.filter(pk=checkpoint.pk).update(last_pk=keys[-1])
            RuleRun.objects.filter(pk=log.pk).update(
                rows=F("rows") + len(keys),
                related_rows=F("related_rows") + touched - len(keys),
                batches=F("batches") + 1,
            )
        checkpoint.last_pk = keys[-1]


def last_runs(limit: int = 10) -> list[Run]:
    return list(Run.objects.prefetch_related("rules").order_by("-started_at", "-pk")[:limit])
