"""Personal-data breaches: the affected set of a breach at a ticket agent that held a million
people's data, and the queueing of their Art. 34 messages.

The register is generated in PostgreSQL (INSERT ... SELECT over generate_series): a million people
a ticket agent's imports brought in, each with the order the agent sold them, and 100,000 others
who never bought through it (web signups) and must stay out of the set. The scope is the agent's
register entry up to now; the figures are the set recorded (counting the people and their records
per category through the personal-data map, and storing the set, in one transaction), the count
the DPO sees before recording, and the messages queued for every person.
"""

import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from concerthouse.models import AuditEntry
from concerthouse.privacy.map import RecipientKind
from concerthouse.roles import Role
from customers.models import Customer
from privacy_requests import breach_services as breaches
from privacy_requests.models import (
    AffectedPerson,
    AuthorityNotification,
    Breach,
    BreachEvent,
    BreachScope,
    Processor,
)
from subscriptions.models import Order

from . import BenchmarkError, Result, benchmark, insert_select, truncate, vacuum_analyze

PEOPLE = 1_000_000
OTHERS = 100_000
SET_TARGET_SECONDS = 10
QUEUE_TARGET_PER_SECOND = 2_000
MARKER = "bench-breach"
MESSAGE = {
    language: {"happened": "Happened.", "consequences": "Consequences.", "measures": "Measures."}
    for language in ("sv", "nb", "en")
}


def _dpo():
    user, _created = get_user_model().objects.get_or_create(
        username="bench-dpo", defaults={"is_staff": True}
    )
    user.groups.add(Group.objects.get(name=Role.DPO.value))
    return get_user_model().objects.get(pk=user.pk)  # fresh permission cache


def _kept() -> bool:
    """Whether the register holds this benchmark's fill, whole, from an earlier run."""
    return (
        Customer.objects.count() == PEOPLE + OTHERS
        and Customer.objects.filter(source_detail="Eventim").count() == PEOPLE
        and Order.objects.count() == PEOPLE
    )


def _register() -> None:
    """A million of the agent's customers with their orders, and people it never held; kept
    for the next run if it is still whole (other benchmarks empty it)."""
    truncate(Breach, BreachEvent, BreachScope, AffectedPerson, Processor, AuthorityNotification)
    if not _kept():
        _fill()
    for kind, name, code in (
        (RecipientKind.TICKET_AGENT, "Eventim", "eventim"),
        (RecipientKind.MAIL, "Mail service", ""),
    ):
        Processor.objects.create(
            name=name,
            role=Processor.Role.PROCESSOR,
            kind=kind,
            recipient_code=code,
            purposes={"en": name},
            data_categories=["contact", "accounting"],
            country="SE",
            erasure_contact="privacy@example.invalid",
        )


def _fill() -> None:
    truncate(Customer, Order, AuditEntry)
    insert_select(
        Customer,
        {
            "email": "'bench-breach-' || n || '@example.invalid'",
            "first_name": "(ARRAY['Märta', 'Åse', 'Jens', 'Ingrid'])[1 + n %% 4]",
            "last_name": "'Person ' || n",
            "preferred_language": "(ARRAY['sv', 'nb', 'en'])[1 + n %% 3]",
            "country": "'SE'",
            "kind": "'customer'",
            "source": "'ticket_agent'",
            "source_detail": "'Eventim'",
            "created_at": "now() - interval '30 days'",
            "updated_at": "now() - interval '30 days'",
        },
        source="generate_series(1, %s) AS n",
        params=[PEOPLE],
    )
    insert_select(
        Order,
        {
            "reference": "'eventim:' || id",
            "customer_id": "id",
            "buyer_name": "first_name || ' ' || last_name",
            "description": "'Torsdagsserien, 2 platser'",
            "amount": "2900",
            "currency": "'SEK'",
            "ordered_on": "current_date - 30",
            "channel": "'ticket_agent'",
            "financial_year_ends_on": "make_date(extract(year from current_date)::int, 12, 31)",
        },
        source=f"{Customer._meta.db_table}",
    )
    insert_select(
        Customer,
        {
            "email": "'bench-web-' || n || '@example.invalid'",
            "preferred_language": "'sv'",
            "country": "'SE'",
            "source": "'web_signup'",
        },
        source="generate_series(1, %s) AS n",
        params=[OTHERS],
    )
    vacuum_analyze(Customer, Order, AffectedPerson)


def _breach(dpo) -> Breach:
    return breaches.breach_record(
        actor=dpo,
        title="The agent's customer database was read",
        description="Benchmark.",
        aware_at=timezone.now(),
        discovered=Breach.Discovery.PROCESSOR,
        natures=[Breach.Nature.CONFIDENTIALITY],
        processor=Processor.objects.get(recipient_code="eventim"),
        data_categories=["contact", "accounting"],
    )


@benchmark
def affected_million() -> list[Result]:
    """breach_scope_count and breach_scope_record for a breach at a ticket agent that held a
    million people's data; then breach_notices_queue for all of them."""
    _register()
    dpo = _dpo()
    breach = _breach(dpo)
    scope = breaches.Scope(processor=breach.processor, until=timezone.now())

    started = time.perf_counter()
    counted = breaches.breach_scope_count(scope=scope)
    count_seconds = time.perf_counter() - started

    started = time.perf_counter()
    recorded = breaches.breach_scope_record(breach=breach, actor=dpo, scope=scope)
    record_seconds = time.perf_counter() - started

    if not counted.people == recorded.people == recorded.added == PEOPLE:
        raise BenchmarkError(f"{recorded.added:,} people recorded, not {PEOPLE:,}")
    if counted.categories != {"contact": PEOPLE, "accounting": PEOPLE}:
        raise BenchmarkError(f"records counted wrong: {counted.categories}")
    if breach.affected.filter(person__source="web_signup").exists():
        raise BenchmarkError("people the agent never held are in the set")

    breaches.breach_decide_people(breach=breach, actor=dpo, decision="tell", reason="Benchmark.")
    breaches.breach_set_message(breach=breach, actor=dpo, texts=MESSAGE)
    # Rolled back once timed: its commit would start sending a million messages (the send task
    # runs in this process without a broker), which is not what is measured here.
    with transaction.atomic():
        started = time.perf_counter()
        queued = breaches.breach_notices_queue(breach=breach, actor=dpo)
        queue_seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    if queued != PEOPLE:
        raise BenchmarkError(f"{queued:,} messages queued, not {PEOPLE:,}")
    truncate(AffectedPerson)

    return [
        Result(
            label=f"breach affected set recorded (counted per category and stored), {PEOPLE:,} "
            f"of {PEOPLE + OTHERS:,} people (PostgreSQL)",
            value=record_seconds,
            unit="s",
            target=SET_TARGET_SECONDS,
        ),
        Result(
            label=f"breach affected set counted for the DPO before recording, {PEOPLE:,} people",
            value=count_seconds,
            unit="s",
            target=SET_TARGET_SECONDS,
        ),
        Result(
            label=f"breach messages queued, {PEOPLE:,} people",
            value=queued / queue_seconds,
            unit="people/s",
            target=QUEUE_TARGET_PER_SECOND,
            higher_is_better=True,
        ),
    ]
