"""The customer changelist and its searches, with a register of a million people.

The register is generated in PostgreSQL (INSERT ... SELECT over generate_series: no Python object
per person), with the Nordic names, addresses and phones of a Swedish and Norwegian house's
audience. A staff member of the marketing role, signed in with the second factor, opens the
changelist and searches through Django's test client, the whole request: middleware, the admin's
queries (the capped count of concerthouse/paginator.py, the page, the filters), the template. Each
page is requested twice to warm up, then timed RUNS times; the figure is the worst run, the label
gives the median.

The fill is kept between runs: a register holding the PEOPLE generated people is reused (the load
benchmark uses it too), anything else is emptied and generated again (the other benchmarks empty
it).
"""

import statistics
import time
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.urls import reverse

from concerthouse.models import AuditEntry
from concerthouse.roles import Role
from customers.models import Customer

from . import BenchmarkError, Result, benchmark, insert_select, truncate, vacuum_analyze

PEOPLE = 1_000_000
TARGET_MS = 300
WARM_UP = 2
RUNS = 7
MARKER = "bench-admin"  # source_detail of every generated person: how a kept fill is recognised


def _words(text: str) -> list[str]:
    return text.split()


FIRST_NAMES = _words(
    "Anna Åsa Åse Märta Björn Ørjan Øyvind Sölve Kjell Ingrid Lars Sofia Ola Kari Nils Karin Eva "
    "Erik Astrid Solveig Håkan Göran Jörgen Signe Tove Sigrid Torbjørn Bjørg Ragnhild Dagny Elin "
    "Maja Liv Jonas Mats Per Gunnar Leif Britt Margit Siv Stina Ebba Frida Hedda Ida Linnéa Thea "
    "Vilde Jens"
)
LAST_NAMES = _words(
    "Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson Gustafsson "
    "Pettersson Jonsson Lindberg Lindqvist Sjöberg Ångström Öberg Åberg Lindström Bergström "
    "Hansen Johansen Olsen Larsen Andersen Pedersen Nilsen Kristiansen Jensen Karlsen Ødegård "
    "Løvås Bjørnstad Haugen Hagen Bakken Strøm Dahl Solberg Berg Eide Nygård Lie Moen Sæther "
    "Fjeld Holm Åsheim Kvåle Brekke"
)
DOMAINS = _words(
    "gmail.com hotmail.com telia.com outlook.com online.no yahoo.se live.se icloud.com "
    "bahnhof.se getmail.no"
)
SE_CITIES = _words("Stockholm Göteborg Malmö Uppsala Örebro Västerås Linköping Umeå Lund Gävle")
NO_CITIES = _words("Oslo Bergen Trondheim Stavanger Tromsø Drammen Kristiansand Ålesund Bodø Hamar")

# What staff search for: the part before the @ of one person's address, typed with capitals as
# people write it (that of person number SOUGHT, found after the fill); and a full name typed in
# lower case (two words, each matched in either name column).
SOUGHT = 777_777
NAME_SEARCH = "märta ångström"


def _array(values) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _pick(values, salt: str) -> str:
    """An element of `values` chosen by a hash of the row number `n`: the same person gets the
    same name on every run, and names do not repeat in a pattern."""
    return f"({_array(values)})[1 + abs(hashtext('{salt}' || n)) %% {len(values)}]"


# Letters that a Nordic name carries and an email address rarely does.
_ASCII = "translate(lower({}), 'åäöøæéü', 'aaooaeu')"


def _fill() -> None:
    first, last = _pick(FIRST_NAMES, "f"), _pick(LAST_NAMES, "l")
    norwegian = "(abs(hashtext('c' || n)) %% 100 < 35)"
    insert_select(
        Customer,
        {
            "first_name": "p.first_name",
            "last_name": "p.last_name",
            "email": (
                f"{_ASCII.format('p.first_name')} || '.' || {_ASCII.format('p.last_name')} || '.' "
                f"|| n || '@' || {_pick(DOMAINS, 'd')}"
            ),
            "phone": (
                f"CASE WHEN {norwegian} THEN '+479' || lpad((n %% 10000000)::text, 7, '0') "
                "ELSE '+4670' || lpad((n %% 10000000)::text, 7, '0') END"
            ),
            "street_address": "'Storgatan ' || (1 + n %% 120)",
            "postal_code": (
                f"CASE WHEN {norwegian} THEN lpad((n %% 10000)::text, 4, '0') "
                "ELSE (100 + n %% 900) || ' ' || lpad((n %% 100)::text, 2, '0') END"
            ),
            "city": f"CASE WHEN {norwegian} THEN {_pick(NO_CITIES, 'y')} "
            f"ELSE {_pick(SE_CITIES, 'y')} END",
            "country": f"CASE WHEN {norwegian} THEN 'NO' ELSE 'SE' END",
            "preferred_language": f"CASE WHEN n %% 10 = 0 THEN 'en' WHEN {norwegian} THEN 'nb' "
            "ELSE 'sv' END",
            "kind": "CASE WHEN n %% 10 = 0 THEN 'customer' ELSE 'lead' END",
            "source": (
                "(ARRAY['web_signup', 'web_signup', 'subscription_form', 'box_office', "
                "'ticket_agent', 'fair_or_meeting'])[1 + n %% 6]"
            ),
            "source_detail": f"'{MARKER}'",
            "last_activity_at": "now() - (n %% 1000) * interval '1 day'",
            # A few hundred people who exercised their rights, as a real register has.
            "restricted_at": "CASE WHEN n %% 5000 = 0 THEN now() END",
            "restriction_ground": "CASE WHEN n %% 5000 = 0 THEN 'accuracy_contested' ELSE '' END",
            "marketing_objection_at": "CASE WHEN n %% 3000 = 1 THEN now() END",
        },
        source=(
            f"(SELECT n, {first} AS first_name, {last} AS last_name "  # noqa: S608 (constants)
            "FROM generate_series(1, %s) AS n) AS p"
        ),
        params=[PEOPLE],
    )


def _register_kept() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), count(*) FILTER (WHERE source_detail = %s) "  # noqa: S608
            f"FROM {Customer._meta.db_table}",
            [MARKER],
        )
        _total, generated = cursor.fetchone()
    # Others beside them (a load benchmark's signups) do not matter.
    return generated == PEOPLE


_filled = False


def _register() -> None:
    global _filled
    if _filled or _register_kept():
        _filled = True
        return
    truncate(Customer, AuditEntry)
    _fill()
    # Statistics, the visibility map and the trigram indexes' pending lists, as autovacuum leaves
    # them on a live register.
    vacuum_analyze(Customer)
    if Customer.objects.count() != PEOPLE:
        raise BenchmarkError("the register was not generated whole")
    _filled = True


def _marketing_client() -> Client:
    """A test client signed in as a member of the marketing role, with the second factor."""
    user, _created = get_user_model().objects.get_or_create(
        username="bench-marketing", defaults={"is_staff": True}
    )
    user.groups.add(Group.objects.get(name=Role.MARKETING.value))
    # In English, so that what the benchmark checks on the page reads the same whatever the
    # house's language.
    client = Client(HTTP_HOST="localhost", HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    try:
        from django_otp.plugins.otp_totp.models import TOTPDevice
    except ImportError:  # the second factor is not installed: a password session is the whole
        return client
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    device = device or TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


@dataclass(frozen=True)
class Timing:
    median_ms: float
    worst_ms: float


def _time(client: Client, params: dict, *, expect: str) -> Timing:
    url = reverse("admin:customers_customer_changelist")
    timings = []
    for run in range(WARM_UP + RUNS):
        started = time.perf_counter()
        response = client.get(url, params)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise BenchmarkError(f"the changelist answered {response.status_code}")
        if expect not in response.content.decode():
            raise BenchmarkError(f"the page does not show {expect!r}")
        if run >= WARM_UP:
            timings.append(elapsed)
    return Timing(median_ms=statistics.median(timings), worst_ms=max(timings))


def _result(what: str, timing: Timing) -> Result:
    return Result(
        label=(
            f"admin {what}, {PEOPLE:,} customers, marketing role (PostgreSQL; median "
            f"{timing.median_ms:,.0f} ms, worst of {RUNS})"
        ),
        value=timing.worst_ms,
        unit="ms",
        target=TARGET_MS,
    )


@benchmark
def changelist() -> Result:
    """The first page of the customer list, unfiltered: no COUNT(*) of the million."""
    _register()
    timing = _time(_marketing_client(), {}, expect="More than 10")
    return _result("customer changelist", timing)


@benchmark
def email_search() -> Result:
    """Part of one person's address, in another case than stored."""
    _register()
    email = Customer.objects.get(email__contains=f".{SOUGHT}@").email
    term = email.partition("@")[0].title() + "@"  # "Marta.Angstrom.777777@"
    timing = _time(_marketing_client(), {"q": term}, expect=email)
    return _result(f"email search {term!r}", timing)


@benchmark
def name_search() -> Result:
    """A common full name, typed in lower case: a few hundred people."""
    _register()
    timing = _time(_marketing_client(), {"q": NAME_SEARCH}, expect="Märta Ångström")
    return _result(f"name search {NAME_SEARCH!r}", timing)
