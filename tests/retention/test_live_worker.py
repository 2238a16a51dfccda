"""The retention purge under a real Celery worker and beat, on the real PostgreSQL and Redis.

Beat fires the purge; the worker doing it is killed (SIGKILL, the whole process group) in the
middle of a large run; a second worker, started afterwards, resumes the run from its checkpoints once
the lease has run out and finishes it (DESIGN.md, Principles: a crashed run resumes). The database
must show whole people only at every moment: nobody half erased, no orphaned rows, nobody purged
who should stay.
"""

import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from consent.models import Channel, Consent, ConsentEvent, NoticeVersion, Purpose
from customers.models import Customer
from newsletters.models import Campaign, Delivery
from retention.models import RuleRun, Run

BASE_DIR = Path(__file__).resolve().parents[2]
# The `celery` script of the environment running the tests (.venv/bin/celery under `make test`).
CELERY = Path(sys.executable).with_name("celery")

EXPIRED = 20_000  # expired leads: 200 batches of BATCH_SIZE
BATCH_SIZE = 100
LANES = 2  # the leads' rows split in two, each worked by a connection of its own
LEASE_SECONDS = 5
RESUME_SECONDS = 3
KILL_AFTER_BATCHES = 20  # of the leads rule; the run is then about a tenth done
SURVIVORS_EACH = 40  # of four kinds of people the purge must keep

# Every person gets the same related rows, so that a count per table proves them all still there.
EVENTS_EACH, CONSENTS_EACH, DELIVERIES_EACH = 2, 1, 1
RELATED_EACH = EVENTS_EACH + CONSENTS_EACH + DELIVERIES_EACH

EXPIRED_DOMAIN = "@expired.example"
KEPT_DOMAIN = "@kept.example"
LEADS_RULE = "customers.leads"


def _broker_url() -> str:
    """A Redis database of this test's own on the configured server: it is flushed at both ends."""
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url:
        pytest.skip("live worker test: set CELERY_BROKER_URL to a running Redis")
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        pytest.skip(f"live worker test: needs a Redis broker, not {parts.scheme}")
    db = "13" if parts.path.strip("/") == "14" else "14"
    return urlunsplit(parts._replace(path=f"/{db}"))


def _redis(url: str):
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.exceptions.RedisError as error:
        pytest.skip(f"live worker test: Redis not reachable ({type(error).__name__})")
    return client


def _database_url() -> str:
    """The configured server and options, with the test database pytest-django made."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + quote(connection.settings_dict["NAME"])))


def _subprocess_env(tmp_path: Path, broker_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(BASE_DIR), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
        # Not the test settings: they make Celery eager.
        "DJANGO_SETTINGS_MODULE": "concerthouse.settings.local",
        "DEBUG": "false",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker_url,
        # The rows the test writes must read the same in the workers.
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "BLIND_INDEX_KEY": settings.BLIND_INDEX_KEY,
        "RETENTION_LEAD_YEARS": str(settings.RETENTION_LEAD_YEARS),
        "EMAIL_URL": "consolemail://",
        "ERASURE_JOURNAL_PATH": str(tmp_path / "erasure-journal.jsonl"),
        "PRIVATE_MEDIA_ROOT": str(tmp_path / "private"),
        # Fast: beat fires the purge at the next minute, small batches, a short lease.
        "RETENTION_PURGE_CRON": "* * * * *",
        "RETENTION_BATCH_SIZE": str(BATCH_SIZE),
        "RETENTION_PARALLELISM": str(LANES),
        "RETENTION_LEASE_SECONDS": str(LEASE_SECONDS),
        "RETENTION_RESUME_SECONDS": str(RESUME_SECONDS),
    }


def _start(name: str, args: list[str], *, env: dict[str, str], logs: Path) -> subprocess.Popen:
    # A session of its own, so that killing the group kills the pool's children as well.
    with (logs / f"{name}.log").open("wb") as log:
        return subprocess.Popen(  # noqa: S603 (a fixed command line)
            [str(CELERY), "-A", "concerthouse", *args],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _start_worker(name: str, *, env: dict[str, str], logs: Path) -> subprocess.Popen:
    return _start(
        name,
        [
            "worker",
            f"--hostname={name}@%h",
            "--queues=celery",
            "--concurrency=1",
            "--pool=prefork",
            "--loglevel=INFO",
            f"--pidfile={logs / f'{name}.pid'}",
            "--without-mingle",
            "--without-gossip",
        ],
        env=env,
        logs=logs,
    )


def _kill_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM (a warm shutdown), then SIGKILL for whatever of the group is still there."""
    if process.poll() is None:
        _kill_group(process, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    _kill_group(process, signal.SIGKILL)
    process.wait()


def _tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _wait_for(condition, *, what: str, timeout: float, processes: dict[str, subprocess.Popen]):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        for name, process in processes.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited ({process.returncode}) while waiting for {what}")
        time.sleep(0.1)
    pytest.fail(f"no {what} within {timeout:.0f} s")


# --- The register ------------------------------------------------------------------------------
def _fill_register() -> None:
    """EXPIRED leads past the lead rule, and people of four kinds that the purge must keep, each
    with a consent ledger, a consent state and a delivery; in bulk, so that it takes seconds."""
    now = timezone.now()
    old = now - relativedelta(years=settings.RETENTION_LEAD_YEARS + 1)
    news = Purpose.objects.get(code="news")
    notice = NoticeVersion.objects.filter(purpose=news, language="en").latest("version")
    campaign = Campaign.objects.create(name="Spring season", purpose=news, status="sent")

    def person(n: int, domain: str, **fields) -> Customer:
        values = {
            "kind": Customer.Kind.LEAD,
            "source": Customer.Source.FAIR_OR_MEETING,
            "last_activity_at": old,
            **fields,
        }
        return Customer(email=f"p{n}{domain}", first_name="Åse", last_name=f"Lund {n}", **values)

    people = [person(n, EXPIRED_DOMAIN) for n in range(EXPIRED)]
    kept = SURVIVORS_EACH
    people += [
        person(n, KEPT_DOMAIN, last_activity_at=now - timedelta(days=365)) for n in range(kept)
    ]
    confirmed_from = len(people)
    people += [person(n, KEPT_DOMAIN) for n in range(kept, 2 * kept)]  # confirmed consent
    people += [
        person(
            n,
            KEPT_DOMAIN,
            restricted_at=now,
            restriction_ground=Customer.RestrictionGround.ACCURACY_CONTESTED,
        )
        for n in range(2 * kept, 3 * kept)
    ]
    people += [
        person(
            n,
            KEPT_DOMAIN,
            kind=Customer.Kind.CUSTOMER,
            source=Customer.Source.BOX_OFFICE,
            relationship_started_on=old.date(),
        )
        for n in range(3 * kept, 4 * kept)
    ]
    people = Customer.objects.bulk_create(people, batch_size=2000)

    # The related rows set-based, in the database: built as 80,000 objects they take seconds more.
    confirmed = [customer.pk for customer in people[confirmed_from : confirmed_from + kept]]
    values = {
        "people": [customer.pk for customer in people],
        "confirmed": confirmed,
        "purpose": news.pk,
        "notice": notice.pk,
        "channel": Channel.WEB_SIGNUP,
        "given": ConsentEvent.Action.GIVEN,
        "confirmed_action": ConsentEvent.Action.CONFIRMED,
        "withdrawn_action": ConsentEvent.Action.WITHDRAWN,
        "confirmed_state": Consent.State.CONFIRMED,
        "withdrawn_state": Consent.State.WITHDRAWN,
        "old": old,
        "later": old + timedelta(days=1),
        "campaign": campaign.pk,
        "sent": Delivery.Status.SENT,
        # Recent enough for the delivery-log rule to leave it: only erasing the person removes it.
        "delivered": now - timedelta(days=200),
    }
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO consent_consentevent
                (customer_id, purpose_id, notice_id, channel, evidence, action, at)
            SELECT c.id, %(purpose)s, %(notice)s, %(channel)s, '', e.action, e.at
            FROM unnest(%(people)s::bigint[]) AS c(id)
            CROSS JOIN LATERAL (VALUES
                (%(given)s, %(old)s::timestamptz),
                (CASE WHEN c.id = ANY(%(confirmed)s::bigint[]) THEN %(confirmed_action)s
                      ELSE %(withdrawn_action)s END, %(later)s::timestamptz)
            ) AS e(action, at)
            """,
            values,
        )
        cursor.execute(
            """
            INSERT INTO consent_consent
                (customer_id, purpose_id, notice_id, state, changed_at, confirmed_at)
            SELECT c.id, %(purpose)s, %(notice)s,
                   CASE WHEN confirmed THEN %(confirmed_state)s ELSE %(withdrawn_state)s END,
                   %(later)s, CASE WHEN confirmed THEN %(later)s::timestamptz END
            FROM unnest(%(people)s::bigint[]) AS c(id),
                 LATERAL (SELECT c.id = ANY(%(confirmed)s::bigint[])) AS k(confirmed)
            """,
            values,
        )
        cursor.execute(
            """
            INSERT INTO newsletters_delivery
                (campaign_id, customer_id, status, created_at, sent_at, tracked, open_count)
            SELECT %(campaign)s, c.id, %(sent)s, %(delivered)s, %(delivered)s, false, 0
            FROM unnest(%(people)s::bigint[]) AS c(id)
            """,
            values,
        )


def _expired_people():
    return Customer.objects.filter(email__endswith=EXPIRED_DOMAIN)


def _kept_people():
    return Customer.objects.filter(email__endswith=KEPT_DOMAIN)


def _related_counts(people) -> tuple[int, int, int]:
    return (
        ConsentEvent.objects.filter(customer__in=people).count(),
        Consent.objects.filter(customer__in=people).count(),
        Delivery.objects.filter(customer__in=people).count(),
    )


def _whole(people) -> bool:
    """Everyone in `people` still has every related row. Rows are only ever taken away, so the
    totals equal the full share of each person only if nobody lost any."""
    count = people.count()
    return _related_counts(people) == (
        count * EVENTS_EACH,
        count * CONSENTS_EACH,
        count * DELIVERIES_EACH,
    )


def _orphans() -> int:
    person = Customer.objects.filter(pk=OuterRef("customer_id"))
    return sum(
        model._base_manager.filter(~Exists(person)).count()
        for model in (ConsentEvent, Consent, Delivery)
    )


def _leads_rule_of(run_pk: int) -> RuleRun | None:
    return RuleRun.objects.filter(run_id=run_pk, rule=LEADS_RULE).first()


# --- The test ----------------------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_purge_whose_worker_is_killed_is_finished_by_the_next_worker(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("needs a server database with concurrent connections (PostgreSQL)")
    broker_url = _broker_url()
    broker = _redis(broker_url)
    if not CELERY.exists():
        pytest.skip(f"live worker test: no celery script at {CELERY}")
    broker.flushdb()

    started = time.monotonic()
    _fill_register()
    kept, kept_related = _kept_people().count(), _related_counts(_kept_people())
    assert _expired_people().count() == EXPIRED and _whole(_expired_people())
    assert kept == 4 * SURVIVORS_EACH and _whole(_kept_people())
    print(f"\nregister filled in {time.monotonic() - started:.1f} s")

    env = _subprocess_env(tmp_path, broker_url)
    processes: dict[str, subprocess.Popen] = {}
    try:
        processes["worker1"] = _start_worker("worker1", env=env, logs=tmp_path)
        processes["beat"] = _start(
            "beat",
            [
                "beat",
                f"--schedule={tmp_path / 'beat-schedule'}",
                f"--pidfile={tmp_path / 'beat.pid'}",
                "--loglevel=INFO",
                "--max-interval=1",
            ],
            env=env,
            logs=tmp_path,
        )

        # Beat fires the purge at the next minute; wait until it is well into the leads.
        def cut_in_the_middle():
            rule = RuleRun.objects.filter(
                rule=LEADS_RULE, run__status=Run.Status.RUNNING, finished_at__isnull=True
            ).first()
            return rule if rule is not None and rule.batches >= KILL_AFTER_BATCHES else None

        rule = _wait_for(
            cut_in_the_middle,
            what=f"running purge {KILL_AFTER_BATCHES} batches into the leads",
            timeout=150,
            processes=processes,
        )
        run_pk = rule.run_id
        _kill_group(processes["worker1"], signal.SIGKILL)
        processes.pop("worker1").wait()
        print(f"worker1 killed {time.monotonic() - started:.1f} s in, at batch {rule.batches}")

        # The run stays "running" with a heartbeat that no longer moves, until its lease runs out.
        time.sleep(1)
        run = Run.objects.get(pk=run_pk)
        rule.refresh_from_db()
        batches_at_kill = rule.batches
        time.sleep(1.5)
        again = Run.objects.get(pk=run_pk)
        assert run.status == again.status == Run.Status.RUNNING
        assert again.heartbeat_at == run.heartbeat_at
        rule.refresh_from_db()
        assert rule.batches == batches_at_kill and rule.finished_at is None
        # Cut mid-way, and in whole batches: what is left is whole people only.
        remaining = _expired_people().count()
        assert 0 < remaining < EXPIRED
        assert remaining == EXPIRED - rule.rows
        assert rule.rows == rule.batches * BATCH_SIZE
        assert _whole(_expired_people())
        assert _orphans() == 0
        assert _kept_people().count() == kept and _whole(_kept_people())

        processes["worker2"] = _start_worker("worker2", env=env, logs=tmp_path)

        # resume_task (every RESUME_SECONDS) takes it over once the lease has run out, or the next
        # minute's purge_task does; "interrupted" on the way is not the end either.
        def finished():
            run = Run.objects.get(pk=run_pk)
            return run if run.status in (Run.Status.FINISHED, Run.Status.FAILED) else None

        run = _wait_for(
            finished,
            what="resumed run to finish",
            timeout=120,
            processes=processes,
        )
        print(f"run finished {time.monotonic() - started:.1f} s in, resumed {run.resumed} time(s)")

        assert run.status == Run.Status.FINISHED
        assert run.resumed >= 1
        assert _expired_people().count() == 0
        assert _orphans() == 0
        assert _kept_people().count() == kept
        assert _related_counts(_kept_people()) == kept_related
        # Every expired person purged exactly once, by this one run, and no batch counted twice.
        rules = list(run.rules.all())
        assert all(r.finished_at is not None and r.error == "" for r in rules)
        assert sum(r.rows for r in rules) == EXPIRED
        leads = _leads_rule_of(run_pk)
        assert leads.rows == EXPIRED
        assert leads.related_rows == EXPIRED * RELATED_EACH
        # The expired leads' keys run on without a gap, so that each lane has half of them.
        assert leads.lanes == LANES
        assert leads.batches == LANES * math.ceil(EXPIRED / LANES / BATCH_SIZE)
        # A later run (the next minute's purge) may have started, but found nothing left to do.
        later = RuleRun.objects.filter(run__pk__gt=run_pk)
        assert sum(later.values_list("rows", flat=True)) == 0
    except BaseException:
        for name in ("worker1", "beat", "worker2"):
            print(f"--- {name} log (tail) ---\n{_tail(tmp_path / f'{name}.log')}")
        raise
    finally:
        for process in processes.values():
            _stop(process)
        broker.flushdb()
        print(f"total {time.monotonic() - started:.1f} s")
