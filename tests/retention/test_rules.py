"""Every retention rule of the personal-data map, proved against a moved clock.

Each rule keeps a row through the last day the policy allows and purges it on the first day past
it; the house's settings move those days; restricted people, standing consents and the bookkeeping
hold are skipped as DESIGN.md says; an expired person leaves nothing behind and touches no one
else; the forecast and the dry run say exactly what the next run does; the run log names no one;
and a purge costs the same number of queries for 10 people as for 200.

The clock is moved with time-machine: rows are made through the services at one moment and the
engine runs at another, as the nightly purge would. Moments are local (the house's TIME_ZONE):
the rules that count in dates are checked at 23:30 on the last day and 00:30 on the next, when
the UTC date is still the last day, so that a rule counting UTC dates would fail.
"""

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest
import time_machine
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection, models, transaction
from django.test import TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from concerthouse.email_address import normalise_email
from concerthouse.models import AuditEntry
from concerthouse.privacy.export import export_person
from concerthouse.privacy.map import Erasure, declarations, retention_rules
from consent.models import Consent, ConsentEvent, Purpose
from consent.selectors import notice_current
from consent.services import consent_withdraw
from customers.models import Customer
from customers.services import (
    customer_announce_restriction_lift,
    customer_end_relationship,
    customer_lift_restriction,
    customer_restrict,
    customer_send_restriction_lift_notice,
    customer_start_relationship,
)
from newsletters.campaigns import campaign_prepare_deliveries
from newsletters.models import Campaign, Delivery, Signup, SignupIntake, Suppression
from newsletters.services import (
    newsletter_signup,
    preferences_withdraw_all,
    signup_confirm,
    signup_receive,
)
from privacy_requests.models import AccessPackage, PrivacyRequest, RequestEvent
from privacy_requests.packages import package_path
from privacy_requests.services import (
    privacy_request_execute,
    privacy_request_submit,
    privacy_request_verify,
)
from privacy_requests.tasks import send_notice_task
from retention import engine
from retention.models import RuleRun, Run
from subscriptions.models import (
    Concert,
    Order,
    Payment,
    PreConcertMail,
    Season,
    SeasonSubscription,
    SeatingNeed,
    Series,
)
from subscriptions.pre_concert import pre_concert_mail_prepare
from subscriptions.services import (
    relationships_end_due,
    seating_needs_record,
    subscription_book,
)
from tests.factories import CustomerFactory, subscribe
from tests.privacy_requests.test_handling import rows_mentioning
from tests.subscriptions.conftest import buyer

# The people of these tests: names outside ASCII, addresses typed in mixed case (stored lower).
AASE = {"first_name": "Åse", "last_name": "Ødegård"}
MARTA = {"first_name": "Märta", "last_name": "Ångström"}
AASE_BUYER = {
    **AASE,
    "phone": "+47 912 34 567",
    "street_address": "Kongens gate 2",
    "postal_code": "0153",
    "city": "Oslo",
    "country": "NO",
    "preferred_language": "nb",
}

RULES = {rule.code: model for model, rule in retention_rules()}


# --- Moving the clock -----------------------------------------------------------------------------
def local(moment: datetime) -> datetime:
    """A wall-clock moment in the house's time zone."""
    return timezone.make_aware(moment)


def at(moment: datetime):
    """The clock stopped at a local moment."""
    return time_machine.travel(local(moment), tick=False)


def purge_at(moment: datetime) -> Run:
    """The nightly purge, run with the clock at `moment`, its on-commit work (package files) done."""
    with at(moment), TestCase.captureOnCommitCallbacks(execute=True):
        run = engine.purge(trigger=Run.Trigger.COMMAND)
    assert run is not None and run.status == Run.Status.FINISHED
    return run


def purged(run: Run) -> dict[str, int]:
    """Rows each rule purged in a run, by rule code: what the run log says, nothing else."""
    return dict(run.rules.values_list("rule", "rows"))


def only(code: str, rows: int) -> dict[str, int]:
    """A run log in which `code` purged `rows` rows and every other rule nothing."""
    return {c: 0 for c in RULES} | {code: rows}


def purge_rolled_back(moment: datetime) -> dict[str, int]:
    """What a purge at `moment` would purge, on a copy of the data that is then thrown away."""
    with at(moment), transaction.atomic():
        run = engine.purge(trigger=Run.Trigger.COMMAND)
        assert run is not None
        rows = purged(run)
        transaction.set_rollback(True)
    return rows


# --- What the cases make --------------------------------------------------------------------------
@dataclass
class World:
    dpo: object
    news: Purpose
    seating_notice: object

    def notice(self, language: str):
        return notice_current(purpose=self.news, language=language)


@pytest.fixture
def world(db, dpo, news) -> World:
    accessibility = Purpose.objects.get(kind=Purpose.Kind.ACCESSIBILITY)
    return World(
        dpo=dpo,
        news=news,
        seating_notice=notice_current(purpose=accessibility, language="sv"),
    )


@dataclass
class Tracked:
    """The rows a case made for its rule, with what goes with them (payments, files)."""

    model: type[models.Model]
    pks: list
    related: list[tuple[type[models.Model], list]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def rows_left(self) -> int:
        return self.model._base_manager.filter(pk__in=self.pks).count()

    def related_left(self) -> int:
        return sum(m._base_manager.filter(pk__in=pks).count() for m, pks in self.related)

    def files_left(self) -> int:
        return sum(path.exists() for path in self.files)

    def assert_all_there(self):
        assert self.rows_left() == len(self.pks) > 0
        assert self.related_left() == sum(len(pks) for _m, pks in self.related)
        assert self.files_left() == len(self.files)

    def assert_all_gone(self):
        assert (self.rows_left(), self.related_left(), self.files_left()) == (0, 0, 0)


def email(name: str, tag: str) -> str:
    """A unique address per case, typed in mixed case as people do."""
    domain = "Example.NO" if name.startswith("Ase") else "Example.SE"
    return f"{name}.{tag}@{domain}"


def a_series(tag: str, starts_on: date, ends_on: date) -> Series:
    season = Season.objects.create(
        name=f"{starts_on.year} {tag}", starts_on=starts_on, ends_on=ends_on
    )
    return Series.objects.create(
        season=season,
        code=f"thu-{Series.objects.count() + 1}",
        name="Torsdagsserien",
        price_per_seat=Decimal("1450.00"),
        currency="SEK",
        capacity=100,
    )


def verified_request(kind: str, address: str, **fields) -> PrivacyRequest:
    """A request from the public form whose link was followed."""
    request = privacy_request_submit(kind=kind, email=address, language="en", **fields)
    return privacy_request_verify(request=request)


def a_lead(world: World, tag: str) -> Tracked:
    """Met at a fair: a lead, last contact now, no consent."""
    person = CustomerFactory(
        email=email("Ase.Odegard", tag),
        country="NO",
        source=Customer.Source.FAIR_OR_MEETING,
        **AASE,
    )
    return Tracked(Customer, [person.pk])


def an_ended_customer(world: World, tag: str, *, ended_on: date) -> Tracked:
    person = CustomerFactory(email=email("Marta.Angstrom", tag), source="box_office", **MARTA)
    customer_start_relationship(customer=person, on=date(2023, 9, 1))
    customer_end_relationship(customer=person, on=ended_on)
    return Tracked(Customer, [person.pk])


def a_former_subscriber_still_reading_the_newsletter(world: World, tag: str) -> Tracked:
    """Her season ended on 31 May 2024; her newsletter consent stands. The consent keeps her and
    her contact details, not her contract: the subscription goes 13 months after the end."""
    series = a_series(tag, date(2023, 9, 1), date(2024, 5, 31))
    subscription = subscription_book(
        series=series,
        seats=2,
        buyer=buyer(email("Marta.Angstrom", tag), **MARTA),
        channel="web",
    )
    subscribe(subscription.customer, "news")
    customer_end_relationship(customer=subscription.customer, on=date(2024, 5, 31))
    return Tracked(SeasonSubscription, [subscription.pk])


def an_unconfirmed_signup(world: World, tag: str) -> Tracked:
    """A lead met at a fair signs up on the website and never clicks the link: the signup goes,
    the lead stays (the lead rule's three years)."""
    person = CustomerFactory(
        email=email("Marta.Angstrom", tag), source=Customer.Source.FAIR_OR_MEETING, **MARTA
    )
    signup = newsletter_signup(
        email=person.email.upper(), language="sv", notices=[world.notice("sv")], **MARTA
    )
    assert signup.customer == person
    return Tracked(Signup, [signup.pk])


def a_signup_only(world: World, tag: str) -> Tracked:
    """Someone known only from a website signup never confirmed: the person goes, and the
    signup with them."""
    signup = newsletter_signup(
        email=email("Ase.Odegard", tag), language="nb", notices=[world.notice("nb")], **AASE
    )
    return Tracked(Customer, [signup.customer_id], related=[(Signup, [signup.pk])])


def a_signup_only_withdrawn_20_days_later(world: World, tag: str) -> Tracked:
    """The same, but the person withdrew the pending consent 20 days later: their last consent
    event counts, so they stay 20 days longer than the signup (which goes after its own 30)."""
    signup = newsletter_signup(
        email=email("Ase.Odegard", tag), language="nb", notices=[world.notice("nb")], **AASE
    )
    with time_machine.travel(timezone.now() + timedelta(days=20), tick=False):
        consent_withdraw(customer=signup.customer, purpose=world.news, channel="preference_centre")
    return Tracked(Customer, [signup.customer_id])


def a_signup_received_never_recorded(world: World, tag: str) -> Tracked:
    """The form received it, and every attempt to record it failed: it goes as an unconfirmed
    signup would."""
    address = email("Ase.Odegard", tag)
    signup_receive(email=address, language="nb", notice_ids=[world.notice("nb").pk], **AASE)
    # Stored as the form stores it: the one normalised form of the address.
    return Tracked(SignupIntake, [SignupIntake.objects.get(email=normalise_email(address)).pk])


def a_delivery(world: World, tag: str) -> Tracked:
    subscribe(CustomerFactory(email=email("Ase.Odegard", tag), country="NO", **AASE), "news")
    campaign = Campaign.objects.create(name=f"Vårsäsongen {tag}", purpose=world.news)
    campaign_prepare_deliveries(campaign)
    return Tracked(Delivery, list(campaign.deliveries.values_list("pk", flat=True)))


def an_unverified_request(world: World, tag: str) -> Tracked:
    request = privacy_request_submit(
        kind="access", email=email("Ase.Odegard", tag), language="nb", name="Åse Ødegård"
    )
    return Tracked(
        PrivacyRequest,
        [request.pk],
        related=[(RequestEvent, list(request.events.values_list("pk", flat=True)))],
    )


def an_answered_request(world: World, tag: str) -> Tracked:
    request = verified_request("objection", email("Marta.Angstrom", tag), name="Märta Ångström")
    privacy_request_execute(request=request, actor=world.dpo)
    request.refresh_from_db()
    assert request.closed_at == timezone.now()
    return Tracked(
        PrivacyRequest,
        [request.pk],
        related=[(RequestEvent, list(request.events.values_list("pk", flat=True)))],
    )


def an_access_package(world: World, tag: str) -> Tracked:
    request = verified_request("access", email("Ase.Odegard", tag), name="Åse Ødegård")
    privacy_request_execute(request=request, actor=world.dpo)
    package = AccessPackage.objects.get(request=request)
    return Tracked(AccessPackage, [package.pk], files=[package_path(package)])


def an_order(world: World, tag: str) -> Tracked:
    """A season subscription booked and paid by card on the website: an order and a payment."""
    series = a_series(tag, date(2025, 8, 15), date(2026, 6, 15))
    subscription = subscription_book(
        series=series,
        seats=2,
        buyer=buyer(email("Marta.Angstrom", tag)),
        channel="web",
        payment_method="card",
    )
    order = subscription.order
    return Tracked(
        Order, [order.pk], related=[(Payment, list(order.payments.values_list("pk", flat=True)))]
    )


def a_pre_concert_mail(world: World, tag: str) -> Tracked:
    series = a_series(tag, date(2023, 8, 15), date(2024, 6, 15))
    subscription_book(
        series=series,
        seats=1,
        buyer=buyer(email("Ase.Odegard", tag), **AASE_BUYER),
        channel="web",
    )
    concert = Concert.objects.create(
        series=series,
        title="Sibelius 5",
        venue="Stora salen",
        starts_at=timezone.now() + timedelta(days=2),
    )
    pre_concert_mail_prepare(concert=concert)
    return Tracked(PreConcertMail, list(concert.mails.values_list("pk", flat=True)))


def seating_needs(world: World, tag: str) -> Tracked:
    season = Season.objects.create(
        name=f"2024/25 {tag}", starts_on=date(2024, 8, 15), ends_on=date(2025, 6, 15)
    )
    person = CustomerFactory(email=email("Ase.Odegard", tag), country="NO", **AASE)
    need = seating_needs_record(
        customer=person,
        season=season,
        needs=["wheelchair", "companion"],
        notice=world.seating_notice,
        channel="booking_form",
    )
    return Tracked(SeatingNeed, [need.pk])


# --- The cases: when rows are made, the last moment they are kept, the first they are gone ---------
@dataclass(frozen=True)
class Variant:
    code: str
    name: str
    make: Callable[[World, str], Tracked]
    made: datetime
    last_kept: datetime
    first_purged: datetime
    # Settings while the rows are made (the house's country, its financial year).
    made_with: dict = field(default_factory=dict)
    # Settings the rules run with (the house's retention periods).
    rules_with: dict = field(default_factory=dict)
    # Its rows are due under another rule at the same moment, which a person rule erases first
    # (see the forecast tests).
    overlaps: bool = False

    @property
    def id(self) -> str:
        return f"{self.code}-{self.name}"


def dt(*parts: int) -> datetime:
    return datetime(*parts)


def variant(code, name, make, made, last_kept, first_purged, **options) -> Variant:
    return Variant(code, name, make, dt(*made), dt(*last_kept), dt(*first_purged), **options)


CASES: dict[str, tuple[Variant, ...]] = {
    # Harmonien: deleted three years after the last contact (a moment, not a date).
    "customers.leads": (
        variant(
            "customers.leads",
            "three-years-to-the-minute",
            a_lead,
            (2022, 3, 15, 10),
            (2025, 3, 15, 10),
            (2025, 3, 16, 10),
        ),
        variant(
            "customers.leads",
            "last-contact-on-29-february",
            a_lead,
            (2024, 2, 29, 12),
            (2027, 2, 28, 12),
            (2027, 3, 1, 12),
        ),
    ),
    # 13 months after the relationship ended, counted in the house's dates.
    "customers.ended": (
        variant(
            "customers.ended",
            "13-months-after-31-may",
            partial(an_ended_customer, ended_on=date(2024, 5, 31)),
            (2023, 9, 1, 12),
            (2025, 6, 30, 23, 30),
            (2025, 7, 1, 0, 30),
        ),
        variant(
            "customers.ended",
            "13-months-after-31-january-end-in-february",
            partial(an_ended_customer, ended_on=date(2024, 1, 31)),
            (2023, 9, 1, 12),
            (2025, 2, 28, 23, 30),
            (2025, 3, 1, 0, 30),
        ),
    ),
    # Known only from a website signup never confirmed: 30 days after the last consent event.
    "customers.unconfirmed": (
        variant(
            "customers.unconfirmed",
            "30-days-after-signing-up",
            a_signup_only,
            (2025, 5, 2, 10),
            (2025, 6, 1, 10),
            (2025, 6, 2, 10),
            overlaps=True,
        ),
        variant(
            "customers.unconfirmed",
            "30-days-after-withdrawing",
            a_signup_only_withdrawn_20_days_later,
            (2025, 1, 10, 10),
            (2025, 3, 1, 10),
            (2025, 3, 2, 10),
        ),
    ),
    "newsletters.unconfirmed_signups": (
        variant(
            "newsletters.unconfirmed_signups",
            "30-days",
            an_unconfirmed_signup,
            (2025, 5, 2, 10),
            (2025, 6, 1, 10),
            (2025, 6, 2, 10),
        ),
    ),
    "newsletters.signup_intakes": (
        variant(
            "newsletters.signup_intakes",
            "30-days",
            a_signup_received_never_recorded,
            (2025, 5, 2, 10),
            (2025, 6, 1, 10),
            (2025, 6, 2, 10),
        ),
    ),
    "newsletters.delivery_log": (
        variant(
            "newsletters.delivery_log",
            "24-months",
            a_delivery,
            (2023, 5, 10, 10),
            (2025, 5, 10, 10),
            (2025, 5, 11, 10),
        ),
    ),
    "privacy_requests.unverified": (
        variant(
            "privacy_requests.unverified",
            "30-days",
            an_unverified_request,
            (2025, 5, 2, 10),
            (2025, 6, 1, 10),
            (2025, 6, 2, 10),
        ),
    ),
    "privacy_requests.answered": (
        variant(
            "privacy_requests.answered",
            "3-years-after-closing",
            an_answered_request,
            (2022, 5, 10, 10),
            (2025, 5, 10, 10),
            (2025, 5, 11, 10),
        ),
    ),
    "privacy_requests.packages": (
        variant(
            "privacy_requests.packages",
            "at-expiry-file-and-all",
            an_access_package,
            (2025, 5, 2, 10),
            (2025, 6, 1, 10),
            (2025, 6, 2, 10),
        ),
    ),
    # Bokföringslagen 7:2: to the end of the 7th year after the financial year; bokføringsloven
    # § 13: 5 years after its end. Dates, in the house's time zone.
    "subscriptions.accounting": (
        variant(
            "subscriptions.accounting",
            "sweden-end-of-7th-year",
            an_order,
            (2025, 5, 10, 12),
            (2032, 12, 31, 23, 30),
            (2033, 1, 1, 0, 30),
        ),
        variant(
            "subscriptions.accounting",
            "norway-5-years",
            an_order,
            (2025, 5, 10, 12),
            (2030, 12, 31, 23, 30),
            (2031, 1, 1, 0, 30),
            made_with={"HOUSE_COUNTRY": "NO"},
        ),
        variant(
            "subscriptions.accounting",
            "norway-5-years-after-a-broken-financial-year",
            an_order,
            (2025, 9, 15, 12),
            (2031, 6, 30, 23, 30),
            (2031, 7, 1, 0, 30),
            made_with={"HOUSE_COUNTRY": "NO", "HOUSE_FINANCIAL_YEAR_START_MONTH": 7},
        ),
    ),
    # Harmonien: all personal data goes when the customer relationship ends; a standing newsletter
    # consent keeps the reader, not the contract.
    "subscriptions.ended_contracts": (
        variant(
            "subscriptions.ended_contracts",
            "13-months-after-31-may-consent-standing",
            a_former_subscriber_still_reading_the_newsletter,
            (2023, 9, 1, 12),
            (2025, 6, 30, 23, 30),
            (2025, 7, 1, 0, 30),
        ),
    ),
    "subscriptions.pre_concert_log": (
        variant(
            "subscriptions.pre_concert_log",
            "24-months",
            a_pre_concert_mail,
            (2023, 5, 10, 10),
            (2025, 5, 10, 10),
            (2025, 5, 11, 10),
        ),
    ),
    # The season ends on 15 June: its needs are kept through that day, in the house's dates.
    "subscriptions.seating_needs": (
        variant(
            "subscriptions.seating_needs",
            "after-the-season-s-last-day",
            seating_needs,
            (2025, 3, 1, 12),
            (2025, 6, 15, 23, 30),
            (2025, 6, 16, 0, 30),
        ),
    ),
}
VARIANTS = [v for variants in CASES.values() for v in variants]

# Each house sets its own periods: the same rows, other boundaries.
SETTINGS_VARIANTS = [
    variant(
        "customers.leads",
        "RETENTION_LEAD_YEARS=2",
        a_lead,
        (2022, 3, 15, 10),
        (2024, 3, 15, 10),
        (2024, 3, 16, 10),
        rules_with={"RETENTION_LEAD_YEARS": 2},
    ),
    variant(
        "customers.ended",
        "RETENTION_ENDED_CUSTOMER_MONTHS=6",
        partial(an_ended_customer, ended_on=date(2024, 5, 31)),
        (2023, 9, 1, 12),
        (2024, 11, 30, 23, 30),
        (2024, 12, 1, 0, 30),
        rules_with={"RETENTION_ENDED_CUSTOMER_MONTHS": 6},
    ),
    variant(
        "customers.ended",
        "RETENTION_ENDED_CUSTOMER_MONTHS=24",
        partial(an_ended_customer, ended_on=date(2024, 5, 31)),
        (2023, 9, 1, 12),
        (2026, 5, 31, 23, 30),
        (2026, 6, 1, 0, 30),
        rules_with={"RETENTION_ENDED_CUSTOMER_MONTHS": 24},
    ),
    variant(
        "subscriptions.ended_contracts",
        "RETENTION_ENDED_CUSTOMER_MONTHS=6",
        a_former_subscriber_still_reading_the_newsletter,
        (2023, 9, 1, 12),
        (2024, 11, 30, 23, 30),
        (2024, 12, 1, 0, 30),
        rules_with={"RETENTION_ENDED_CUSTOMER_MONTHS": 6},
    ),
    variant(
        "newsletters.unconfirmed_signups",
        "RETENTION_UNCONFIRMED_SIGNUP_DAYS=14",
        an_unconfirmed_signup,
        (2025, 5, 2, 10),
        (2025, 5, 16, 10),
        (2025, 5, 17, 10),
        rules_with={"RETENTION_UNCONFIRMED_SIGNUP_DAYS": 14},
    ),
    variant(
        "customers.unconfirmed",
        "RETENTION_UNCONFIRMED_SIGNUP_DAYS=45",
        a_signup_only,
        (2025, 5, 2, 10),
        (2025, 6, 16, 10),
        (2025, 6, 17, 10),
        rules_with={"RETENTION_UNCONFIRMED_SIGNUP_DAYS": 45},
    ),
    variant(
        "newsletters.delivery_log",
        "RETENTION_DELIVERY_LOG_MONTHS=12",
        a_delivery,
        (2023, 5, 10, 10),
        (2024, 5, 10, 10),
        (2024, 5, 11, 10),
        rules_with={"RETENTION_DELIVERY_LOG_MONTHS": 12},
    ),
    variant(
        "subscriptions.pre_concert_log",
        "RETENTION_DELIVERY_LOG_MONTHS=36",
        a_pre_concert_mail,
        (2023, 5, 10, 10),
        (2026, 5, 10, 10),
        (2026, 5, 11, 10),
        rules_with={"RETENTION_DELIVERY_LOG_MONTHS": 36},
    ),
    variant(
        "privacy_requests.unverified",
        "RETENTION_UNVERIFIED_REQUEST_DAYS=7",
        an_unverified_request,
        (2025, 5, 2, 10),
        (2025, 5, 9, 10),
        (2025, 5, 10, 10),
        rules_with={"RETENTION_UNVERIFIED_REQUEST_DAYS": 7},
    ),
    variant(
        "privacy_requests.answered",
        "RETENTION_CLOSED_REQUEST_YEARS=5",
        an_answered_request,
        (2022, 5, 10, 10),
        (2027, 5, 10, 10),
        (2027, 5, 11, 10),
        rules_with={"RETENTION_CLOSED_REQUEST_YEARS": 5},
    ),
    variant(
        "privacy_requests.packages",
        "PRIVACY_PACKAGE_DAYS=7",
        an_access_package,
        (2025, 5, 2, 10),
        (2025, 5, 9, 10),
        (2025, 5, 10, 10),
        made_with={"PRIVACY_PACKAGE_DAYS": 7},
    ),
]


def make(world: World, case: Variant, tag: str | None = None) -> Tracked:
    with at(case.made), override_settings(**case.made_with):
        tracked = case.make(world, tag or case.name)
    assert tracked.model is RULES[case.code], "the case must make the rows of its own rule"
    return tracked


def check_boundary(world: World, case: Variant) -> None:
    tracked = make(world, case)
    tracked.assert_all_there()
    # The last moment the policy allows: the rule purges nothing, and the rows are all there.
    run = purge_at(case.last_kept)
    assert purged(run)[case.code] == 0
    tracked.assert_all_there()
    # The first nightly run past it: the rule purges them, with what goes with them.
    run = purge_at(case.first_purged)
    assert purged(run)[case.code] == len(tracked.pks)
    tracked.assert_all_gone()


# --- Every rule has its boundary --------------------------------------------------------------------
def test_every_retention_rule_has_a_boundary_case():
    """A rule added to the map without a case here fails this test."""
    assert set(CASES) == set(RULES)
    assert all(v.code == code for code, variants in CASES.items() for v in variants)


@pytest.mark.parametrize("case", VARIANTS, ids=lambda v: v.id)
def test_a_rule_keeps_rows_through_their_last_day_and_purges_them_on_the_next(world, case):
    check_boundary(world, case)


@pytest.mark.parametrize("case", SETTINGS_VARIANTS, ids=lambda v: v.id)
def test_the_house_s_settings_move_the_boundary(world, settings, case):
    for name, value in case.rules_with.items():
        setattr(settings, name, value)
    check_boundary(world, case)


@pytest.mark.parametrize("case", SETTINGS_VARIANTS, ids=lambda v: v.id)
def test_without_its_setting_a_settings_case_falls_on_the_other_side_of_a_boundary(world, case):
    """The same rows under the default periods: kept where the setting purges them, or purged
    where it keeps them. So the settings test proves the setting is read, not a coincidence."""
    tracked = make(world, replace(case, made_with={}))
    kept = purge_rolled_back(case.last_kept)[case.code] == 0
    gone = purge_rolled_back(case.first_purged)[case.code] == len(tracked.pks)
    assert not (kept and gone)


# --- What is skipped -----------------------------------------------------------------------------
def fair_lead_signing_up(world: World, address: str, names: dict) -> Signup:
    """A lead met at a fair who then signs up on the website and never confirms."""
    CustomerFactory(email=address, source=Customer.Source.FAIR_OR_MEETING, **names)
    return newsletter_signup(email=address, language="sv", notices=[world.notice("sv")], **names)


def web_signup(world: World, address: str, names: dict) -> Signup:
    return newsletter_signup(email=address, language="nb", notices=[world.notice("nb")], **names)


def test_a_restricted_person_is_purged_by_no_rule_until_the_restriction_is_lifted(world):
    """Art. 18: storage only. Their lead record, unconfirmed signup, delivery log and former
    customer record stay while the same rows of unrestricted people go; lifting the restriction
    lets the rules apply again."""
    start = dt(2022, 3, 15, 10)
    with at(start):
        lead_signup = fair_lead_signing_up(world, "Ase.Odegard@Example.NO", AASE)
        control_lead_signup = fair_lead_signing_up(world, "Marta.Angstrom@Example.SE", MARTA)
        only_signup = web_signup(world, "Ase.Web@Example.NO", AASE)
        control_only_signup = web_signup(world, "Marta.Web@Example.SE", MARTA)
        reader = subscribe(CustomerFactory(email="Ase.Reader@Example.NO", **AASE), "news")
        control_reader = subscribe(
            CustomerFactory(email="Marta.Reader@Example.SE", **MARTA), "news"
        )
        campaign_prepare_deliveries(Campaign.objects.create(name="Vår", purpose=world.news))
        former = CustomerFactory(email="Ase.Former@Example.NO", source="box_office", **AASE)
        control_former = CustomerFactory(
            email="Marta.Former@Example.SE", source="box_office", **MARTA
        )
        for person in (former, control_former):
            customer_start_relationship(customer=person, on=date(2021, 9, 1))
            customer_end_relationship(customer=person, on=date(2022, 3, 15))
    lead, control_lead = lead_signup.customer, control_lead_signup.customer
    restricted = [lead, only_signup.customer, reader, former]
    with at(start + timedelta(hours=1)):
        for person in restricted:
            customer_restrict(customer=person, actor=world.dpo, ground="legal_claims")

    def there(*rows) -> list[bool]:
        return [type(row)._base_manager.filter(pk=row.pk).exists() for row in rows]

    # 31 days on: the restricted lead's signup and the restricted signup-only person stay.
    run = purge_at(start + timedelta(days=31))
    assert purged(run) == only("newsletters.unconfirmed_signups", 1) | {"customers.unconfirmed": 1}
    assert there(lead_signup, control_lead_signup) == [True, False]
    assert there(only_signup.customer, control_only_signup.customer) == [True, False]
    # 14 months on: the restricted former customer stays.
    run = purge_at(dt(2023, 5, 16, 10))
    assert purged(run) == only("customers.ended", 1)
    assert there(former, control_former) == [True, False]
    # 25 months on: the restricted reader's delivery stays.
    run = purge_at(dt(2024, 4, 16, 10))
    assert purged(run) == only("newsletters.delivery_log", 1)
    assert list(Delivery.objects.values_list("customer", flat=True)) == [reader.pk]
    # Three years and a day on: the restricted lead stays.
    run = purge_at(dt(2025, 3, 16, 10))
    assert purged(run) == only("customers.leads", 1)
    assert there(lead, control_lead) == [True, False]
    # The forecast, which counts with the run's own query, sees none of them either.
    with at(dt(2025, 3, 17, 10)):
        assert {line.rule.code: line.due for line in engine.forecast()} == {
            code: 0 for code in RULES
        }

    with at(dt(2025, 3, 17, 9)):
        for person in restricted:
            # Art. 18(3): told first, then lifted.
            customer_announce_restriction_lift(customer=person, actor=world.dpo)
            customer_send_restriction_lift_notice(customer_id=person.pk)
            customer_lift_restriction(customer=person, actor=world.dpo)
    run = purge_at(dt(2025, 3, 17, 10))
    rows = purged(run)
    # Both leads go; the signup-only one under whichever person rule comes first.
    assert rows["customers.leads"] + rows["customers.unconfirmed"] == 2
    assert (rows["customers.ended"], rows["newsletters.delivery_log"]) == (1, 1)
    assert there(lead, only_signup.customer, former, lead_signup) == [False] * 4
    assert not Delivery.objects.exists()
    # Readers with a standing consent stay.
    assert there(reader, control_reader) == [True, True]


def test_a_person_whose_privacy_request_is_being_answered_is_purged_only_once_it_is(world):
    """Art. 12 and 15: a request must be answered, and the copy of one's data must be there to
    fetch. Åse, met at a fair four years ago, asks for a copy of her data; Märta signed up on the
    website, never confirmed, and asks on day 25. Neither, nor any of her rows, is purged while
    her request is open, nor while the answer is owed, nor until her copy expires."""
    with at(dt(2021, 1, 10, 10)):
        CustomerFactory(
            email="ase.odegard@example.no", source=Customer.Source.FAIR_OR_MEETING, **AASE
        )
    with at(dt(2025, 1, 1, 10)):
        web_signup(world, "Marta.Angstrom@Example.SE", MARTA)
    with at(dt(2025, 1, 26, 9)):
        requests = [
            verified_request("access", "ASE.Odegard@Example.NO", name="Åse Ødegård"),
            # By her address only: the form does not look people up.
            verified_request("access", "marta.angstrom@example.se", name="Märta Ångström"),
        ]
    moment = dt(2025, 2, 2, 3)
    with at(moment):
        forecast = {f.rule.code: f.due for f in engine.forecast()}
    assert set(forecast.values()) == {0}

    run = purge_at(moment)

    assert set(purged(run).values()) == {0}
    skipped = dict(run.rules.values_list("rule", "skipped"))
    assert skipped == only("customers.leads", 1) | {
        "customers.unconfirmed": 1,
        "newsletters.unconfirmed_signups": 1,  # Märta's signup, held with her
    }
    assert Customer.objects.count() == 2
    for request in requests:
        request.refresh_from_db()
        assert (request.state, request.email != "") == (PrivacyRequest.State.OPEN, True)

    # Answered, but the answers not sent yet (the mail task is lost): still held.
    with at(dt(2025, 2, 3, 10)):
        for request in requests:
            privacy_request_execute(request=request, actor=world.dpo)
    assert set(purged(purge_at(dt(2025, 2, 4, 3))).values()) == {0}
    # Sent by the sweep; the copies expire after 30 days, on 5 March at ten.
    with at(dt(2025, 2, 4, 10)), TestCase.captureOnCommitCallbacks(execute=True):
        for request in requests:
            send_notice_task(request.pk, "completed")
    assert set(purged(purge_at(dt(2025, 3, 5, 3))).values()) == {0}

    run = purge_at(dt(2025, 3, 6, 3))

    assert purged(run) == only("customers.leads", 1) | {"customers.unconfirmed": 1}
    assert not Customer.objects.exists() and not AccessPackage.objects.exists()


def test_a_lead_with_a_standing_confirmed_consent_is_kept_and_other_leads_are_not(world):
    """Harmonien: "samtykke til videre lagring". Only a confirmed consent that still stands
    keeps a lead; a pending one (a link never clicked) or a withdrawn one does not."""
    start = dt(2022, 3, 15, 10)
    with at(start):
        reader = subscribe(CustomerFactory(email="Ase.Odegard@Example.NO", **AASE), "news")
        former_reader = subscribe(
            CustomerFactory(email="Marta.Angstrom@Example.SE", **MARTA), "news"
        )
        pending = fair_lead_signing_up(world, "Ase.Pending@Example.NO", AASE).customer
        CustomerFactory(email="Marta.Plain@Example.SE", source="fair_or_meeting", **MARTA)
    with at(start + timedelta(days=1)):
        consent_withdraw(customer=former_reader, purpose=world.news, channel="preference_centre")
    assert Consent.objects.get(customer=pending).state == Consent.State.PENDING

    run = purge_at(dt(2025, 3, 15, 10))
    assert purged(run)["customers.leads"] == 0
    assert Customer.objects.count() == 4
    run = purge_at(dt(2025, 3, 16, 10))
    assert purged(run)["customers.leads"] == 3
    assert list(Customer.objects.all()) == [reader]
    assert Consent.objects.get().state == Consent.State.CONFIRMED


def test_signing_up_again_starts_the_30_days_again(world):
    with at(dt(2025, 5, 2, 10)):
        signup = web_signup(world, "Ase.Odegard@Example.NO", AASE)
    with at(dt(2025, 5, 31, 10)):
        assert web_signup(world, "ase.odegard@example.no", AASE) == signup  # the link is resent
    run = purge_at(dt(2025, 6, 2, 10))
    assert purged(run) == only("customers.unconfirmed", 0)
    assert Signup.objects.filter(pk=signup.pk).exists()


def test_an_ended_customer_is_erased_and_their_accounting_records_stay_until_the_hold_ends(world):
    """Erase all but the accounting records; those lose the link to the person, keep the
    counterparty the statute needs, and go when Bokföringslagen lets them."""
    with at(dt(2025, 5, 10, 12)):
        series = a_series("thu", date(2025, 8, 15), date(2026, 6, 15))
        subscription = subscription_book(
            series=series,
            seats=2,
            buyer=buyer("Marta.Angstrom@Example.SE"),
            channel="web",
            payment_method="card",
        )
    person, order = subscription.customer, subscription.order
    payment = order.payments.get()
    with at(dt(2026, 6, 16, 2)):
        assert relationships_end_due() == 1  # the daily sweep: the last season is over
    person.refresh_from_db()
    assert person.relationship_ended_on == date(2026, 6, 15)

    run = purge_at(dt(2027, 7, 15, 23, 30))  # 13 months: the last day
    assert purged(run) == only("customers.ended", 0)
    run = purge_at(dt(2027, 7, 16, 0, 30))
    assert purged(run) == only("customers.ended", 1)
    assert not Customer.objects.filter(pk=person.pk).exists()
    assert not SeasonSubscription.objects.exists()
    order.refresh_from_db()
    assert order.customer is None
    assert order.buyer_name == "Märta Ångström"
    assert order.buyer_address == "Storgatan 1, 702 10 Örebro, SE"
    assert order.amount == Decimal("2900.00")
    assert list(order.payments.all()) == [payment]

    run = purge_at(dt(2032, 12, 31, 23, 30))  # the hold's last day
    assert purged(run) == only("subscriptions.accounting", 0)
    assert Order.objects.filter(pk=order.pk).exists()
    run = purge_at(dt(2033, 1, 1, 0, 30))
    assert purged(run) == only("subscriptions.accounting", 1)
    assert run.rules.get(rule="subscriptions.accounting").related_rows == 1  # the payment
    assert not Order.objects.exists() and not Payment.objects.exists()


def test_an_ended_customer_who_once_had_seating_needs_is_erased_after_the_period(world):
    with at(dt(2025, 5, 10, 12)):
        series = a_series("thu", date(2025, 8, 15), date(2026, 6, 15))
        subscription = subscription_book(
            series=series,
            seats=2,
            buyer=buyer("Ase.Odegard@Example.NO", **AASE_BUYER),
            channel="web",
            payment_method="card",
            seating_needs=["wheelchair"],
            seating_notice=world.seating_notice,
        )
    person = subscription.customer
    with at(dt(2026, 6, 16, 2)):
        relationships_end_due()
    run = purge_at(dt(2026, 6, 16, 3))
    assert purged(run) == only("subscriptions.seating_needs", 1)  # the season is over
    run = purge_at(dt(2027, 7, 16, 0, 30))
    assert run.rules.get(rule="customers.ended").rows == 1
    assert not Customer.objects.filter(pk=person.pk).exists()
    assert not ConsentEvent.objects.exists() and not Consent.objects.exists()


# --- An expired person leaves nothing behind ------------------------------------------------------
def dangling_references() -> list[str]:
    """Every foreign key, in every table, that points at a row that is not there."""
    found = []
    for model in apps.get_models(include_auto_created=True):
        for fk in model._meta.concrete_fields:
            if not fk.is_relation:
                continue
            targets = fk.related_model._base_manager.values(fk.target_field.attname)
            rows = model._base_manager.filter(**{f"{fk.attname}__isnull": False}).exclude(
                **{f"{fk.attname}__in": targets}
            )
            if rows.exists():
                found.append(f"{model._meta.label}.{fk.name}")
    return found


def rows_of_person(person) -> dict[str, list]:
    people = Customer._base_manager.filter(pk=person.pk)
    return {d.label: sorted(d.rows_of(people).values_list("pk", flat=True)) for d in declarations()}


def test_an_expired_person_leaves_no_rows_and_no_orphans_and_others_are_untouched(world):
    with at(dt(2025, 5, 10, 12)):
        series = a_series("thu", date(2025, 8, 15), date(2026, 6, 15))
        for address, fields in (
            ("Ase.Odegard@Example.NO", AASE_BUYER),
            ("Marta.Angstrom@Example.SE", {}),
        ):
            subscription_book(
                series=series,
                seats=2,
                buyer=buyer(address, **fields),
                channel="web",
                payment_method="card",
            )
    aase = Customer.objects.get(email="ase.odegard@example.no")
    marta = Customer.objects.get(email="marta.angstrom@example.se")
    with at(dt(2025, 5, 11, 12)):
        for person, language in ((aase, "nb"), (marta, "sv")):
            signup = newsletter_signup(
                email=person.email.upper(), language=language, notices=[world.notice(language)]
            )
            signup_confirm(signup=signup)
    with at(dt(2025, 9, 20, 12)):
        concert = Concert.objects.create(
            series=series, title="Sibelius 5", venue="Stora salen", starts_at=timezone.now()
        )
        assert pre_concert_mail_prepare(concert=concert) == 2
    with at(dt(2026, 6, 16, 2)):
        assert relationships_end_due() == 2
    with at(dt(2026, 9, 1, 12)):
        campaign = Campaign.objects.create(name="Hösten", purpose=world.news)
        assert campaign_prepare_deliveries(campaign) == 2
    with at(dt(2026, 10, 1, 12)):
        preferences_withdraw_all(customer=aase)  # Märta keeps her newsletter
    with at(dt(2027, 6, 1, 12)), TestCase.captureOnCommitCallbacks(execute=True):
        # Answered, and the copies expired by the purge: either would hold the person till then.
        for address, name in (
            ("ASE.Odegard@example.NO", "Åse Ødegård"),
            ("Marta.ANGSTROM@example.se", "Märta Ångström"),
        ):
            request = verified_request("access", address, name=name)
            privacy_request_execute(request=request, actor=world.dpo)

    before = rows_of_person(aase)
    # She has rows of every kind the retention purge must deal with.
    for label in (
        "consent.consentevent",
        "consent.consent",
        "newsletters.signup",
        "newsletters.delivery",
        "newsletters.suppression",
        "subscriptions.seasonsubscription",
        "subscriptions.preconcertmail",
        "subscriptions.order",
        "subscriptions.payment",
        "privacy_requests.privacyrequest",
        "concerthouse.auditentry",
    ):
        assert before[label], label
    others = export_person(marta)
    marta_values = Customer.objects.values().get(pk=marta.pk)
    marta_requests = list(PrivacyRequest.objects.filter(customer=marta).values())
    footprint = ["ase.odegard@example.no", "Åse", "Ødegård", "+4791234567", "Kongens gate"]
    assert rows_mentioning(footprint)  # the search finds her before

    run = purge_at(dt(2027, 7, 16, 0, 30))
    # Märta's consent keeps her, not her contract: her subscription goes by its own rule, and
    # her copy of her data, fetched or not, when it expires.
    assert purged(run) == only("customers.ended", 1) | {
        "subscriptions.ended_contracts": 1,
        "privacy_requests.packages": 1,
    }

    assert not Customer.objects.filter(pk=aase.pk).exists()
    by_label = {d.label: d for d in declarations()}
    for label, pks in before.items():
        declaration = by_label[label]
        left = declaration.model._base_manager.filter(pk__in=pks)
        if declaration.erasure == Erasure.DELETE:
            assert not left.exists(), label
        elif declaration.erasure == Erasure.HOLD:
            # Held by Bokföringslagen until 2032: kept, without the person.
            assert left.count() == len(pks), label
    assert Order.objects.filter(pk__in=before["subscriptions.order"], customer=None).count() == 1
    entries = AuditEntry.objects.filter(pk__in=before["concerthouse.auditentry"])
    assert entries.count() == len(before["concerthouse.auditentry"])
    assert not entries.filter(target_id__isnull=False).exists()
    assert not entries.filter(redacted_at__isnull=True).exists()
    request = PrivacyRequest.objects.get(pk__in=before["privacy_requests.privacyrequest"])
    assert (request.customer, request.email, request.name) == (None, "", "")
    assert Suppression.objects.filter(pk__in=before["newsletters.suppression"]).exists()
    # Nothing points at a row that is gone, in any table.
    assert dangling_references() == []
    connection.check_constraints()
    # She remains only as the counterparty of the accounting record.
    assert sorted(rows_mentioning(footprint)) == [
        "subscriptions_order.buyer_address: Kongens gate",
        "subscriptions_order.buyer_name: Åse",
        "subscriptions_order.buyer_name: Ødegård",
    ]
    # Märta, ended on the same day but with her newsletter consent standing, keeps everything
    # but the contract.
    gone = {"subscriptions.seasonsubscription": [], "privacy_requests.accesspackage": []}
    assert export_person(marta) == others | gone
    assert all(others[label] for label in gone)
    assert Customer.objects.values().get(pk=marta.pk) == marta_values
    assert list(PrivacyRequest.objects.filter(customer=marta).values()) == marta_requests


# --- The forecast and the dry run say what the next run does -------------------------------------
@pytest.fixture
def every_case(world) -> dict[str, Tracked]:
    """The rows of every boundary case at once, made in the order of their dates, and a
    restricted lead that no rule may count. Cases whose rows a person rule erases first are in
    too: the forecast counts them where the run does, under the person rule."""
    made = {}
    cases = list(VARIANTS)
    for n, case in enumerate(sorted(cases, key=lambda v: v.made)):
        made[case.id] = make(world, case, tag=f"case{n}")
    with at(dt(2022, 3, 15, 10)):
        restricted = newsletter_signup(
            email="Ase.Restricted@Example.NO", language="nb", notices=[world.notice("nb")], **AASE
        ).customer
        customer_restrict(customer=restricted, actor=world.dpo, ground="legal_claims")
    return made


def test_the_forecast_matches_what_the_next_runs_purge_at_every_boundary(every_case):
    """At every boundary of every case, each rule's `due` is what a run then logs, and its
    `within` is that plus what a run 30 days later purges from what is left."""
    cases = [case for case in VARIANTS if not case.overlaps]
    moments = sorted({m for v in cases for m in (v.last_kept, v.first_purged)})
    seen_due, seen_within = set(), set()
    for moment in moments:
        lines = {line.rule.code: line for line in engine.forecast(now=local(moment), days=30)}
        assert set(lines) == set(RULES)
        assert all(line.model is RULES[code] for code, line in lines.items())
        # Travelled, as the nightly run: the forecast with no `now` is the clock's.
        with at(moment):
            assert [(f.rule.code, f.due, f.within) for f in engine.forecast()] == [
                (code, lines[code].due, lines[code].within) for code in sorted(lines)
            ]
        logged = purged(purge_at(moment))
        later = purge_rolled_back(moment + timedelta(days=30))
        for code, line in lines.items():
            assert (moment, code, line.due) == (moment, code, logged[code])
            assert (moment, code, line.within) == (moment, code, logged[code] + later[code])
            if line.due:
                seen_due.add(code)
            if line.within > line.due:
                seen_within.add(code)
    # The comparison was never between zeros only.
    assert seen_due == set(RULES) and seen_within == set(RULES)
    for tracked in every_case.values():
        tracked.assert_all_gone()
    # The restricted lead was never counted, nor purged.
    assert Customer.objects.filter(email="ase.restricted@example.no").exists()


def test_the_forecast_counts_a_signup_once_when_its_person_is_erased_first(world):
    """Every day's case: someone signs up on the website and never clicks the link."""
    with at(dt(2025, 5, 2, 10)):
        web_signup(world, "Ase.Odegard@Example.NO", AASE)
    moment = dt(2025, 6, 2, 10)
    forecast = {line.rule.code: line.due for line in engine.forecast(now=local(moment))}
    assert purged(purge_at(moment)) == forecast


def test_the_forecast_counts_a_person_once_when_two_person_rules_would_erase_them(world):
    """A website signup never confirmed, and no contact since for more than three years: the
    lead rule and the unconfirmed-signup rule would both erase the person. The run erases her
    once, under the rule it applies first, and the forecast counts her there only, now and at
    the horizon."""
    with at(dt(2021, 5, 2, 10)):
        web_signup(world, "Ase.Odegard@Example.NO", AASE)
    with at(dt(2025, 5, 20, 10)):
        web_signup(world, "Marta.Angstrom@Example.SE", MARTA)  # unconfirmed, due in June
    moment = dt(2025, 6, 2, 10)
    lines = {line.rule.code: line for line in engine.forecast(now=local(moment), days=30)}

    logged = purged(purge_at(moment))
    later = purge_rolled_back(moment + timedelta(days=30))

    assert (logged["customers.leads"], logged["customers.unconfirmed"]) == (1, 0)
    assert later["customers.unconfirmed"] == 1
    for code, line in lines.items():
        assert (code, line.due, line.within) == (code, logged[code], logged[code] + later[code])


def assert_forecast_is_what_the_runs_do(moment: datetime, days: int = 30):
    """The forecast at `moment`, checked against the run then and one `days` later; both
    returned, the forecast's lines and the run's log."""
    lines = {line.rule.code: line for line in engine.forecast(now=local(moment), days=days)}
    logged = purged(purge_at(moment))
    later = purge_rolled_back(moment + timedelta(days=days))
    for code, line in lines.items():
        assert (code, line.due, line.within) == (code, logged[code], logged[code] + later[code])
    return lines, logged


def test_the_forecast_counts_the_requests_of_a_person_erased_first_under_their_own_rules(world):
    """Erasing a person anonymises their privacy requests rather than deleting them: the same
    night the request rules still delete those that are due, and the forecast says so."""
    with at(dt(2021, 1, 10, 10)):
        CustomerFactory(
            email="ase.odegard@example.no", source=Customer.Source.FAIR_OR_MEETING, **AASE
        )
        answered = verified_request("objection", "Ase.Odegard@Example.NO", name="Åse Ødegård")
        with TestCase.captureOnCommitCallbacks(execute=True):  # the answer is sent
            privacy_request_execute(request=answered, actor=world.dpo)
        privacy_request_submit(
            kind="access", email="ase.odegard@example.no", language="nb", name="Åse Ødegård"
        )

    _lines, logged = assert_forecast_is_what_the_runs_do(dt(2025, 1, 20, 10))

    assert logged == only("customers.leads", 1) | {
        "privacy_requests.answered": 1,
        "privacy_requests.unverified": 1,
    }


def test_the_forecast_counts_a_package_once_when_its_request_goes_first(world):
    """An answered request and its package, both past their time: deleting the request (its
    rule comes first) takes the package with it, as a related row."""
    with at(dt(2022, 1, 10, 10)):
        request = verified_request("access", "Ase.Odegard@Example.NO", name="Åse Ødegård")
        privacy_request_execute(request=request, actor=world.dpo)
    with at(dt(2022, 1, 11, 10)):
        soon = verified_request("access", "Marta.Angstrom@Example.SE", name="Märta Ångström")
        privacy_request_execute(request=soon, actor=world.dpo)
    # Kept longer than the 30 days (a house's longer PRIVACY_PACKAGE_DAYS, a restriction lifted).
    AccessPackage.objects.filter(request=soon).update(
        expires_at=local(dt(2025, 1, 20, 10)) + timedelta(days=20)
    )
    moment = dt(2025, 1, 10, 11)  # Åse's request was answered three years and an hour ago

    lines, logged = assert_forecast_is_what_the_runs_do(moment)

    assert logged == only("privacy_requests.answered", 1)
    # Märta's goes within the 30 days, and her package with it, not under its own rule.
    assert (
        lines["privacy_requests.answered"].within,
        lines["privacy_requests.packages"].within,
    ) == (
        2,
        0,
    )
    run = Run.objects.latest("pk")
    assert run.rules.get(rule="privacy_requests.answered").related_rows >= 1  # the package


def table_counts() -> dict[str, int]:
    return {
        model._meta.label: model._base_manager.count()
        for model in apps.get_models(include_auto_created=True)
    }


def read_forecast(output: str) -> dict[str, tuple[int, int]]:
    found = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in RULES:
            found[parts[0]] = (int(parts[1]), int(parts[2]))
    return found


def test_the_dry_run_prints_the_forecast_and_changes_nothing(every_case, private_files):
    purge_at(dt(2025, 6, 1, 10))  # last night's run
    moment = dt(2025, 6, 2, 10)
    before = table_counts()
    files = sorted(private_files.rglob("*"))
    out = io.StringIO()
    with at(moment):
        call_command("retention", "--dry-run", stdout=out)
        forecast = {f.rule.code: (f.due, f.within) for f in engine.forecast(days=30)}
    assert "Dry run: nothing is changed." in out.getvalue()
    assert read_forecast(out.getvalue()) == forecast
    assert [due > 0 for due, _within in forecast.values()].count(True) >= 3
    assert any(within > due for due, within in forecast.values())
    assert table_counts() == before
    assert sorted(private_files.rglob("*")) == files
    assert (Run.objects.count(), RuleRun.objects.count()) == (1, len(RULES))

    # The run the dry run announced: the same rows, by rule.
    out = io.StringIO()
    with at(moment), TestCase.captureOnCommitCallbacks(execute=True):
        call_command("retention", stdout=out)
    run = Run.objects.latest("pk")
    assert purged(run) == {code: due for code, (due, _within) in forecast.items()}
    assert table_counts() != before
    assert sorted(private_files.rglob("*")) != files  # the package's file went with it
    for code, rows in purged(run).items():
        assert any(line.split()[:2] == [code, str(rows)] for line in out.getvalue().splitlines())


def test_the_command_refuses_to_purge_as_of_a_later_day_and_forecasts_it_gladly(every_case):
    """A purge as of a later day would delete rows before their time, records a statute still
    holds among them; a forecast for that day changes nothing and is welcome."""
    before = table_counts()
    with at(dt(2025, 6, 2, 10)):
        with pytest.raises(CommandError, match="only with --dry-run"):
            call_command("retention", "--as-of", "2040-01-01T03:00", stdout=io.StringIO())
        out = io.StringIO()
        call_command("retention", "--dry-run", "--as-of", "2040-01-01T03:00", stdout=out)
        # As of the past, the rules purge no more than they would have then.
        call_command("retention", "--as-of", "2025-06-01T03:00", stdout=io.StringIO())
    assert read_forecast(out.getvalue())["subscriptions.accounting"][0] > 0
    assert Run.objects.get().as_of == local(dt(2025, 6, 1, 3))
    assert Order.objects.count() == before["subscriptions.Order"]


# --- The run log names no one --------------------------------------------------------------------
def test_the_run_log_holds_no_names_or_addresses(every_case, caplog):
    caplog.set_level(logging.INFO)
    names = {"Åse", "Ødegård", "Märta", "Ångström", "Odegard", "Angstrom", "example."}
    assert Customer.objects.filter(first_name__in=["Åse", "Märta"]).count() >= 3
    out = io.StringIO()
    with at(dt(2033, 1, 2, 3)):
        call_command("retention", stdout=out)
    run = Run.objects.get()
    assert purged(run)["customers.leads"] >= 2 and purged(run)["customers.ended"] == 2
    logged = [str(value) for row in Run.objects.values() for value in row.values()]
    logged += [str(value) for row in RuleRun.objects.values() for value in row.values()]
    logged += [caplog.text, out.getvalue()]
    text = "\n".join(logged).casefold()
    assert "customers.leads" in text  # the log is there, counted
    assert [name for name in names if name.casefold() in text] == []


# --- A purge costs the same, however many people -------------------------------------------------
def leads_with_history(world: World, count: int, start: int, made: datetime) -> list[int]:
    """Leads who signed up, confirmed, received a campaign, withdrew and asked a question:
    consents, a ledger, a signup, a delivery, audit entries and a privacy request each."""
    with at(made):
        people = []
        for n in range(start, start + count):
            address = f"Lead.{n}@Example.SE"
            signup = newsletter_signup(
                email=address, language="sv", notices=[world.notice("sv")], **MARTA
            )
            signup_confirm(signup=signup)
            request = verified_request("access", address, name="Märta Ångström")
            with TestCase.captureOnCommitCallbacks(execute=True):  # the answer is sent
                privacy_request_execute(request=request, actor=world.dpo)
            people.append(signup.customer)
        campaign = Campaign.objects.create(name=f"Vår {start}", purpose=world.news)
        campaign_prepare_deliveries(campaign)
    with at(made + timedelta(days=1)):
        for person in people:
            consent_withdraw(customer=person, purpose=world.news, channel="preference_centre")
    return [person.pk for person in people]


def test_a_purge_takes_as_many_queries_for_200_people_as_for_10(
    world, settings, django_assert_max_num_queries
):
    settings.RETENTION_BATCH_SIZE = 1000
    first = leads_with_history(world, 10, 0, dt(2022, 3, 15, 10))
    with CaptureQueriesContext(connection) as ten:
        run = purge_at(dt(2025, 3, 17, 10))
    assert purged(run)["customers.leads"] == 10
    assert run.rules.get(rule="customers.leads").related_rows >= 10 * 8
    assert not Customer.objects.filter(pk__in=first).exists()

    second = leads_with_history(world, 200, 10, dt(2022, 3, 16, 10))
    with (
        django_assert_max_num_queries(len(ten.captured_queries)),
        CaptureQueriesContext(connection) as two_hundred,
    ):
        run = purge_at(dt(2025, 3, 18, 10))
    assert purged(run)["customers.leads"] == 200
    assert run.rules.get(rule="customers.leads").batches == 1
    assert run.rules.get(rule="customers.leads").related_rows >= 200 * 8
    assert not Customer.objects.filter(pk__in=second).exists()
    assert len(two_hundred.captured_queries) == len(ten.captured_queries)
    assert dangling_references() == []
