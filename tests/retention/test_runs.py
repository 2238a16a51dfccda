"""The retention engine's mechanics: bounded batches, a run that resumes where it was killed, one
run at a time, a failed rule that names only the kind of error, and the tasks beat starts."""

import logging
import threading
import uuid
from datetime import timedelta

import pytest
import time_machine
from celery.schedules import crontab
from celery.schedules import schedule as every
from django.db import DatabaseError, connection, connections
from django.utils import timezone

from concerthouse.models import AuditEntry
from concerthouse.privacy.map import retention_rules
from consent.models import Consent, ConsentEvent
from customers.models import Customer
from customers.services import customer_restrict
from newsletters.models import Delivery, Signup
from privacy_requests import services as privacy
from privacy_requests.models import PrivacyRequest
from retention import engine
from retention.models import RuleRun, Run
from retention.tasks import purge_task, resume_task

from .conftest import long_ago

pytestmark = pytest.mark.django_db

LEADS = "customers.leads"
ADDRESS = "marta.angstrom@example.se"


def related_rows(people) -> dict[str, int]:
    """The rows in other tables that belong to `people`, table by table."""
    pks = [person.pk for person in people]
    public_ids = [person.public_id for person in people]
    return {
        "signups": Signup.objects.filter(customer__in=pks).count(),
        "consent events": ConsentEvent.objects.filter(customer__in=pks).count(),
        "consents": Consent.objects.filter(customer__in=pks).count(),
        "deliveries": Delivery.objects.filter(customer__in=pks).count(),
        "audit entries": AuditEntry.objects.filter(
            target_type="customers.customer", target_id__in=public_ids
        ).count(),
    }


NONE = {"signups": 0, "consent events": 0, "consents": 0, "deliveries": 0, "audit entries": 0}


def remaining(people) -> set[int]:
    return set(Customer.objects.filter(pk__in=[p.pk for p in people]).values_list("pk", flat=True))


def age(people, when) -> None:
    Customer.objects.filter(pk__in=[p.pk for p in people]).update(last_activity_at=when)


def die_in_batch(monkeypatch, number: int) -> None:
    """The worker is killed (a time limit, a shutdown) in the `number`th batch that erases people,
    after the batch has done its work and before it commits."""
    real = engine.erase_people
    calls = []

    def erase_then_die(people, **options):
        calls.append(people)
        touched = real(people, **options)
        if len(calls) == number:
            raise KeyboardInterrupt
        return touched

    monkeypatch.setattr(engine, "erase_people", erase_then_die)


def rows_per_rule(run: Run) -> dict[str, int]:
    return dict(run.rules.values_list("rule", "rows"))


# --- Batches ---------------------------------------------------------------------------------------
def test_a_rule_purges_in_bounded_batches_and_logs_counts(settings, make_leads, dpo):
    settings.RETENTION_BATCH_SIZE = 3
    expired = make_leads(10)
    fresh = make_leads(2, expired=False)
    # Art. 18: a restricted person's data is only stored, however old; the highest key of all.
    (restricted,) = make_leads(1)
    customer_restrict(customer=restricted, actor=dpo, ground="legal_claims")
    before = related_rows(expired)
    assert all(before.values()), before

    run = engine.purge(trigger=Run.Trigger.COMMAND)

    assert (run.status, run.resumed) == (Run.Status.FINISHED, 0)
    assert run.finished_at is not None
    log = run.rules.get(rule=LEADS)
    assert (log.rows, log.batches, log.lanes) == (10, 4, 1)
    assert log.checkpoints.get().last_pk == max(p.pk for p in expired)
    assert log.related_rows == sum(before.values())
    assert log.error == "" and log.finished_at is not None
    assert remaining(expired) == set()
    assert related_rows(expired) == NONE
    assert set(Customer.objects.values_list("pk", flat=True)) == {p.pk for p in fresh} | {
        restricted.pk
    }
    # Every rule of the map has its line in the run's log, even those with nothing to do.
    assert set(rows_per_rule(run)) == {rule.code for _model, rule in retention_rules()}
    assert sum(rows_per_rule(run).values()) == 10


# --- A killed run --------------------------------------------------------------------------------
def test_a_killed_run_leaves_whole_batches_and_resumes_from_its_checkpoint(
    settings, make_leads, monkeypatch
):
    settings.RETENTION_BATCH_SIZE = 3
    as_of = timezone.now() - timedelta(days=30)
    expired = make_leads(10)
    age(expired, long_ago() - timedelta(days=30))
    # Expired now, but not yet as of the interrupted run's moment: the resumed run leaves it.
    (late,) = make_leads(1)
    each_before = {person.pk: related_rows([person]) for person in expired}
    die_in_batch(monkeypatch, 2)

    with pytest.raises(KeyboardInterrupt):
        engine.purge(trigger=Run.Trigger.SCHEDULE, now=as_of)

    run = Run.objects.get()
    assert (run.status, run.finished_at, run.as_of) == (Run.Status.INTERRUPTED, None, as_of)
    log = run.rules.get(rule=LEADS)
    assert (log.rows, log.batches, log.finished_at) == (3, 1, None)
    assert log.checkpoints.get().last_pk == expired[2].pk
    # Whole batches only: the first is gone with everything it had, the killed one is whole.
    purged, kept = expired[:3], expired[3:]
    assert remaining(purged) == set() and related_rows(purged) == NONE
    assert remaining(kept) == {p.pk for p in kept}
    for person in kept:
        assert related_rows([person]) == each_before[person.pk], person.pk

    monkeypatch.undo()  # the next worker is healthy
    resumed = engine.purge(trigger=Run.Trigger.COMMAND, resume_only=True)

    assert (resumed.pk, resumed.as_of, resumed.resumed) == (run.pk, as_of, 1)
    assert (resumed.status, resumed.trigger) == (Run.Status.FINISHED, Run.Trigger.SCHEDULE)
    log.refresh_from_db()
    assert (log.rows, log.batches) == (10, 4)
    assert log.checkpoints.get().last_pk == expired[-1].pk
    assert remaining(expired) == set() and related_rows(expired) == NONE
    assert remaining([late]) == {late.pk}
    assert RuleRun.objects.filter(rule=LEADS).count() == 1
    # Nothing is left to resume, and nothing new was started.
    assert engine.purge(trigger=Run.Trigger.COMMAND, resume_only=True) is None
    assert Run.objects.count() == 1


def test_a_run_whose_worker_died_is_taken_over_once_its_lease_has_run_out(settings, make_leads):
    as_of = timezone.now() - timedelta(hours=1)
    expired = make_leads(4)
    dead = Run.objects.create(
        as_of=as_of,
        trigger=Run.Trigger.SCHEDULE,
        status=Run.Status.RUNNING,
        heartbeat_at=timezone.now() - timedelta(seconds=settings.RETENTION_LEASE_SECONDS + 5),
    )

    run = engine.purge(trigger=Run.Trigger.COMMAND)

    assert (run.pk, run.as_of, run.resumed, run.status) == (dead.pk, as_of, 1, Run.Status.FINISHED)
    assert run.holder != dead.holder
    assert Run.objects.count() == 1
    assert rows_per_rule(run)[LEADS] == 4
    assert remaining(expired) == set()


def test_a_live_run_blocks_a_second_one_which_changes_nothing(settings, make_leads):
    expired = make_leads(2)
    live = Run.objects.create(
        as_of=timezone.now(),
        trigger=Run.Trigger.SCHEDULE,
        status=Run.Status.RUNNING,
        # Quiet for a while, but still within its lease.
        heartbeat_at=timezone.now() - timedelta(seconds=settings.RETENTION_LEASE_SECONDS - 60),
    )
    before = list(Run.objects.values())

    assert engine.purge(trigger=Run.Trigger.COMMAND) is None
    assert engine.purge(trigger=Run.Trigger.COMMAND, resume_only=True) is None
    assert resume_task.delay().get() is None

    assert list(Run.objects.values()) == before
    assert Run.objects.get().holder == live.holder
    assert not RuleRun.objects.exists()
    assert remaining(expired) == {p.pk for p in expired}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_stalled_worker_that_lost_its_run_commits_nothing_more(
    settings, make_leads, monkeypatch, caplog
):
    if connection.vendor != "postgresql":
        pytest.skip("needs a server database with concurrent connections (PostgreSQL)")
    settings.RETENTION_BATCH_SIZE = 3
    settings.RETENTION_PARALLELISM = 1
    expired = make_leads(7)
    each_before = {person.pk: related_rows([person]) for person in expired}
    real = engine.erase_people
    new_holder = uuid.uuid4()
    calls = []

    def take_over():
        try:
            Run.objects.filter(status=Run.Status.RUNNING).update(holder=new_holder)
        finally:
            connections.close_all()

    def erase_then_stall(people, **options):
        calls.append(people)
        touched = real(people, **options)
        if len(calls) == 2:
            # The worker stalls in its second batch; its lease runs out and another worker, on a
            # connection of its own, claims the run, which gives it a holder of its own.
            other = threading.Thread(target=take_over)
            other.start()
            other.join()
        return touched

    monkeypatch.setattr(engine, "erase_people", erase_then_stall)

    assert engine.purge(trigger=Run.Trigger.SCHEDULE) is None

    run = Run.objects.get()
    # The run is the other worker's now: the stalled one neither finished nor interrupted it, and
    # the batch it was in when it lost the run was rolled back.
    assert (run.status, run.holder, run.finished_at) == (Run.Status.RUNNING, new_holder, None)
    assert rows_per_rule(run) == {"customers.ended": 0, LEADS: 3}
    log = run.rules.get(rule=LEADS)
    assert (log.batches, log.finished_at) == (1, None)
    assert log.checkpoints.get().last_pk == expired[2].pk
    assert remaining(expired) == {p.pk for p in expired[3:]}
    for person in expired[3:]:
        assert related_rows([person]) == each_before[person.pk], person.pk
    assert "taken over" in caplog.text


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_slow_in_a_batch_past_its_lease_is_not_taken_over_before_the_batch_commits(
    settings, make_leads, monkeypatch, request
):
    """The other worker's claim waits for the slow batch, then finds the run beating again:
    nobody passes the slow batch's rows by, and the one run purges them all."""
    if connection.vendor != "postgresql":
        pytest.skip("needs a server database with concurrent connections (PostgreSQL)")
    settings.RETENTION_BATCH_SIZE = 2
    settings.RETENTION_PARALLELISM = 1
    settings.RETENTION_LEASE_SECONDS = 1
    expired = make_leads(6)
    real = engine.erase_people
    claim_answered = threading.Event()
    outcome = []

    def other_worker():
        try:
            outcome.append(engine.purge(trigger=Run.Trigger.COMMAND))
        except BaseException as error:  # reported by the assertion below
            outcome.append(error)
        finally:
            claim_answered.set()
            connections.close_all()

    other = threading.Thread(target=other_worker)

    def erase_slowly(people, **options):
        touched = real(people, **options)
        if not other.is_alive() and not claim_answered.is_set():
            # Past the lease, inside the batch's transaction: the clock moves on (for every
            # thread of this process) instead of the test sleeping through the lease.
            later = time_machine.travel(timezone.now() + timedelta(seconds=2), tick=True)
            later.start()
            request.addfinalizer(later.stop)
            other.start()
            # The claim is made, and waits for this batch.
            assert not claim_answered.wait(timeout=2)
        return touched

    monkeypatch.setattr(engine, "erase_people", erase_slowly)

    run = engine.purge(trigger=Run.Trigger.SCHEDULE)
    other.join(timeout=10)

    assert outcome == [None]  # the run was alive: the other worker did nothing
    assert (run.status, run.resumed) == (Run.Status.FINISHED, 0)
    assert rows_per_rule(run)[LEADS] == 6
    assert remaining(expired) == set()
    assert Run.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_started_at_once_purge_every_row_once(settings, make_leads, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs a server database with concurrent connections (PostgreSQL)")
    settings.RETENTION_BATCH_SIZE = 3
    expired = make_leads(8)
    kept = make_leads(2, expired=False)
    barrier = threading.Barrier(2)
    answered = threading.Event()
    outcomes = []
    real = engine.erase_people

    def erase_once_the_other_start_is_answered(people, **options):
        # The winner keeps its run open until the other start has had its answer, so that the two
        # really overlap; a second winner would wait here in vain, and the test fails.
        answered.wait(timeout=10)
        return real(people, **options)

    monkeypatch.setattr(engine, "erase_people", erase_once_the_other_start_is_answered)

    def start():
        try:
            barrier.wait()
            run = engine.purge(trigger=Run.Trigger.SCHEDULE)
            outcomes.append(run.pk if run is not None else None)
            if run is None:
                answered.set()
        except BaseException as error:  # reported by the assertion below
            outcomes.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    run = Run.objects.get()
    assert sorted(outcomes, key=str) == sorted([run.pk, None], key=str)
    assert run.status == Run.Status.FINISHED
    assert rows_per_rule(run)[LEADS] == 8
    assert RuleRun.objects.filter(rule=LEADS).count() == 1
    assert remaining(expired) == set() and related_rows(expired) == NONE
    assert remaining(kept) == {p.pk for p in kept}


# --- Lanes ------------------------------------------------------------------------------------
def lane_of(person, lanes: int = 2) -> int:
    return person.pk % lanes


@pytest.fixture
def two_lanes(settings, transactional_db):
    """Two lanes of batches of two, each lane a thread with a connection of its own: committed
    data (a transactional test) on a server database."""
    if connection.vendor != "postgresql":
        pytest.skip("needs a server database with concurrent connections (PostgreSQL)")
    settings.RETENTION_BATCH_SIZE = 2
    settings.RETENTION_PARALLELISM = 2


@pytest.mark.postgres
def test_a_rule_works_its_lanes_at_once_each_from_a_checkpoint_of_its_own(
    two_lanes, make_leads, monkeypatch
):
    expired = make_leads(9)
    kept = make_leads(2, expired=False)
    barrier = threading.Barrier(2, timeout=10)
    first_batch_done = set()
    real = engine.erase_people

    def erase_side_by_side(people, **options):
        # Each lane's first batch waits here for the other's: lanes taking turns would time out.
        if threading.get_ident() not in first_batch_done:
            first_batch_done.add(threading.get_ident())
            barrier.wait()
        return real(people, **options)

    monkeypatch.setattr(engine, "erase_people", erase_side_by_side)

    run = engine.purge(trigger=Run.Trigger.COMMAND)

    assert run.status == Run.Status.FINISHED
    assert len(first_batch_done) == 2  # two threads, each with its own connection
    log = run.rules.get(rule=LEADS)
    by_lane = {lane: [p for p in expired if lane_of(p) == lane] for lane in (0, 1)}
    assert all(by_lane.values()), by_lane  # both lanes had people to purge
    assert (log.lanes, log.rows, log.error) == (2, 9, "")
    assert log.batches == sum((len(people) + 1) // 2 for people in by_lane.values())
    assert dict(log.checkpoints.values_list("lane", "last_pk")) == {
        lane: max(p.pk for p in people) for lane, people in by_lane.items()
    }
    assert remaining(expired) == set() and related_rows(expired) == NONE
    assert remaining(kept) == {p.pk for p in kept}


@pytest.mark.postgres
def test_a_run_killed_in_one_lane_stops_the_other_and_resumes_both_from_their_checkpoints(
    two_lanes, make_leads, monkeypatch
):
    expired = make_leads(16)
    each_before = {person.pk: related_rows([person]) for person in expired}
    dying_lane = lane_of(expired[0])
    real_erase, real_lane = engine.erase_people, engine._work_lane
    stops, other_batches = [], []
    other_in_second_batch = threading.Event()

    def lane_with_its_stop(*args, stop, **options):
        stops.append(stop)
        return real_lane(*args, stop=stop, **options)

    def erase_then_die_in_one_lane(people, **options):
        (lane,) = {pk % 2 for pk in people.values_list("pk", flat=True)}
        touched = real_erase(people, **options)
        if lane == dying_lane:
            # Killed in its first batch (rolled back), while the other lane is in its second.
            assert other_in_second_batch.wait(timeout=10)
            raise KeyboardInterrupt
        other_batches.append(people)
        if len(other_batches) == 2:
            other_in_second_batch.set()
            assert stops[-1].wait(timeout=10)  # the other lane has been told to stop
        return touched

    monkeypatch.setattr(engine, "_work_lane", lane_with_its_stop)
    monkeypatch.setattr(engine, "erase_people", erase_then_die_in_one_lane)
    with pytest.raises(KeyboardInterrupt):
        engine.purge(trigger=Run.Trigger.SCHEDULE)

    run = Run.objects.get()
    assert (run.status, run.finished_at) == (Run.Status.INTERRUPTED, None)
    log = run.rules.get(rule=LEADS)
    checkpoints = dict(log.checkpoints.values_list("lane", "last_pk"))
    assert checkpoints[dying_lane] is None
    # The other lane finished the batch it was in, and stopped, halfway through its share.
    left = [p for p in expired if p.pk in remaining(expired)]
    purged = [p for p in expired if p not in left]
    assert {lane_of(p) for p in purged} == {1 - dying_lane}
    assert (log.rows, log.batches) == (len(purged), 2) == (4, 2)
    assert all(p.pk <= checkpoints[1 - dying_lane] for p in purged)
    assert related_rows(purged) == NONE
    for person in left:
        assert related_rows([person]) == each_before[person.pk], person.pk

    monkeypatch.undo()
    resumed = engine.purge(trigger=Run.Trigger.COMMAND, resume_only=True)

    assert (resumed.pk, resumed.status, resumed.resumed) == (run.pk, Run.Status.FINISHED, 1)
    log.refresh_from_db()
    assert (log.lanes, log.rows, log.batches) == (2, 16, 8)
    assert remaining(expired) == set() and related_rows(expired) == NONE


@pytest.mark.postgres
def test_an_error_in_one_lane_fails_its_rule_only_and_the_run_goes_on(
    two_lanes, make_leads, monkeypatch
):
    expired = make_leads(6)
    unverified = privacy.privacy_request_submit(kind="access", email=ADDRESS, language="sv")
    PrivacyRequest.objects.filter(pk=unverified.pk).update(
        created_at=timezone.now() - timedelta(days=60)
    )
    failing_lane = lane_of(expired[0])
    real = engine.erase_people

    def fail_in_one_lane(people, **options):
        if {pk % 2 for pk in people.values_list("pk", flat=True)} == {failing_lane}:
            raise DatabaseError("the disk is full")
        return real(people, **options)

    monkeypatch.setattr(engine, "erase_people", fail_in_one_lane)

    run = engine.purge(trigger=Run.Trigger.SCHEDULE)

    assert run.status == Run.Status.FAILED
    log = run.rules.get(rule=LEADS)
    assert (log.error, log.lanes) == ("DatabaseError", 2) and log.finished_at is not None
    # Nobody of the failing lane was touched; the other lane's people went in whole batches.
    assert {p.pk for p in expired if lane_of(p) == failing_lane} <= remaining(expired)
    assert log.rows == len(expired) - len(remaining(expired))
    assert log.checkpoints.get(lane=failing_lane).last_pk is None
    # The rules after it did their work.
    assert rows_per_rule(run)["privacy_requests.unverified"] == 1
    assert not RuleRun.objects.exclude(rule=LEADS).exclude(error="").exists()


# --- A failed rule -------------------------------------------------------------------------------


def test_a_failed_rule_records_only_the_kind_of_error_and_the_other_rules_still_run(
    make_leads, monkeypatch, caplog
):
    expired = make_leads(2)
    (reader,) = make_leads(1, expired=False)
    Delivery.objects.filter(customer=reader).update(
        created_at=timezone.now() - timedelta(days=3 * 365)
    )
    unverified = privacy.privacy_request_submit(kind="access", email=ADDRESS, language="sv")
    PrivacyRequest.objects.filter(pk=unverified.pk).update(
        created_at=timezone.now() - timedelta(days=60)
    )
    real = engine.delete_rows
    raised = []

    def fail_on_deliveries(rows):
        if rows.model is Delivery:
            try:
                with connection.cursor() as cursor:
                    # A real error from the database, whose message quotes a value.
                    cursor.execute(f'SELECT * FROM "{ADDRESS}"')  # noqa: S608
            except DatabaseError as error:
                raised.append(error)
                raise
        return real(rows)

    monkeypatch.setattr(engine, "delete_rows", fail_on_deliveries)
    caplog.set_level(logging.DEBUG)
    caplog.clear()

    run = engine.purge(trigger=Run.Trigger.SCHEDULE)

    (error,) = raised
    assert ADDRESS in str(error)  # the message did hold the address
    assert run.status == Run.Status.FAILED and run.finished_at is not None
    failed = run.rules.get(rule="newsletters.delivery_log")
    assert failed.error == type(error).__name__
    assert "@" not in failed.error and ADDRESS not in failed.error
    assert (failed.rows, failed.batches) == (0, 0) and failed.finished_at is not None
    assert Delivery.objects.filter(customer=reader).count() == 1  # the batch was rolled back
    # The rules before and after it did their work.
    assert rows_per_rule(run)[LEADS] == 2 and remaining(expired) == set()
    assert rows_per_rule(run)["privacy_requests.unverified"] == 1
    assert not PrivacyRequest.objects.filter(pk=unverified.pk).exists()
    assert RuleRun.objects.exclude(rule="newsletters.delivery_log").filter(error="").count() == (
        len(retention_rules()) - 1
    )
    assert not RuleRun.objects.filter(finished_at__isnull=True).exists()
    # The log names the rule and the kind of error, never a value from the database.
    assert any(
        record.levelno == logging.ERROR
        and "newsletters.delivery_log" in record.getMessage()
        and type(error).__name__ in record.getMessage()
        for record in caplog.records
    )
    assert ADDRESS not in caplog.text and "@" not in caplog.text


def test_a_resumed_run_keeps_an_earlier_rule_s_failure_and_does_not_retry_it(
    make_leads, monkeypatch
):
    (reader,) = make_leads(1, expired=False)
    Delivery.objects.filter(customer=reader).update(
        created_at=timezone.now() - timedelta(days=3 * 365)
    )
    unverified = privacy.privacy_request_submit(kind="access", email=ADDRESS, language="sv")
    PrivacyRequest.objects.filter(pk=unverified.pk).update(
        created_at=timezone.now() - timedelta(days=60)
    )
    real = engine.delete_rows

    def fail_then_die(rows):
        if rows.model is Delivery:
            raise DatabaseError("the disk is full")
        if rows.model is PrivacyRequest:
            raise KeyboardInterrupt  # killed in a later rule
        return real(rows)

    monkeypatch.setattr(engine, "delete_rows", fail_then_die)
    with pytest.raises(KeyboardInterrupt):
        engine.purge(trigger=Run.Trigger.SCHEDULE)
    assert Run.objects.get().status == Run.Status.INTERRUPTED
    monkeypatch.undo()

    run = engine.purge(trigger=Run.Trigger.SCHEDULE, resume_only=True)

    assert (run.status, run.resumed) == (Run.Status.FAILED, 1)
    assert run.rules.get(rule="newsletters.delivery_log").error == "DatabaseError"
    # The failed rule waits for the next run; the one that was killed is finished.
    assert Delivery.objects.filter(customer=reader).exists()
    assert not PrivacyRequest.objects.filter(pk=unverified.pk).exists()
    assert rows_per_rule(run)["privacy_requests.unverified"] == 1


def test_an_error_outside_the_database_fails_its_rule_and_does_not_stop_retention(
    make_leads, monkeypatch, dpo
):
    from privacy_requests.models import AccessPackage
    from tests.privacy_requests.conftest import committed

    expired = make_leads(1)
    with committed():
        request = privacy.privacy_request_submit(kind="access", email=ADDRESS, language="sv")
        request = privacy.privacy_request_verify(request=request)
        privacy.privacy_request_execute(request=request, actor=dpo)
    AccessPackage.objects.update(expires_at=timezone.now() - timedelta(days=1))
    unverified = privacy.privacy_request_submit(kind="access", email=ADDRESS, language="sv")
    PrivacyRequest.objects.filter(pk=unverified.pk).update(
        created_at=timezone.now() - timedelta(days=60)
    )
    real = engine.delete_rows

    def files_cannot_be_deleted(rows):
        if rows.model is AccessPackage:
            raise PermissionError(13, "Permission denied")
        return real(rows)

    monkeypatch.setattr(engine, "delete_rows", files_cannot_be_deleted)

    run = Run.objects.get(pk=purge_task.delay().get())

    assert run.status == Run.Status.FAILED
    assert run.rules.get(rule="privacy_requests.packages").error == "PermissionError"
    assert remaining(expired) == set()
    assert not PrivacyRequest.objects.filter(pk=unverified.pk).exists()  # a later rule ran
    assert not Run.objects.filter(status=Run.Status.INTERRUPTED).exists()


# --- Tasks and beat ----------------------------------------------------------------------------
def test_the_daily_task_finishes_an_interrupted_run_first_then_runs_a_fresh_one(
    settings, make_leads, monkeypatch
):
    settings.RETENTION_BATCH_SIZE = 2
    as_of = timezone.now() - timedelta(days=30)
    old = make_leads(5)
    age(old, long_ago() - timedelta(days=30))
    late = make_leads(2)  # expired now, not yet as of the interrupted run
    die_in_batch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        engine.purge(trigger=Run.Trigger.SCHEDULE, now=as_of)
    interrupted = Run.objects.get()
    monkeypatch.undo()

    fresh_pk = purge_task.delay().get()

    interrupted.refresh_from_db()
    assert (interrupted.status, interrupted.resumed) == (Run.Status.FINISHED, 1)
    assert rows_per_rule(interrupted)[LEADS] == 5
    fresh = Run.objects.get(pk=fresh_pk)
    assert fresh.pk != interrupted.pk and fresh.status == Run.Status.FINISHED
    assert rows_per_rule(fresh)[LEADS] == 2
    assert fresh.started_at >= interrupted.finished_at
    assert remaining(old + late) == set()

    # Delivered twice (acks_late): the second one finds nothing to do.
    customers, rules = Customer.objects.count(), RuleRun.objects.count()
    again = purge_task.delay().get()
    assert again not in (None, fresh.pk, interrupted.pk)
    assert sum(rows_per_rule(Run.objects.get(pk=again)).values()) == 0
    assert Customer.objects.count() == customers
    assert RuleRun.objects.count() == rules + len(retention_rules())
    assert set(Run.objects.values_list("status", flat=True)) == {Run.Status.FINISHED}


def test_the_resume_task_finishes_a_dead_run_and_otherwise_does_nothing(settings, make_leads):
    expired = make_leads(2)
    assert resume_task.delay().get() is None
    assert not Run.objects.exists() and remaining(expired) == {p.pk for p in expired}
    dead = Run.objects.create(
        as_of=timezone.now(),
        trigger=Run.Trigger.SCHEDULE,
        status=Run.Status.RUNNING,
        heartbeat_at=timezone.now() - timedelta(seconds=settings.RETENTION_LEASE_SECONDS + 5),
    )
    assert resume_task.delay().get() == dead.pk
    dead.refresh_from_db()
    assert (dead.status, dead.resumed) == (Run.Status.FINISHED, 1)
    assert remaining(expired) == set()


def seconds(interval) -> float:
    if isinstance(interval, every):
        return interval.run_every.total_seconds()
    if isinstance(interval, timedelta):
        return interval.total_seconds()
    return float(interval)


def test_beat_runs_the_purge_daily_and_resumes_a_dead_run_often(settings):
    from concerthouse.celery import app

    schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    daily = schedule["retention.tasks.purge_task"]
    assert isinstance(daily, crontab)
    assert (len(daily.minute), len(daily.hour)) == (1, 1)
    assert daily.day_of_week == set(range(7))
    assert daily.day_of_month == set(range(1, 32))
    assert daily.month_of_year == set(range(1, 13))
    often = seconds(schedule["retention.tasks.resume_task"])
    assert 0 < often <= 60 * 60
    assert {"retention.tasks.purge_task", "retention.tasks.resume_task"} <= set(app.tasks)
