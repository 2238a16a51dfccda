"""Ticket-agent imports: a 100,000-row file in under 60 s, with constant memory.

The file is written to disk row by row, as an agent's export arrives: about 70% new people (some
of them buying twice, so their address comes again later in the file), 20% people the register
already holds (created beforehand in SQL, a few of them restricted, some written in other case),
and 1% bad rows of five kinds, one of them an address on the suppression list.

Each import runs in a fresh Python process, as a Celery worker runs it, so that its peak resident
memory belongs to the import alone: the peak's growth over the process's size before the import
is measured for a 10,000-row file and for the 100,000-row one. Memory is constant when the ten
times larger file needs hardly more than the smaller one (what is held is a batch,
IMPORT_BATCH_SIZE rows): the figure is the difference, against a bound far below what keeping
anything per row would cost. The time is that of the 100,000-row import, from opening the file to
the run marked done; the Art. 14 notices it owes are queued for another worker (an in-memory
broker in the child process here), not sent within the import.
"""

import csv
import functools
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from concerthouse.models import AuditEntry
from concerthouse.roles import Role
from consent.models import Consent, ConsentEvent
from customers.models import Customer
from newsletters.models import Suppression
from newsletters.services import suppression_hash
from subscriptions import imports
from subscriptions.models import (
    ImportRowError,
    Order,
    Season,
    SeasonSubscription,
    Series,
    SourceNotice,
    TicketAgentImport,
)

from . import (
    BenchmarkError,
    Measured,
    Result,
    benchmark,
    measure_in_child,
    truncate,
    vacuum_analyze,
)
from .campaigns import _insert_people

ROWS = 100_000
SMALL = 10_000
TARGET_SECONDS = 60
# What the 90,000 rows more may add to the peak: keeping 110 bytes a row (one small object) would
# add this much, keeping the rows themselves a hundred times more.
MEMORY_TARGET_MB = 10
KNOWN = 20_000  # people in the register before the import
SERIES = ("bench-thu", "bench-sat", "bench-sun")

FIRST_NAMES = ["Åse", "Märta", "Örjan", "Ærlig", "Sofia", "Lars", "Ingrid", "Ola", "Kari", "Erik"]
LAST_NAMES = ["Ødegård", "Ångström", "Öberg", "Nordmann", "Lindqvist", "Hansen", "Sjöberg"]
CITIES = {"SE": ["Örebro", "Malmö", "Göteborg"], "NO": ["Tromsø", "Bergen", "Oslo"], "GB": ["York"]}


@dataclass
class Expected:
    """What a correct import of the generated file must end with."""

    rows: int = 0
    booked: int = 0
    rejected: int = 0
    created: int = 0


def _row(prefix: str, n: int, email: str, *, today) -> list[str]:
    country = ("SE", "SE", "NO", "GB")[n % 4]
    phone = {
        "SE": f"070-{n % 10_000_000:07d}",
        "NO": f"+47 9{n % 10_000_000:07d}",
        "GB": "",
    }[country]
    seats = 1 + n % 4
    day = today - timedelta(days=n % 60)
    return [
        f"{prefix}{n}",
        email,
        FIRST_NAMES[n % len(FIRST_NAMES)],
        LAST_NAMES[n % len(LAST_NAMES)],
        SERIES[n % len(SERIES)],
        str(seats),
        # Either decimal mark, as spreadsheets in the two countries write it.
        f"{Decimal(1450) * seats:.2f}".replace(".", "," if n % 2 else "."),
        day.isoformat() if n % 3 else day.strftime("%d.%m.%Y"),
        phone if n % 10 < 7 else "",
        f"Storgatan {n % 200 + 1}",
        f"{n % 90_000 + 10_000}",
        CITIES[country][n % len(CITIES[country])],
        country,
        ("sv", "no", "en", "")[n % 4],
    ]


def _write_file(path: Path, prefix: str, rows: int, restricted: set[str]) -> tuple[Expected, list]:
    """Write the file row by row (nothing of it is held); return what the import must give and
    the addresses to put on the suppression list."""
    expected, suppressed = Expected(rows=rows), []
    today = timezone.localdate()
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow([*imports.REQUIRED, *imports.OPTIONAL[:-1]])
        for n in range(rows):
            kind = n % 100
            if kind < 20:  # someone the register knows, sometimes written in another case
                email = f"bench-import-known-{n % KNOWN + 1}@example.invalid"
                bad = email in restricted
                if n % 7 == 0:
                    email = f" {email.upper()} "
                values = _row(prefix, n, email, today=today)
            elif kind < 29 and n >= 100:  # a new person from earlier in the file buys again
                email = f"bench-import-{prefix}-{n - 100 + 9}@example.invalid"
                values, bad = _row(prefix, n, email, today=today), False
            elif kind < 99:  # someone new
                email = f"bench-import-{prefix}-{n}@example.invalid"
                values, bad = _row(prefix, n, email, today=today), False
                expected.created += 1
            else:  # 1%: a bad row, one of five kinds
                email = f"bench-import-{prefix}-bad-{n}@example.invalid"
                values, bad = _row(prefix, n, email, today=today), True
                fault = (n // 100) % 5
                if fault == 0:
                    values[1] = "not-an-address"
                elif fault == 1:
                    values[4] = "no-such-series"
                elif fault == 2:
                    values[7] = "31/02/2026"
                elif fault == 3:
                    values[5] = "0"
                else:
                    suppressed.append(email)
            writer.writerow(values)
            expected.booked += not bad
            expected.rejected += bad
    return expected, suppressed


def _setup() -> tuple[object, set[str]]:
    truncate(Customer, Season, TicketAgentImport, Order, Suppression, AuditEntry)
    today = timezone.localdate()
    season = Season.objects.create(
        name="Benchmark", starts_on=today - timedelta(days=90), ends_on=today + timedelta(days=270)
    )
    Series.objects.bulk_create(
        Series(
            season=season,
            code=code,
            name=code,
            price_per_seat=Decimal(1450),
            currency="SEK",
            capacity=1_000_000,
        )
        for code in SERIES
    )
    _insert_people("import-known", KNOWN, kind="'customer'")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Customer._meta.db_table} SET restricted_at = now(), "  # noqa: S608
            "restriction_ground = %s WHERE email LIKE %s AND id %% 500 = 0 RETURNING email",
            [Customer.RestrictionGround.ACCURACY_CONTESTED, "bench-import-known-%"],
        )
        restricted = {email for (email,) in cursor.fetchall()}
    vacuum_analyze(Customer, Suppression, Order)
    user, _created = get_user_model().objects.get_or_create(
        username="bench-box-office", defaults={"is_staff": True}
    )
    user.groups.add(Group.objects.get(name=Role.BOX_OFFICE.value))
    return user, restricted


# The notices task is queued, as for a worker elsewhere; not sent within the import.
_QUEUE_ONLY = """
from concerthouse.celery import app
from subscriptions import imports
app.conf.task_always_eager = False
app.conf.broker_url = "memory://"
"""


def _import_in_child(run: TicketAgentImport, media: Path) -> Measured:
    return measure_in_child(
        setup=_QUEUE_ONLY,
        call="imports.import_run(run_id=int(sys.argv[1]))",
        report="result.status",
        args=[run.pk],
        env={"PRIVATE_MEDIA_ROOT": str(media)},
    )


def _check(run: TicketAgentImport, expected: Expected, before: dict) -> None:
    run.refresh_from_db()
    got = (run.status, run.rows_done, run.booked_count, run.rejected_count, run.created_count)
    want = (run.Status.DONE, expected.rows, expected.booked, expected.rejected, expected.created)
    if got != want:
        raise BenchmarkError(f"import ended with {got}, expected {want}")
    counts = {
        "customers": Customer.objects.count() - before["customers"],
        "orders": Order.objects.count() - before["orders"],
        "subscriptions": SeasonSubscription.objects.count() - before["subscriptions"],
        "notices": SourceNotice.objects.count() - before["notices"],
        "errors": ImportRowError.objects.filter(run=run).count(),
    }
    want_counts = {
        "customers": expected.created,
        "orders": expected.booked,
        "subscriptions": expected.booked,
        "notices": expected.created,
        "errors": expected.rejected,
    }
    if counts != want_counts:
        raise BenchmarkError(f"the tables hold {counts}, expected {want_counts}")
    if Consent.objects.exists() or ConsentEvent.objects.exists():
        raise BenchmarkError("the import created consent")
    if imports.import_path(run).exists():
        raise BenchmarkError("the file outlived the import")


def _counts() -> dict:
    return {
        "customers": Customer.objects.count(),
        "orders": Order.objects.count(),
        "subscriptions": SeasonSubscription.objects.count(),
        "notices": SourceNotice.objects.count(),
    }


@functools.cache
def _measure() -> dict[int, tuple[Measured, int]]:
    """Import a 10,000-row file, then a 100,000-row one, each in a fresh process: the figures of
    both benchmarks below, measured once."""
    user, restricted = _setup()
    figures = {}
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as media:
        media = Path(media)
        with override_settings(PRIVATE_MEDIA_ROOT=media):
            for prefix, rows in (("s", SMALL), ("l", ROWS)):
                run = TicketAgentImport.objects.create(
                    agent="Eventim", file_name=f"bench-{rows}.csv", uploaded_by=user
                )
                path = imports.import_path(run)
                path.parent.mkdir(parents=True, exist_ok=True)
                expected, suppressed = _write_file(path, prefix, rows, restricted)
                Suppression.objects.bulk_create(
                    Suppression(email_hash=suppression_hash(e), reason=Suppression.Reason.ERASED)
                    for e in suppressed
                )
                size = path.stat().st_size
                before = _counts()
                figures[rows] = (_import_in_child(run, media), size)
                _check(run, expected, before)
    return figures


@benchmark
def file_100k() -> Result:
    """import_run on a 100,000-row file: time and rate."""
    figure, size = _measure()[ROWS]
    rate = ROWS / figure.seconds
    return Result(
        label=(
            f"ticket-agent import, {ROWS:,}-row file ({size / 2**20:.1f} MB; "
            f"70% new people, 9% buying again, 20% known, 1% bad) at {rate:,.0f} rows/s "
            "(PostgreSQL)"
        ),
        value=figure.seconds,
        unit="s",
        target=TARGET_SECONDS,
    )


@benchmark
def memory() -> Result:
    """The import's peak memory does not grow with the file: 100,000 rows against 10,000."""
    figures = _measure()
    small, large = figures[SMALL][0].memory, figures[ROWS][0].memory
    return Result(
        label=(
            f"ticket-agent import, constant memory: peak growth {large:.1f} MB for {ROWS:,} rows "
            f"against {small:.1f} MB for {SMALL:,} (x{large / max(small, 0.1):.2f}), a difference of"
        ),
        value=large - small,
        unit="MB",
        target=MEMORY_TARGET_MB,
    )
