"""Retention: the daily purge of a million expired leads, and the engine against the naive way.

The register is generated in PostgreSQL (generate_series), as in the other benchmarks. Every lead
has the rows a real one has: two consent-ledger events (confirmed, then withdrawn), the consent they
left withdrawn, and a newsletter delivery (campaigns enough for the delivery table's one row per
campaign and person). Beside the expired leads are people the purge must leave alone, each a rule of
`customers.leads` and of the engine: leads seen recently, expired leads who are restricted (Art. 18)
or whose consent stands, and customers. Their rows are counted before and after; so are the
expired leads', which must all be gone, with nothing pointing at a person who no longer exists.

The million-lead purge runs in a fresh Python process, as a Celery worker runs it, so that its peak
resident memory belongs to the purge alone (measured as benchmarks/imports.py does). Its time is
that of `retention.engine.purge` from the claim of the lock to the run marked finished, every rule
included, with the batch size and the lanes as configured (RETENTION_BATCH_SIZE,
RETENTION_PARALLELISM). Most of it is PostgreSQL's: it checks every foreign key that points at a
deleted row (eleven point at a person) row by row, which is why the lanes work at once.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from concerthouse.models import AuditEntry
from consent.models import Consent, ConsentEvent, NoticeVersion, Purpose
from customers.models import Customer
from newsletters.models import Campaign, Delivery
from retention import engine
from retention.models import Run

from . import (
    BenchmarkError,
    Result,
    benchmark,
    insert_select,
    measure_in_child,
    truncate,
    vacuum_analyze,
)
from .campaigns import _insert_people

LEADS = 1_000_000
TARGET_SECONDS = 60
MEMORY_TARGET_MB = 300
SAMPLE = 10_000  # leads purged both ways, engine and naive
SPEEDUP_TARGET = 20
CAMPAIGNS = 10
LEADS_RULE = "customers.leads"

# The people who must survive, by group: how many, and what they are. Each group's last activity is
# an SQL expression over `n`, the person's number in the group.
EXPIRED = "now() - interval '3 years' - interval '1 day' - n * interval '1 second'"
SURVIVORS = {
    "recent": (1_000, {"last_activity_at": "now() - n * interval '1 minute'"}),
    "restricted": (
        100,
        {
            "last_activity_at": EXPIRED,
            "restricted_at": "now() - interval '1 day'",
            "restriction_ground": f"'{Customer.RestrictionGround.ACCURACY_CONTESTED}'",
        },
    ),
    "consenting": (100, {"last_activity_at": EXPIRED}),  # their consent is confirmed, below
    "customers": (100, {"last_activity_at": EXPIRED, "kind": f"'{Customer.Kind.CUSTOMER}'"}),
}


@dataclass(frozen=True)
class Figures:
    """Several figures of one measurement, each with its target: one line each, and a miss if
    any misses (the command asks only for `ok` and the text)."""

    results: tuple[Result, ...]

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    def __str__(self) -> str:
        return "\n".join(str(result) for result in self.results)


# --- The register ---------------------------------------------------------------------------------
def _group(name: str) -> str:
    return f"bench-retention-{name}-"


def _of_group(name: str, *, joined: str = "") -> tuple[str, list]:
    """The customers `c` of one group (joined with `joined`), as a FROM clause for insert_select,
    and its parameters."""
    return f"{Customer._meta.db_table} AS c {joined} WHERE c.email LIKE %s", [f"{_group(name)}%"]


def _add_rows(name: str, *, ledger, campaigns, consent: str, delivered: str) -> None:
    """Each person of group `name`: two ledger events, a consent in state `consent`, and one
    delivery created at `delivered` (an SQL expression over the customer `c`)."""
    purpose_id, notice_id = ledger
    source, params = _of_group(name)
    # Confirmed a month before the last contact, withdrawn at it.
    actions = "CROSS JOIN (VALUES ('confirmed', 30), ('withdrawn', 0)) AS a(action, days_before)"
    with_actions, _params = _of_group(name, joined=actions)
    insert_select(
        ConsentEvent,
        {
            "customer_id": "c.id",
            "purpose_id": "%s",
            "notice_id": "%s",
            "action": "a.action",
            "channel": "'web_signup'",
            "at": "c.last_activity_at - a.days_before * interval '1 day'",
            "evidence": "'confirmation link ' || md5(c.id::text)",
        },
        source=with_actions,
        params=[purpose_id, notice_id, *params],
    )
    insert_select(
        Consent,
        {
            "customer_id": "c.id",
            "purpose_id": "%s",
            "notice_id": "%s",
            "state": "%s",
            "changed_at": "c.last_activity_at",
            "confirmed_at": "c.last_activity_at - interval '30 days'",
        },
        source=source,
        params=[purpose_id, notice_id, consent, *params],
    )
    insert_select(
        Delivery,
        {
            "campaign_id": "(%s::bigint[])[1 + c.id %% %s]",
            "customer_id": "c.id",
            "status": "'sent'",
            "created_at": delivered,
            "sent_at": delivered,
            "tracked": "false",
        },
        source=source,
        params=[campaigns, len(campaigns), *params],
    )


def _fill(leads: int) -> None:
    """`leads` expired leads and the survivors, each with their rows; planner statistics fresh."""
    truncate(Customer, Campaign, AuditEntry, Run)
    news = Purpose.objects.get(code="news")
    notice = NoticeVersion.objects.filter(purpose=news, language="en").order_by("-version").first()
    ledger = (news.pk, notice.pk)
    insert_select(
        Campaign,
        {
            "name": "'Newsletter ' || n",
            "purpose_id": "%s",
            "status": "'sent'",
            "scheduled_at": "now() - n * interval '30 days'",
            "finished_at": "now() - n * interval '30 days'",
        },
        source="generate_series(1, %s) AS n",
        params=[news.pk, CAMPAIGNS],
    )
    campaigns = list(Campaign.objects.order_by("pk").values_list("pk", flat=True))
    sources = "(ARRAY['fair_or_meeting', 'web_signup', 'box_office', 'ticket_agent'])[1 + n %% 4]"
    _insert_people(
        "retention-expired", leads, kind="'lead'", last_activity_at=EXPIRED, source=sources
    )
    # The expired leads' deliveries are as old as their last contact.
    _add_rows(
        "expired",
        ledger=ledger,
        campaigns=campaigns,
        consent=Consent.State.WITHDRAWN,
        delivered="c.last_activity_at",
    )
    for name, (count, columns) in SURVIVORS.items():
        _insert_people(f"retention-{name}", count, **{"kind": "'lead'", **columns})
        # Recent deliveries, so that the delivery log's own rule keeps them too.
        _add_rows(
            name,
            ledger=ledger,
            campaigns=campaigns,
            consent=Consent.State.CONFIRMED if name == "consenting" else Consent.State.WITHDRAWN,
            delivered="now() - interval '30 days'",
        )
    vacuum_analyze(Customer, Consent, ConsentEvent, Campaign, Delivery)


def _rows(name: str) -> dict[str, int]:
    """The rows of one group, table by table."""
    prefix = _group(name)
    return {
        "people": Customer.objects.filter(email__startswith=prefix).count(),
        "consent events": ConsentEvent.objects.filter(customer__email__startswith=prefix).count(),
        "consents": Consent.objects.filter(customer__email__startswith=prefix).count(),
        "deliveries": Delivery.objects.filter(customer__email__startswith=prefix).count(),
    }


def _survivors() -> dict[str, dict[str, int]]:
    return {name: _rows(name) for name in SURVIVORS}


def _generated(count: int) -> dict[str, int]:
    """The rows _fill gives `count` people."""
    return {"people": count, "consent events": 2 * count, "consents": count, "deliveries": count}


def _check_purged(survivors: dict[str, dict[str, int]]) -> None:
    """No expired lead left, nothing pointing at a person who is gone, every survivor whole."""
    left = _rows("expired")
    if any(left.values()):
        raise BenchmarkError(f"the expired leads left {left}")
    person = Customer.objects.filter(pk=OuterRef("customer_id"))
    orphans = {
        model.__name__: model.objects.filter(~Exists(person)).count()
        for model in (ConsentEvent, Consent, Delivery)
    }
    if any(orphans.values()):
        raise BenchmarkError(f"rows of people who are gone: {orphans}")
    after = _survivors()
    if after != survivors:
        raise BenchmarkError(f"the survivors changed: {after}, expected {survivors}")
    totals = {
        "people": Customer.objects.count(),
        "consent events": ConsentEvent.objects.count(),
        "consents": Consent.objects.count(),
        "deliveries": Delivery.objects.count(),
    }
    expected = {what: sum(rows[what] for rows in survivors.values()) for what in totals}
    if totals != expected:
        raise BenchmarkError(f"the tables hold {totals}, expected {expected}")


def _check_run(run: Run | None, leads: int) -> None:
    if run is None or run.status != Run.Status.FINISHED:
        raise BenchmarkError(f"the run ended {run and run.status}, not finished")
    purged = run.rules.get(rule=LEADS_RULE)
    if (purged.rows, purged.related_rows) != (leads, 4 * leads):
        raise BenchmarkError(
            f"{LEADS_RULE} purged {purged.rows:,} leads and {purged.related_rows:,} related rows, "
            f"not {leads:,} and {4 * leads:,}"
        )


def _prepare(leads: int) -> dict[str, dict[str, int]]:
    _fill(leads)
    survivors = _survivors()
    if survivors != {name: _generated(count) for name, (count, _columns) in SURVIVORS.items()}:
        raise BenchmarkError(f"the survivors were not generated as meant: {survivors}")
    expired = _rows("expired")
    if expired != _generated(leads):
        raise BenchmarkError(f"the expired leads were not generated as meant: {expired}")
    return survivors


# --- A million leads ------------------------------------------------------------------------------
@benchmark
def purge_million() -> Figures:
    """retention.engine.purge on a million expired leads with four rows each: time and memory."""
    survivors = _prepare(LEADS)
    figure = measure_in_child(
        setup="from retention import engine\nfrom retention.models import Run",
        call="engine.purge(trigger=Run.Trigger.COMMAND)",
        report="result and result.pk",
    )
    run = Run.objects.filter(pk=figure.result).first()
    _check_run(run, LEADS)
    _check_purged(survivors)
    seconds = figure.seconds
    rows = 5 * LEADS
    lanes = run.rules.get(rule=LEADS_RULE).lanes
    return Figures(
        (
            Result(
                label=(
                    f"retention purge, {LEADS:,} expired leads with {rows - LEADS:,} related rows "
                    f"at {rows / seconds:,.0f} rows/s, batches of {settings.RETENTION_BATCH_SIZE:,} "
                    f"in {lanes} lanes"
                ),
                value=seconds,
                unit="s",
                target=TARGET_SECONDS,
            ),
            Result(
                label=f"retention purge, {LEADS:,} expired leads: peak memory growth",
                value=figure.memory,
                unit="MB",
                target=MEMORY_TARGET_MB,
            ),
        )
    )


# --- The engine against the naive way -------------------------------------------------------------
def _naive_purge() -> int:
    """What the engine replaces: every expired lead loaded and deleted through the ORM, one at a
    time, Django's Collector following the cascades."""
    (model, rule), *_rest = [
        (model, rule) for model, rule in engine.retention_rules() if rule.code == LEADS_RULE
    ]
    expired = list(
        engine.candidates(model, rule, timezone.now()).order_by("pk").values_list("pk", flat=True)
    )
    for pk in expired:
        Customer.objects.get(pk=pk).delete()
    return len(expired)


@benchmark
def versus_naive() -> Result:
    """The engine against Customer.delete() lead by lead, on the same 10,000 leads."""
    survivors = _prepare(SAMPLE)
    started = time.perf_counter()
    run = engine.purge(trigger=Run.Trigger.COMMAND)
    engine_seconds = time.perf_counter() - started
    _check_run(run, SAMPLE)
    _check_purged(survivors)

    survivors = _prepare(SAMPLE)
    started = time.perf_counter()
    deleted = _naive_purge()
    naive_seconds = time.perf_counter() - started
    if deleted != SAMPLE:
        raise BenchmarkError(f"the naive way found {deleted:,} expired leads, not {SAMPLE:,}")
    _check_purged(survivors)
    return Result(
        label=(
            f"retention purge of {SAMPLE:,} expired leads with {4 * SAMPLE:,} related rows: "
            f"engine {engine_seconds:.2f} s, naive Customer.delete() one by one "
            f"{naive_seconds:.1f} s; the engine is faster by"
        ),
        value=naive_seconds / engine_seconds,
        unit="x",
        target=SPEEDUP_TARGET,
        higher_is_better=True,
    )
