"""Privacy requests: the access package and the erasure of one person with many rows.

The target of the issue: both in under a second for a person with 10,000 related rows, with a number
of queries that does not grow with the rows. So each benchmark runs the full service twice, for a
person with a hundredth of the rows first and then for the large one, and compares the query counts;
only the large run's time is the figure.

The large person has 10,000 consent-ledger events and 10,000 newsletter deliveries (one per
campaign, as the delivery table allows), a consent per purpose and 300 audit entries about them:
20,306 rows besides their own. A thousand other people, with rows of every kind, are there so that
every query must filter, and so that the erasure can be checked to leave them alone.

The time is that of `privacy_request_execute` as a member of staff calls it, from the permission
check to the commit, including what runs on the commit: without a broker (as here) Celery runs the
answer's email and the Art. 19 notices eagerly, in the same call.
"""

import json
import logging
import re
import shutil
import tempfile
import time
import zipfile
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from concerthouse.models import AuditEntry
from concerthouse.privacy.map import PERSON_MODEL, RecipientKind, declarations
from concerthouse.roles import ROLE_PURPOSES, Role
from consent.defaults import PURPOSES
from consent.models import Consent, ConsentEvent, NoticeVersion, Purpose
from customers.models import Customer
from newsletters.models import Campaign, Delivery, Suppression
from newsletters.services import suppression_hash
from privacy_requests.models import AccessPackage, PrivacyRequest, Processor
from privacy_requests.packages import package_path
from privacy_requests.services import privacy_request_execute

from . import BenchmarkError, Result, benchmark, insert_select, truncate, vacuum_analyze
from .campaigns import _insert_people

LARGE = 10_000  # consent events, and deliveries, of the large person
SMALL = 100  # the same for the small one: a hundredth
AUDIT_PER_100 = 3  # audit entries about a person per hundred of the rows above
OTHERS = 1_000
TARGET_SECONDS = 1


@dataclass(frozen=True)
class Person:
    customer: Customer
    rows: int  # consent events, and deliveries
    related: int  # rows of the map that belong to the person, besides their own
    audit_ids: frozenset  # public ids of the audit entries about them


def _staff(username: str, role: Role):
    user, _created = get_user_model().objects.get_or_create(
        username=username, defaults={"is_staff": True}
    )
    user.groups.add(Group.objects.get(name=role.value))
    return user


def _fresh(user):
    """The user as a new web request loads it: no permission cache carried over between runs."""
    return type(user)._default_manager.get(pk=user.pk)


def _person(prefix: str) -> Customer:
    _insert_people(prefix, 1)
    return Customer.objects.get(email=f"bench-{prefix}-1@example.invalid")


def _fill(customer: Customer, rows: int, *, ledger, staff) -> Person:
    """`rows` consent events and `rows` deliveries, a consent per purpose, audit entries."""
    purpose_ids, notice_ids = ledger
    kinds = len(purpose_ids)
    insert_select(
        Consent,
        {
            "customer_id": "%s",
            "purpose_id": "p.purpose_id",
            "notice_id": "p.notice_id",
            "state": "'confirmed'",
            "changed_at": "now() - interval '30 days'",
            "confirmed_at": "now() - interval '30 days'",
        },
        source="unnest(%s::bigint[], %s::bigint[]) AS p(purpose_id, notice_id)",
        params=[customer.pk, purpose_ids, notice_ids],
    )
    # The ledger: given, confirmed and withdrawn in turn, on every purpose, hour by hour.
    insert_select(
        ConsentEvent,
        {
            "customer_id": "%s",
            "purpose_id": "(%s::bigint[])[1 + n %% %s]",
            "notice_id": "(%s::bigint[])[1 + n %% %s]",
            "action": "(ARRAY['given', 'confirmed', 'withdrawn'])[1 + (n / %s) %% 3]",
            "channel": "'web_signup'",
            "at": "now() - n * interval '1 hour'",
            "evidence": "'confirmation link ' || md5(n::text)",
        },
        source="generate_series(1, %s) AS n",
        params=[customer.pk, purpose_ids, kinds, notice_ids, kinds, kinds, rows],
    )
    # One delivery per campaign: the unique (campaign, customer) allows no more.
    insert_select(
        Delivery,
        {
            "campaign_id": "c.id",
            "customer_id": "%s",
            "status": "'sent'",
            "created_at": "now() - (c.id %% 700) * interval '1 day'",
            "sent_at": "now() - (c.id %% 700) * interval '1 day'",
            "tracked": "c.id %% 2 = 0",
            "first_opened_at": "CASE WHEN c.id %% 4 = 0 THEN now() - interval '1 day' END",
            "open_count": "CASE WHEN c.id %% 4 = 0 THEN 1 + c.id %% 3 ELSE 0 END",
        },
        source=f"(SELECT id FROM {Campaign._meta.db_table} ORDER BY id LIMIT %s) AS c",  # noqa: S608
        params=[customer.pk, rows],
    )
    audit = rows * AUDIT_PER_100 // 100
    insert_select(
        AuditEntry,
        {
            "actor_id": "%s",
            "action": "(ARRAY['customer.viewed', 'customer.updated'])[1 + n %% 2]",
            "target_type": "%s",
            "target_id": "%s",
            "purpose": "%s",
            "detail": 'CASE WHEN n %% 2 = 1 THEN \'{"fields": ["phone"]}\'::jsonb '
            "ELSE '{}'::jsonb END",
            "at": "now() - n * interval '1 day'",
        },
        source="generate_series(1, %s) AS n",
        params=[
            staff.pk,
            PERSON_MODEL,
            customer.public_id,
            str(ROLE_PURPOSES[Role.BOX_OFFICE]),
            audit,
        ],
    )
    audit_ids = frozenset(
        AuditEntry.objects.filter(
            target_type=PERSON_MODEL, target_id=customer.public_id
        ).values_list("public_id", flat=True)
    )
    return Person(customer=customer, rows=rows, related=_related(customer), audit_ids=audit_ids)


def _related(customer: Customer) -> int:
    """What the map finds of the person, besides their own row: the honest row count."""
    people = Customer.objects.filter(pk=customer.pk)
    return sum(
        declaration.rows_of(people).count()
        for declaration in declarations()
        if declaration.label != PERSON_MODEL
    )


def _add_others(prefix: str, *, ledger, staff) -> None:
    """`OTHERS` people with a consent, a ledger event, a delivery and an audit entry each."""
    _insert_people(prefix, OTHERS)
    purpose_ids, notice_ids = ledger
    of_them = f"{Customer._meta.db_table} WHERE email LIKE %s"
    pattern = f"bench-{prefix}-%"
    insert_select(
        Consent,
        {
            "customer_id": "id",
            "purpose_id": "%s",
            "notice_id": "%s",
            "state": "'confirmed'",
            "changed_at": "now()",
            "confirmed_at": "now()",
        },
        source=of_them,
        params=[purpose_ids[0], notice_ids[0], pattern],
    )
    insert_select(
        ConsentEvent,
        {
            "customer_id": "id",
            "purpose_id": "%s",
            "notice_id": "%s",
            "action": "'confirmed'",
            "channel": "'web_signup'",
            "at": "now()",
            "evidence": "'confirmation link ' || md5(id::text)",
        },
        source=of_them,
        params=[purpose_ids[0], notice_ids[0], pattern],
    )
    insert_select(
        Delivery,
        {
            "campaign_id": f"(SELECT min(id) FROM {Campaign._meta.db_table})",  # noqa: S608
            "customer_id": "id",
            "status": "'sent'",
            "sent_at": "now()",
        },
        source=of_them,
        params=[pattern],
    )
    insert_select(
        AuditEntry,
        {
            "actor_id": "%s",
            "action": "'customer.viewed'",
            "target_type": "%s",
            "target_id": "public_id",
            "purpose": "%s",
        },
        source=of_them,
        params=[staff.pk, PERSON_MODEL, str(ROLE_PURPOSES[Role.BOX_OFFICE]), pattern],
    )


def _others_rows(prefix: str) -> dict[str, int]:
    """What the erasure must leave alone: the other people's rows, counted."""
    others = Customer.objects.filter(email__startswith=f"bench-{prefix}-")
    return {
        "people": others.count(),
        "consents": Consent.objects.filter(customer__in=others).count(),
        "consent events": ConsentEvent.objects.filter(customer__in=others).count(),
        "deliveries": Delivery.objects.filter(customer__in=others).count(),
        "unredacted audit entries": AuditEntry.objects.filter(
            target_type=PERSON_MODEL,
            target_id__in=others.values("public_id"),
            redacted_at__isnull=True,
        ).count(),
    }


@dataclass(frozen=True)
class Register:
    dpo: object
    small: Person
    large: Person


def _register() -> Register:
    """An empty register, then the small and the large person and the others, set-based."""
    truncate(Customer, Campaign, AuditEntry, PrivacyRequest, Processor, Suppression)
    dpo = _staff("bench-dpo", Role.DPO)
    box_office = _staff("bench-box-office", Role.BOX_OFFICE)
    Processor.objects.bulk_create(
        [
            Processor(
                name="Bench mail service",
                role=Processor.Role.PROCESSOR,
                kind=RecipientKind.MAIL,
                purposes={"en": "Sends our newsletters."},
                data_categories=["contact", "behavioural"],
                country="SE",
                erasure_contact="privacy@mail.example.invalid",
            ),
            Processor(
                name="Bench ticket agent",
                role=Processor.Role.RECIPIENT,
                kind=RecipientKind.TICKET_AGENT,
                purposes={"en": "Sells our tickets."},
                data_categories=["contact"],
                country="NO",
                recipient_code="bench-agent",
                erasure_contact="privacy@tickets.example.invalid",
            ),
            Processor(
                name="Bench ad platform",
                role=Processor.Role.RECIPIENT,
                kind=RecipientKind.AD_PLATFORM,
                purposes={"en": "Shows our advertisements."},
                data_categories=["contact"],
                country="IE",
                erasure_contact="privacy@ads.example.invalid",
                recipient_code="meta",
            ),
        ]
    )
    # Every default purpose, each with its Swedish wording, for the ledger to cycle through.
    purposes = list(
        Purpose.objects.filter(code__in=[code for code, *_rest in PURPOSES]).order_by("pk")
    )
    notices = [
        NoticeVersion.objects.filter(purpose=purpose, language="sv").order_by("-version").first()
        for purpose in purposes
    ]
    ledger = ([p.pk for p in purposes], [n.pk for n in notices])
    news = next(p for p in purposes if p.code == "news")
    insert_select(
        Campaign,
        {
            "name": "'Newsletter ' || n",
            "purpose_id": "%s",
            "status": "'sent'",
            "scheduled_at": "now() - n * interval '1 hour'",
            "finished_at": "now() - n * interval '1 hour'",
        },
        source="generate_series(1, %s) AS n",
        params=[news.pk, LARGE],
    )
    small = _fill(_person("privacy-small"), SMALL, ledger=ledger, staff=box_office)
    large = _fill(_person("privacy-large"), LARGE, ledger=ledger, staff=box_office)
    _add_others("privacy-other", ledger=ledger, staff=box_office)
    vacuum_analyze(Customer, Consent, ConsentEvent, Campaign, Delivery, AuditEntry, Suppression)
    expected = 2 * LARGE + LARGE * AUDIT_PER_100 // 100 + len(purposes)
    if large.related != expected:
        raise BenchmarkError(f"the large person has {large.related:,} rows, not {expected:,}")
    return Register(dpo=dpo, small=small, large=large)


def _request(kind: str, person: Person) -> PrivacyRequest:
    now = timezone.now()
    customer = person.customer
    return PrivacyRequest.objects.create(
        kind=kind,
        state=PrivacyRequest.State.OPEN,
        channel=PrivacyRequest.Channel.WEB,
        email=customer.email,
        language="sv",
        customer=customer,
        created_at=now,
        received_at=now,
        due_on=timezone.localdate(now) + timedelta(days=30),
    )


@dataclass(frozen=True)
class Run:
    request: PrivacyRequest
    seconds: float
    queries: list[str]


def _execute(kind: str, person: Person, dpo) -> Run:
    """The full service for one new request of `kind`: only the call is timed and counted."""
    request = _request(kind, person)
    actor = _fresh(dpo)
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        privacy_request_execute(request=request, actor=actor)
        seconds = time.perf_counter() - started
    request.refresh_from_db()
    if request.state != PrivacyRequest.State.COMPLETED or request.closing_notice_sent_at is None:
        raise BenchmarkError(f"the {kind} request was not completed and answered")
    return Run(request=request, seconds=seconds, queries=[q["sql"] for q in captured])


def _same_queries(what: str, small: tuple[Person, Run], large: tuple[Person, Run]) -> int:
    """The query count, if it is the same for both people; otherwise what grew."""
    (small_person, small_run), (large_person, large_run) = small, large
    if len(small_run.queries) == len(large_run.queries):
        return len(large_run.queries)

    def shapes(run):  # the statement without its columns and values, which differ
        return Counter(
            re.split(r" WHERE | VALUES ", re.sub(r"^SELECT .*? FROM ", "SELECT … FROM ", q))[0][
                :120
            ]
            for q in run.queries
        )

    grown = shapes(large_run)
    grown.subtract(shapes(small_run))
    detail = "; ".join(f"{n:+} x {sql}" for sql, n in grown.items() if n)
    raise BenchmarkError(
        f"{what}: {len(small_run.queries)} queries for {small_person.related:,} rows but "
        f"{len(large_run.queries)} for {large_person.related:,}: {detail}"
    )


def _label(what: str, register: Register, queries: int) -> str:
    return (
        f"{what}, person with {register.large.related:,} related rows, {queries} queries "
        f"(same with {register.small.related:,} rows)"
    )


@contextmanager
def _settings(media: str):
    """Mail kept in memory, packages in a temporary directory, and the eager tasks quiet: without
    a broker Celery logs every task it runs in-process (INFO), and kombu warns that the empty
    broker URL has no host, between the figures."""
    quiet = {"celery.app.trace": logging.WARNING, "kombu.connection": logging.ERROR}
    levels = {name: logging.getLogger(name).level for name in quiet}
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)
    try:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
            PRIVATE_MEDIA_ROOT=media,
        ):
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@benchmark
def access_package() -> Result:
    """privacy_request_execute on an access request: data.json and report.html, zipped."""
    register = _register()
    media = tempfile.mkdtemp(prefix="bench-privacy-")
    try:
        with _settings(media):
            runs = {}
            for person in (register.small, register.large):
                run = _execute(PrivacyRequest.Kind.ACCESS, person, register.dpo)
                _check_package(run.request, person)
                runs[person] = run
    finally:
        shutil.rmtree(media, ignore_errors=True)
    small, large = register.small, register.large
    queries = _same_queries("access", (small, runs[small]), (large, runs[large]))
    return Result(
        label=_label("access package", register, queries),
        value=runs[large].seconds,
        unit="s",
        target=TARGET_SECONDS,
    )


def _check_package(request: PrivacyRequest, person: Person) -> None:
    package = AccessPackage.objects.get(request=request)
    with zipfile.ZipFile(package_path(package)) as archive:
        data = json.loads(archive.read("data.json"))
        report = archive.read("report.html").decode()
    customer = person.customer
    found = {label: len(rows) for label, rows in data.items()}
    expected = {
        PERSON_MODEL: 1,
        "consent.consentevent": person.rows,
        "newsletters.delivery": person.rows,
        "concerthouse.auditentry": len(person.audit_ids),
    }
    wrong = {label: found.get(label) for label, n in expected.items() if found.get(label) != n}
    if wrong:
        raise BenchmarkError(f"data.json of {customer.email}: {wrong}, expected {expected}")
    if data[PERSON_MODEL][0]["email"] != customer.email or "<h1>" not in report:
        raise BenchmarkError(f"the package of {customer.email} is not theirs, or has no report")


@benchmark
def erasure() -> Result:
    """privacy_request_execute on an erasure request: every mapped row deleted or anonymised."""
    register = _register()
    others = _others_rows("privacy-other")
    media = tempfile.mkdtemp(prefix="bench-privacy-")
    try:
        with _settings(media):
            runs = {}
            for person in (register.small, register.large):
                run = _execute(PrivacyRequest.Kind.ERASURE, person, register.dpo)
                _check_erased(run.request, person)
                runs[person] = run
    finally:
        shutil.rmtree(media, ignore_errors=True)
    if _others_rows("privacy-other") != others:
        raise BenchmarkError(f"other people's rows changed: {_others_rows('privacy-other')}")
    small, large = register.small, register.large
    queries = _same_queries("erasure", (small, runs[small]), (large, runs[large]))
    return Result(
        label=_label("erasure", register, queries),
        value=runs[large].seconds,
        unit="s",
        target=TARGET_SECONDS,
    )


def _check_erased(request: PrivacyRequest, person: Person) -> None:
    customer = person.customer
    left = {
        "customer": Customer.objects.filter(pk=customer.pk).count(),
        "consents": Consent.objects.filter(customer_id=customer.pk).count(),
        "consent events": ConsentEvent.objects.filter(customer_id=customer.pk).count(),
        "deliveries": Delivery.objects.filter(customer_id=customer.pk).count(),
        "audit entries pointing at them": AuditEntry.objects.filter(
            target_type=PERSON_MODEL, target_id=customer.public_id
        ).count(),
    }
    if any(left.values()):
        raise BenchmarkError(f"the erasure of {customer.email} left {left}")
    redacted = AuditEntry.objects.filter(
        public_id__in=person.audit_ids, target_id__isnull=True, redacted_at__isnull=False
    ).count()
    if redacted != len(person.audit_ids):
        raise BenchmarkError(f"{redacted} of {len(person.audit_ids)} audit entries redacted")
    if not Suppression.objects.filter(email_hash=suppression_hash(customer.email)).exists():
        raise BenchmarkError(f"{customer.email} is not on the suppression list")
    if request.customer_id is not None or request.email:
        raise BenchmarkError("the request still points at the person once answered")
