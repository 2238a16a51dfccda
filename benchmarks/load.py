"""Load: the public newsletter signup under wrk, through gunicorn, against a minimal view.

gunicorn serves the project with production's settings (benchmarks/server/settings.py) on
loopback, with the environment set here: the benchmark database, holding the register of a million
people that benchmarks/admin.py generates; a Redis server of the benchmark's own on a free port,
started here and stopped at the end (so that runs in parallel never share one), as the broker
(database 0, with no worker while wrk runs: the queued runs are counted) and as the cache the rate
limits count in (database 1); generated secrets; rate limits high enough for one client to post all the signups; no
HTTPS redirect. The same server has a minimal view (benchmarks/server/urls.py): the same middleware,
one email field validated, one row INSERTed. wrk posts to each for DURATION seconds from
CONNECTIONS connections, each request with an address of its own (benchmarks/server/post_form.lua),
the CSRF cookie and token, the signup form's fields as the page offers them (the form is fetched
once to find them: its lists, its hidden fields, an empty honeypot). The minimal view is run before
the signup and again after it, and the signup is compared with the mean of the two: a machine
whose speed drifts during the runs (a shared host, PostgreSQL's checkpoint writing in the
background) then moves both sides of the ratio alike, instead of whichever view ran second.

The figures: the signup's throughput as a share of the minimal view's, the signup's 99th percentile
latency, and its errors (responses other than 2xx/3xx, and socket errors). Afterwards the benchmark
checks that every signup answered was stored as received with a run queued to record it; then a
Celery worker (WORKER_PROCESSES processes) is started on that queue, and the benchmark times it
until every signup is recorded (the person, the pending consent, the signup) and its confirmation
email sent (to Django's dummy backend); then it deletes them.

gunicorn runs as deploy/gunicorn.conf.py runs production: sync workers, two a core (on this
machine four), so that while one request waits on PostgreSQL or Redis (a commit's WAL flush, a rate
limit's count) another runs; see the README for other machines.
"""

import json
import os
import runpy
import secrets
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import redis
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection
from django.utils import timezone

from customers.models import Customer
from newsletters.models import Signup, SignupIntake

from . import BenchmarkError, Result, benchmark
from .admin import _register
from .retention import Figures

GUNICORN_CONF = settings.BASE_DIR / "deploy" / "gunicorn.conf.py"
# BENCH_LOAD_* override these to try another number of web processes or a shorter run. gunicorn's
# processes are otherwise the number production's configuration gives on this machine.
SERVER_PROCESSES = int(
    os.environ.get("BENCH_LOAD_WORKERS") or runpy.run_path(str(GUNICORN_CONF))["workers"]
)
WORKER_PROCESSES = 2  # the Celery worker's, as README's production runs it
CONNECTIONS = 16
WRK_THREADS = 2
DURATION = int(os.environ.get("BENCH_LOAD_SECONDS", 60))
WARM_UP = 5
RATIO_TARGET = 0.6  # issue 22: plain Django, at 0.6 of the minimal view or better
P99_TARGET_MS = 100
# The worker records what the form stored and sends the confirmations: a concert announcement's
# rush of signups (thousands within minutes) must be confirmed within minutes, not hours.
RECORD_TARGET_PER_SECOND = 100
RECORD_TIMEOUT = 1800
REDIS_SERVER = "redis-server"  # on PATH (Debian: apt-get install redis-server)
MINIMAL_TABLE = "bench_minimal_signup"  # benchmarks/server/urls.py
SIGNUP_PATH = "/sv/newsletter/"
MINIMAL_PATH = "/bench/minimal/"
LUA = Path(__file__).parent / "server" / "post_form.lua"
WRK = "/usr/bin/wrk"


# --- The server ---------------------------------------------------------------------------------
def _environment(static_root: str, redis_url: str) -> dict[str, str]:
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        raise BenchmarkError("DATABASE_URL is not set: the server needs the benchmark database")
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.server.settings",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": f"{redis_url}/0",
        "CACHE_URL": f"{redis_url}/1",
        "EMAIL_URL": "dummymail://",  # nothing is sent in a request: a task sends the email
        "SECRET_KEY": secrets.token_urlsafe(50),
        "BLIND_INDEX_KEY": secrets.token_urlsafe(32),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "HOUSE_SITE_URL": "https://bench.example.org",
        "SECURE_SSL_REDIRECT": "false",  # plain http on loopback, as behind a TLS proxy
        "PUBLIC_FORM_LIMIT_PER_CLIENT_PER_HOUR": "1000000000",  # wrk is one client
        "PUBLIC_FORM_LIMIT_PER_ADDRESS_PER_DAY": "1000000000",
        "STATIC_ROOT": static_root,
        "LOG_LEVEL": "WARNING",
        "DEBUG": "false",
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _redis_server():
    """A Redis server of this run's own on a free loopback port, with nothing saved to disk, until
    the block ends; yields its URL without a database number."""
    if shutil.which(REDIS_SERVER) is None:
        raise BenchmarkError(f"no {REDIS_SERVER} on PATH (Debian: apt-get install redis-server)")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as directory:
        # Flags as on the command line: `--save ""` keeps nothing on disk.
        command = (
            f"--bind 127.0.0.1 --port {port} --appendonly no --daemonize no --loglevel warning"
        )
        server = subprocess.Popen(  # noqa: S603
            [REDIS_SERVER, *command.split(), "--save", "", "--dir", directory],
            stdout=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}"
        try:
            client = redis.Redis.from_url(url)
            for _ in range(100):
                if server.poll() is not None:
                    raise BenchmarkError(f"redis-server exited with {server.returncode}")
                try:
                    client.ping()
                    break
                except redis.ConnectionError:  # not listening yet
                    time.sleep(0.1)
            else:
                raise BenchmarkError("redis-server did not answer within 10 s")
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


@contextmanager
def _server(environment: dict[str, str]):
    """gunicorn on a free loopback port, until the block ends; yields its base URL."""
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        env=environment,
        cwd=settings.BASE_DIR,
        check=True,
        timeout=300,
    )
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603
        [
            str(bin_dir / "gunicorn"),
            "concerthouse.wsgi",
            # The configuration production runs with (README, Production), on a loopback port.
            f"--config={GUNICORN_CONF}",
            "--log-level=warning",
        ],
        env={
            **environment,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": str(SERVER_PROCESSES),
        },
        cwd=settings.BASE_DIR,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if server.poll() is not None:
                raise BenchmarkError(f"gunicorn exited with {server.returncode}")
            try:
                urllib.request.urlopen(f"{base}/health/", timeout=5)  # noqa: S310 (loopback)
                break
            except urllib.error.HTTPError:
                break  # it answers (503: a service it checks is down, which the POSTs will show)
            except OSError:
                time.sleep(0.1)
        else:
            raise BenchmarkError("gunicorn did not answer within 30 s")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


# --- The form as the page offers it ---------------------------------------------------------------
class _FormFields(HTMLParser):
    """The fields of the page's POST form: (name, type, value, options) in page order."""

    def __init__(self):
        super().__init__()
        self.fields, self._in_form, self._select = [], False, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self._in_form = True
        elif not self._in_form or (not attrs.get("name") and tag != "option"):
            return
        elif tag in ("input", "textarea"):
            kind = attrs.get("type", "text") if tag == "input" else "text"
            self.fields.append((attrs["name"], kind, attrs.get("value", ""), []))
        elif tag == "select":
            self._select = (attrs["name"], "select", "", [])
            self.fields.append(self._select)
        if tag == "option" and self._select is not None:
            self._select[3].append(attrs.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag == "select":
            self._select = None


def _signup_body(base: str, token: str) -> tuple[str, str]:
    """The signup's url-encoded body with EMAIL for the address, and the CSRF cookie's name.

    Every field the page shows is posted as a person leaves it: the address typed, the first list
    ticked, the other boxes unticked, text fields empty (the honeypot among them), hidden fields as
    they came, the language of the page."""
    page = urllib.request.urlopen(base + SIGNUP_PATH, timeout=10)  # noqa: S310 (loopback)
    cookies = page.headers.get_all("Set-Cookie") or []
    names = [c.split("=", 1)[0] for c in cookies if "csrftoken" in c.split("=", 1)[0]]
    if not names:
        raise BenchmarkError("the signup page set no CSRF cookie")
    parser = _FormFields()
    parser.feed(page.read().decode())
    pairs, ticked = [], set()
    for name, kind, value, options in parser.fields:
        if name == "csrfmiddlewaretoken":
            pairs.append((name, token))
        elif name == "email":
            pairs.append((name, "EMAIL"))
        elif kind == "checkbox":
            if name == "lists" and name not in ticked:  # one newsletter; open tracking unticked
                pairs.append((name, value))
                ticked.add(name)
        elif kind == "select":
            pairs.append((name, "sv" if "sv" in options else options[0]))
        elif kind in ("hidden", "text", "email"):
            pairs.append((name, value if kind == "hidden" else ""))
    if "lists" not in ticked:
        raise BenchmarkError("the signup page offers no newsletter to tick")
    return urllib.parse.urlencode(pairs), names[0]


def _post_once(url: str, body: str, cookie: str) -> int:
    """One POST as wrk will send it; the status code (a redirect is not followed)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(  # noqa: S310 (loopback)
        url,
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    try:
        return urllib.request.build_opener(NoRedirect).open(request, timeout=10).status
    except urllib.error.HTTPError as error:
        return error.code


# --- wrk ------------------------------------------------------------------------------------------
def _wrk(url: str, body: str, cookie: str, prefix: str, seconds: int) -> dict:
    path = urllib.parse.urlsplit(url).path
    done = subprocess.run(  # noqa: S603
        [
            WRK,
            f"--threads={WRK_THREADS}",
            f"--connections={CONNECTIONS}",
            f"--duration={seconds}s",
            "--timeout=10s",
            f"--script={LUA}",
            url,
            "--",
            path,
            body,
            cookie,
            prefix,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    if done.returncode != 0:
        raise BenchmarkError(f"wrk failed: {done.stderr[-2000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["errors"] = sum(figures[k] for k in ("connect", "read", "write", "status", "timeout"))
    figures["per_second"] = figures["requests"] / figures["seconds"]
    return figures


def _run(base: str, path: str, body: str, cookie: str, prefix: str) -> dict:
    """One POST to check that it succeeds, a warm-up, then the measured run, whose addresses
    start with `prefix` followed by "m-"."""
    url = base + path
    status = _post_once(url, body.replace("EMAIL", f"{prefix}f%40example.invalid"), cookie)
    if status != 302:
        raise BenchmarkError(f"a POST to {path} answered {status}, not the redirect of a success")
    _wrk(url, body, cookie, f"{prefix}w-", WARM_UP)
    return _wrk(url, body, cookie, f"{prefix}m-", DURATION)


# --- Set-up and checks ----------------------------------------------------------------------------
def _csrf_secret() -> str:
    """A CSRF secret: Django accepts the unmasked secret as both the cookie and the token."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))


def _check_received(prefix: str, answered: int, broker_url: str) -> int:
    """Every signup answered was stored as sent, and a run of the task that records them is
    queued. Returns the signups stored."""
    stored = SignupIntake.objects.filter(email__startswith=prefix).count()
    # Requests cut off when wrk stops may have committed without their answers being counted: the
    # one in flight on each connection, and one more that wrk had written on it as it stopped.
    if not answered <= stored <= answered + 2 * CONNECTIONS:
        raise BenchmarkError(f"{answered:,} signups answered, {stored:,} stored")
    queued = _queued(
        redis.Redis.from_url(broker_url), "newsletters.tasks.process_signup_intakes_task"
    )
    if queued == 0:
        raise BenchmarkError(f"{stored:,} signups stored and no task queued to record them")
    return stored


def _queued(broker, task_name: str) -> int:
    return sum(
        json.loads(m)["headers"]["task"] == task_name for m in broker.lrange("celery", 0, -1)
    )


@contextmanager
def _worker(environment: dict[str, str]):
    """A Celery worker on the benchmark's broker, as production runs one, until the block ends."""
    worker = subprocess.Popen(  # noqa: S603
        [
            str(Path(sys.executable).parent / "celery"),
            "--app=concerthouse",
            "worker",
            f"--concurrency={WORKER_PROCESSES}",
            "--loglevel=warning",
            "--without-gossip",
            "--without-mingle",
        ],
        env=environment,
        cwd=settings.BASE_DIR,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def _record_and_confirm(environment: dict[str, str], prefix: str, stored: int) -> float:
    """Start a worker on the queue the run left and wait until it has recorded every signup (the
    person, the pending consent, the signup owing its link) and sent every confirmation email;
    returns the seconds that took."""
    started, since = time.perf_counter(), timezone.now()
    # Cheap to ask every second: the intakes are a small table, and the signups made since the
    # worker started are found by the index on unconfirmed signups, not among a million people.
    waiting = SignupIntake.objects.filter(email__startswith=prefix)
    unsent = Signup.objects.filter(
        confirmed_at__isnull=True,
        confirmation_requested_at__gte=since - timedelta(hours=1),
        confirmation_sent_at__isnull=True,
    )
    with _worker(environment) as worker:
        while waiting.exists() or unsent.exists():
            if worker.poll() is not None:
                raise BenchmarkError(f"the worker exited with {worker.returncode}")
            if time.perf_counter() - started > RECORD_TIMEOUT:
                raise BenchmarkError(f"not recorded and confirmed within {RECORD_TIMEOUT} s")
            time.sleep(1)
        seconds = time.perf_counter() - started
    people = Customer.objects.filter(email__startswith=prefix)
    recorded = (
        people.filter(consents__state="pending", newsletter_signups__isnull=False)
        .distinct()
        .count()
    )
    if recorded != stored:
        raise BenchmarkError(f"{stored:,} signups stored, {recorded:,} recorded with consent")
    return seconds


def _clean(prefix: str) -> None:
    """The run's people and everything that points at them (the database's ON DELETE CASCADE,
    concerthouse/migration_operations.py), in one statement; the minimal view's table. (The queue
    and the counts go with the run's Redis server.)"""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {Customer._meta.db_table} WHERE email LIKE %s",  # noqa: S608
            [prefix + "%"],
        )
        cursor.execute(
            f"DELETE FROM {SignupIntake._meta.db_table} WHERE email LIKE %s",  # noqa: S608
            [prefix + "%"],
        )
        cursor.execute(f"DROP TABLE IF EXISTS {MINIMAL_TABLE}")


@benchmark
def signup_throughput() -> Figures:
    """wrk against the newsletter signup and the minimal view, one after the other."""
    if not Path(WRK).exists():
        raise BenchmarkError(f"no wrk at {WRK} (Debian: apt-get install wrk; `make bench` does)")
    _register()  # a register of a million people, as production has
    run = f"load-{secrets.token_hex(3)}-"
    _clean("load-")  # what an interrupted earlier run left
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {MINIMAL_TABLE} (id bigserial PRIMARY KEY, "
            "email varchar(254) NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
        )
    token = _csrf_secret()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-static-") as static_root,
            _redis_server() as redis_url,
        ):
            environment = _environment(static_root, redis_url)
            with _server(environment) as base:
                signup_body, cookie_name = _signup_body(base, token)
                cookie = f"{cookie_name}={token}"
                minimal_body = f"csrfmiddlewaretoken={token}&email=EMAIL"
                minimal_before = _run(base, MINIMAL_PATH, minimal_body, cookie, f"{run}b-")
                signup = _run(base, SIGNUP_PATH, signup_body, cookie, run)
                minimal_after = _run(base, MINIMAL_PATH, minimal_body, cookie, f"{run}a-")
            measured = f"{run}m-"
            stored = _check_received(
                measured, signup["requests"] - signup["errors"], environment["CELERY_BROKER_URL"]
            )
            # Everything the run received, warm-up included, is recorded by the worker.
            received = SignupIntake.objects.filter(email__startswith=run).count()
            record_seconds = _record_and_confirm(environment, run, received)
    finally:
        _clean("load-")
    minimal_per_second = (minimal_before["per_second"] + minimal_after["per_second"]) / 2
    ratio = signup["per_second"] / minimal_per_second
    server = f"gunicorn {SERVER_PROCESSES} sync workers, wrk {CONNECTIONS} connections {DURATION} s"
    return Figures(
        results=(
            Result(
                label=(
                    f"newsletter signup POST throughput / minimal view ({signup['per_second']:,.0f}"
                    f" vs {minimal_per_second:,.0f} req/s, the mean of "
                    f"{minimal_before['per_second']:,.0f} before and "
                    f"{minimal_after['per_second']:,.0f} after), {server}"
                ),
                value=ratio,
                unit="x",
                target=RATIO_TARGET,
                higher_is_better=True,
            ),
            Result(
                label=(
                    f"newsletter signup POST p99 latency (p50 {signup['p50_ms']:.1f} ms, max "
                    f"{signup['max_ms']:,.0f} ms; minimal view p99 {minimal_before['p99_ms']:.1f} "
                    f"and {minimal_after['p99_ms']:.1f} ms)"
                ),
                value=signup["p99_ms"],
                unit="ms",
                target=P99_TARGET_MS,
            ),
            Result(
                label=(
                    f"newsletter signup POST errors (non-2xx/3xx and socket), {stored:,} signups "
                    f"stored, each with a run queued to record it"
                ),
                value=signup["errors"],
                unit="errors",
                target=1,
            ),
            Result(
                label=(
                    f"signups recorded (person, pending consent, signup) and confirmation emails "
                    f"sent by a Celery worker of {WORKER_PROCESSES} processes, after the run: "
                    f"{received:,} in {record_seconds:,.1f} s"
                ),
                value=received / record_seconds,
                unit="signups/s",
                target=RECORD_TARGET_PER_SECOND,
                higher_is_better=True,
            ),
        )
    )
