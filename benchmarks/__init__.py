"""Benchmarks: real measurements against PostgreSQL, run by `make bench` (`manage.py bench`).

One module per subject in this package; each function decorated with `@benchmark` sets up its own
data, measures one thing, and returns a `Result` that knows its target. Benchmarks own their
database: they TRUNCATE what they fill, which is why the command runs only on a database whose name
says it is for benchmarks.

This module imports nothing that needs Django to be set up, because the SMTP sink below runs in a
freshly spawned process that imports it.
"""

import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, models

# Filled by @benchmark as the command imports the modules: {"campaigns.send_rate": function}.
REGISTRY: dict[str, Callable[[], "Result | list[Result]"]] = {}


def benchmark(function: Callable[[], "Result"]) -> Callable[[], "Result"]:
    """Register a benchmark under "<module>.<function>", e.g. "campaigns.send_rate"."""
    module = function.__module__.removeprefix(f"{__name__}.")
    REGISTRY[f"{module}.{function.__name__}"] = function
    return function


class BenchmarkError(Exception):
    """The benchmark did not do what it measures (a wrong row count, a lost message): the figure
    would be meaningless, so there is none."""


@dataclass(frozen=True)
class Result:
    label: str
    value: float
    unit: str
    target: float
    higher_is_better: bool = False  # False for a duration: it must stay below the target

    @property
    def ok(self) -> bool:
        return self.value >= self.target if self.higher_is_better else self.value < self.target

    def __str__(self) -> str:
        decimals = 0 if self.value >= 100 else 2
        comparison = ">=" if self.higher_is_better else "<"
        return (
            f"{self.label}: {self.value:,.{decimals}f} {self.unit} "
            f"(target {comparison} {self.target:,g} {self.unit}) {'OK' if self.ok else 'MISSED'}"
        )


# --- Set-based fixtures ---------------------------------------------------------------------------
def truncate(*model_classes: type[models.Model]) -> None:
    """Empty these tables and everything that points at them, so that a rerun starts clean."""
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in model_classes)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def insert_select(
    model: type[models.Model], values: dict[str, str], *, source: str, params=()
) -> int:
    """INSERT INTO the model's table SELECT ... FROM `source`, in one statement for any number of
    rows; returns the number inserted.

    `values` maps column names to SQL expressions over `source`; `params` fill their %s
    placeholders, then those of `source`, in order (a literal % is written %%). Every other column gets what Django would have given it: its default (a
    callable one evaluated once, except UUIDs, which get `gen_random_uuid()` so that unique ids stay
    unique), `now()` for auto_now fields, NULL where allowed. A NOT NULL column without any of
    these raises, so that a column added to the model later cannot be silently left out here.
    """
    columns, expressions, default_params = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.column in values:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            expressions.append("now()")
        elif isinstance(field, models.UUIDField) and callable(field.default):
            expressions.append("gen_random_uuid()")
        elif field.has_default() or (not field.null and field.empty_strings_allowed):
            expressions.append("%s")
            default_params.append(field.get_db_prep_save(field.get_default(), connection))
        elif field.null:
            continue
        else:
            raise ValueError(f"{model.__name__}.{field.name} is NOT NULL: give it a value")
        columns.append(field.column)
    # The defaults' placeholders come first in the SELECT list, so their parameters do too.
    columns += values
    expressions += values.values()
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 (names from the model)
            f"SELECT {', '.join(expressions)} FROM {source}",
            [*default_params, *params],
        )
        return cursor.rowcount


def vacuum_analyze(*model_classes: type[models.Model]) -> None:
    """What autovacuum has long since done to a real register's tables: planner statistics, hint
    bits and the visibility map. Without it a benchmark would measure the aftermath of its own bulk
    load rather than the query. (VACUUM cannot run in a transaction: call it outside atomic.)"""
    with connection.cursor() as cursor:
        for model in model_classes:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")


# --- Time and memory in a fresh process ----------------------------------------------------------
# The child: a fresh interpreter, as a Celery worker is, so that its peak resident memory belongs to
# the work measured alone. Starting Django peaks higher than it settles, so the peak is reset before
# the work (Linux: writing 5 to /proc/self/clear_refs resets VmHWM, the high-water mark of the
# resident set, to the present).
_CHILD = r"""
import gc, json, re, sys, time
import django
django.setup()
from django.db import connection
SETUP
connection.ensure_connection()
def status(name):
    with open("/proc/self/status") as status:
        return int(re.search(name + r":\s+(\d+) kB", status.read()).group(1)) * 1024
gc.collect()
with open("/proc/self/clear_refs", "w") as clear_refs:
    clear_refs.write("5")
before = status("VmRSS")
started = time.perf_counter()
result = CALL
seconds = time.perf_counter() - started
peak = status("VmHWM")
print(json.dumps({"seconds": seconds, "memory": (peak - before) / 2**20, "result": REPORT}))
"""


@dataclass(frozen=True)
class Measured:
    seconds: float
    memory: float  # peak resident memory growth, MB
    result: object  # what `report` made of the call's result, through JSON


def measure_in_child(
    *, setup: str, call: str, report: str, args=(), env: dict[str, str] | None = None
) -> Measured:
    """Run the Python lines `setup` in a fresh process with Django set up, then time the expression
    `call` (its value is `result`; `sys.argv[1:]` are `args`) and measure its peak memory; `report`
    is an expression over `result` to bring back. The environment is this one's, plus `env`, with
    DEBUG off: with it on, Django would keep every query in memory."""
    script = _CHILD.replace("SETUP", setup).replace("CALL", call).replace("REPORT", report)
    done = subprocess.run(  # noqa: S603 (this interpreter, this package's code)
        [sys.executable, "-c", script, *map(str, args)],
        env={**os.environ, **(env or {}), "DEBUG": "false"},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=30 * 60,
        check=False,
    )
    if done.returncode != 0:
        raise BenchmarkError(f"the child process failed:\n{done.stderr[-3000:]}")
    return Measured(**json.loads(done.stdout.strip().splitlines()[-1]))


# --- A local SMTP sink ----------------------------------------------------------------------------
class _CountingHandler:
    """Accepts every message and counts it; the sender waits for the 250 reply, so the count is
    complete as soon as the last send returns."""

    def __init__(self, received):
        self.received = received

    async def handle_DATA(self, server, session, envelope):
        with self.received.get_lock():
            self.received.value += 1
        return "250 OK"


def _serve_smtp_sink(port_writer, received) -> None:
    from aiosmtpd.smtp import SMTP

    async def serve():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            # A fixed hostname: without one aiosmtpd asks DNS (socket.getfqdn) on every connection.
            lambda: SMTP(_CountingHandler(received), hostname="bench-sink"),
            host="127.0.0.1",
            port=0,  # any free port, reported back to the parent
        )
        port_writer.send(server.sockets[0].getsockname()[1])
        await server.serve_forever()  # until the parent terminates the process

    asyncio.run(serve())


@dataclass(frozen=True)
class SmtpSink:
    port: int
    _received: object

    @property
    def received(self) -> int:
        return self._received.value


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    """An SMTP server on 127.0.0.1 that accepts and counts, in a process of its own.

    A separate process, so that the sink never competes with the sender for the GIL, as a real mail
    server would not. Spawned, not forked: a fork would copy the parent's open database connection
    and Django's state into a process that needs neither.
    """
    context = multiprocessing.get_context("spawn")
    received = context.Value("Q", 0)
    port_reader, port_writer = context.Pipe(duplex=False)
    process = context.Process(
        target=_serve_smtp_sink, args=(port_writer, received), name="smtp-sink", daemon=True
    )
    process.start()
    try:
        if not port_reader.poll(timeout=30):
            raise BenchmarkError("the SMTP sink did not start within 30 s")
        yield SmtpSink(port=port_reader.recv(), _received=received)
    finally:
        process.terminate()
        process.join()
