"""Orders and payments are accounting records: kept under the bookkeeping hold of the house's
country (Bokföringslagen 7:2, bokføringsloven § 13), through erasure, and read-only for everyone."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from consent.models import ConsentEvent
from customers.models import Customer
from privacy_requests import services as privacy
from privacy_requests.models import PrivacyRequest
from subscriptions import accounting, services
from subscriptions.models import (
    Order,
    Payment,
    PreConcertMail,
    SeasonSubscription,
    SeatingNeed,
)
from subscriptions.pre_concert import pre_concert_mail_prepare
from tests.privacy_requests.conftest import execute
from tests.privacy_requests.test_handling import rows_mentioning

from .conftest import buyer, committed

SE_STATUTE = "Bokföringslagen (1999:1078) 7 kap. 2 §"
NO_STATUTE = "Bokføringsloven § 13"


def order(*, country: str, financial_year_ends_on: date, reference="O-1") -> Order:
    return Order.objects.create(
        reference=reference,
        buyer_name="Åse Ødegård",
        description="Season subscription thu, 2 seat(s)",
        amount=Decimal("2900.00"),
        currency="SEK",
        ordered_on=financial_year_ends_on - timedelta(days=30),
        channel=Order.Channel.WEB,
        country=country,
        financial_year_ends_on=financial_year_ends_on,
    )


def expired_on(day: date) -> set[str]:
    """The references whose hold has ended by `day`, as the retention purge asks the database."""
    return set(
        Order.objects.filter(accounting.order_expired(day)).values_list("reference", flat=True)
    )


# --- How long --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("country", "held_until"),
    [("SE", date(2032, 12, 31)), ("NO", date(2030, 12, 31))],
)
def test_an_order_of_the_financial_year_2025_is_held_until_the_statute_s_last_day(
    db, country, held_until
):
    record = order(country=country, financial_year_ends_on=date(2025, 12, 31))
    assert record.held_until == held_until
    assert accounting.held_until(country=country, financial_year_ends_on=date(2025, 12, 31)) == (
        held_until
    )
    # In SQL, as the purge runs it: kept on the last day, gone the day after.
    assert expired_on(held_until) == set()
    assert expired_on(held_until + timedelta(days=1)) == {"O-1"}
    assert expired_on(date(2026, 1, 1)) == set()


def test_each_order_keeps_the_statute_of_the_country_it_was_made_in(db):
    order(country="SE", financial_year_ends_on=date(2025, 12, 31), reference="SE-2025")
    order(country="NO", financial_year_ends_on=date(2025, 12, 31), reference="NO-2025")
    order(country="NO", financial_year_ends_on=date(2027, 12, 31), reference="NO-2027")
    assert expired_on(date(2030, 12, 31)) == set()
    assert expired_on(date(2031, 1, 1)) == {"NO-2025"}
    assert expired_on(date(2032, 12, 31)) == {"NO-2025"}
    assert expired_on(date(2033, 1, 1)) == {"NO-2025", "NO-2027", "SE-2025"}


@pytest.mark.parametrize(
    ("day", "year_end"),
    [
        (date(2025, 7, 1), date(2026, 6, 30)),
        (date(2025, 12, 31), date(2026, 6, 30)),
        (date(2026, 6, 30), date(2026, 6, 30)),
        (date(2026, 7, 1), date(2027, 6, 30)),
        (date(2025, 6, 30), date(2025, 6, 30)),
    ],
)
def test_a_broken_financial_year_ends_on_the_day_before_its_start_month(settings, day, year_end):
    settings.HOUSE_FINANCIAL_YEAR_START_MONTH = 7
    assert accounting.financial_year_end(day) == year_end


@pytest.mark.parametrize(
    ("day", "year_end"),
    [(date(2025, 1, 1), date(2025, 12, 31)), (date(2025, 12, 31), date(2025, 12, 31))],
)
def test_the_calendar_financial_year_ends_on_31_december(settings, day, year_end):
    settings.HOUSE_FINANCIAL_YEAR_START_MONTH = 1
    assert accounting.financial_year_end(day) == year_end


@pytest.mark.parametrize(
    ("country", "held_until"),
    # The financial year 2025/26 ends on 30 June 2026. Sweden: to the end of the seventh calendar
    # year after the one it ended in; Norway: five years after its end.
    [("SE", date(2033, 12, 31)), ("NO", date(2031, 6, 30))],
)
def test_a_broken_financial_year_is_held_by_each_statute_to_the_day(
    db, settings, country, held_until
):
    settings.HOUSE_FINANCIAL_YEAR_START_MONTH = 7
    year_end = accounting.financial_year_end(date(2025, 9, 15))
    assert year_end == date(2026, 6, 30)
    record = order(country=country, financial_year_ends_on=year_end)
    assert record.held_until == held_until
    assert expired_on(held_until) == set()
    assert expired_on(held_until + timedelta(days=1)) == {"O-1"}


def test_a_financial_year_ending_on_29_february_is_held_to_the_same_day_in_sql_and_python(db):
    record = order(country="NO", financial_year_ends_on=date(2024, 2, 29))
    assert record.held_until == date(2029, 2, 28)
    assert expired_on(date(2029, 2, 28)) == set()
    assert expired_on(date(2029, 3, 1)) == {"O-1"}


def payment(record: Order, *, paid_on: date, kind=Payment.Kind.PAYMENT) -> Payment:
    return Payment.objects.create(
        order=record,
        kind=kind,
        method=Payment.Method.CARD,
        amount=record.amount,
        currency=record.currency,
        paid_on=paid_on,
        financial_year_ends_on=accounting.financial_year_end(paid_on),
    )


@pytest.mark.parametrize(
    ("country", "order_held", "refund_held"),
    [
        ("SE", date(2032, 12, 31), date(2033, 12, 31)),
        ("NO", date(2030, 12, 31), date(2031, 12, 31)),
    ],
)
def test_a_refund_in_the_next_financial_year_is_held_for_its_own_year_and_keeps_its_order(
    db, country, order_held, refund_held
):
    record = order(country=country, financial_year_ends_on=date(2025, 12, 31))
    paid = payment(record, paid_on=date(2025, 12, 20))
    refund = payment(record, paid_on=date(2026, 1, 10), kind=Payment.Kind.REFUND)

    assert refund.financial_year_ends_on == date(2026, 12, 31)
    assert (paid.held_until, refund.held_until) == (order_held, refund_held)
    # The refund refers to the order: both stay until the refund's last day, and go together.
    record.refresh_from_db()
    assert record.held_until == refund_held
    assert expired_on(order_held + timedelta(days=1)) == set()
    assert expired_on(refund_held) == set()
    assert expired_on(refund_held + timedelta(days=1)) == {"O-1"}


def test_a_refund_at_the_counter_in_january_belongs_to_the_new_financial_year(
    thursdays, box_office
):
    with time_machine.travel(timezone.make_aware(datetime(2025, 12, 20, 11)), tick=False):
        subscription = services.subscription_book(
            series=thursdays,
            seats=1,
            buyer=buyer("marta.angstrom@example.se"),
            channel=Order.Channel.BOX_OFFICE,
            payment_method=Payment.Method.CARD,
            actor=box_office,
        )
    with time_machine.travel(timezone.make_aware(datetime(2026, 1, 10, 11)), tick=False):
        services.subscription_cancel(
            subscription=subscription, actor=box_office, refund_method=Payment.Method.CARD
        )
    years = dict(Payment.objects.values_list("kind", "financial_year_ends_on"))
    assert years == {
        Payment.Kind.PAYMENT: date(2025, 12, 31),
        Payment.Kind.REFUND: date(2026, 12, 31),
    }
    assert Order.objects.get().financial_year_ends_on == date(2025, 12, 31)


def test_a_country_without_a_known_statute_is_an_error_not_a_guess():
    with pytest.raises(ValueError, match="DK"):
        accounting.held_until(country="DK", financial_year_ends_on=date(2025, 12, 31))


@pytest.mark.parametrize("country", ["SE", "NO"])
def test_a_booking_records_the_house_s_country_and_the_end_of_its_financial_year(
    thursdays, settings, country
):
    settings.HOUSE_COUNTRY = country
    services.subscription_book(series=thursdays, seats=1, buyer=buyer(), channel="web")
    record = Order.objects.get()
    assert record.country == country
    assert record.financial_year_ends_on == accounting.financial_year_end(timezone.localdate())
    # A later change of the settings does not move an existing record's statute.
    settings.HOUSE_COUNTRY = "NO" if country == "SE" else "SE"
    record.refresh_from_db()
    assert record.country == country


# --- Erasure -------------------------------------------------------------------------------------
def erasure_request(email: str, *, language: str = "en") -> PrivacyRequest:
    """A verified erasure request, as if sent from the public form."""
    with committed():
        request = privacy.privacy_request_submit(kind="erasure", email=email, language=language)
        return privacy.privacy_request_verify(request=request)


@pytest.fixture
def marta(thursdays, box_office, seating_notice, concert_in):
    """Märta with a subscription paid at the counter, seating needs and a pre-concert email."""
    subscription = services.subscription_book(
        series=thursdays,
        seats=2,
        buyer=buyer(),
        channel="box_office",
        payment_method="card",
        seating_needs=["wheelchair"],
        seating_notice=seating_notice,
        actor=box_office,
    )
    pre_concert_mail_prepare(concert=concert_in(2))
    return subscription


def test_erasure_deletes_the_person_and_keeps_the_accounting_records_without_them(dpo, marta):
    person = marta.customer
    record = Order.objects.get()
    assert PreConcertMail.objects.filter(customer=person).exists()
    request = erasure_request("Marta.Angstrom@Example.se", language="sv")
    mail.outbox.clear()
    execute(request, dpo)
    assert not Customer.objects.filter(pk=person.pk).exists()
    assert not SeasonSubscription.objects.exists()
    assert not SeatingNeed.objects.exists()
    assert not PreConcertMail.objects.exists()
    assert not ConsentEvent.objects.exists()
    # The accounting record stays whole: the counterparty, the amount and the payment.
    record.refresh_from_db()
    assert record.customer is None
    assert record.buyer_name == "Märta Ångström"
    assert record.buyer_address == "Storgatan 1, 702 10 Örebro, SE"
    assert record.amount == Decimal("2900.00")
    payment = Payment.objects.get()
    assert (payment.order, payment.amount, payment.method) == (record, record.amount, "card")
    until = date(record.financial_year_ends_on.year + 7, 12, 31).isoformat()
    request.refresh_from_db()
    assert request.state == PrivacyRequest.State.COMPLETED
    assert request.erasure_holds == [
        {"model": "subscriptions.order", "statute": SE_STATUTE, "until": until},
        {"model": "subscriptions.payment", "statute": SE_STATUTE, "until": until},
    ]
    # The person is told what is kept, under which law and until when.
    (answer,) = [m for m in mail.outbox if m.to == ["marta.angstrom@example.se"]]
    assert SE_STATUTE in answer.body and until in answer.body
    # Anywhere in the database, the person remains only as the counterparty of the record.
    assert rows_mentioning(["marta.angstrom@example.se", "+46701234567"]) == []
    assert sorted(rows_mentioning(["Märta", "Ångström", "Storgatan"])) == [
        "subscriptions_order.buyer_address: Storgatan",
        "subscriptions_order.buyer_name: Märta",
        "subscriptions_order.buyer_name: Ångström",
    ]


def test_a_norwegian_house_tells_its_own_statute_and_date(dpo, marta, settings):
    Order.objects.update(country="NO")
    settings.HOUSE_COUNTRY = "NO"
    request = erasure_request("marta.angstrom@example.se")
    execute(request, dpo)
    year_end = Order.objects.get().financial_year_ends_on
    request.refresh_from_db()
    assert request.erasure_holds[0] == {
        "model": "subscriptions.order",
        "statute": NO_STATUTE,
        "until": date(year_end.year + 5, year_end.month, year_end.day).isoformat(),
    }


def test_erasure_deletes_an_order_whose_hold_has_ended(dpo, marta):
    old = order(country="SE", financial_year_ends_on=date(2015, 12, 31), reference="O-OLD")
    Order.objects.filter(pk=old.pk).update(customer=marta.customer)
    Payment.objects.create(
        order=old,
        method="card",
        amount=old.amount,
        currency="SEK",
        paid_on=date(2015, 12, 1),
        financial_year_ends_on=date(2015, 12, 31),
    )
    request = erasure_request("marta.angstrom@example.se")
    execute(request, dpo)
    assert not Order.objects.filter(reference="O-OLD").exists()
    assert Payment.objects.filter(order__reference="O-OLD").count() == 0
    # The current one is still held.
    assert Order.objects.count() == 1 and Payment.objects.count() == 1
    request.refresh_from_db()
    assert {hold["model"] for hold in request.erasure_holds} == {
        "subscriptions.order",
        "subscriptions.payment",
    }


def test_erasure_of_a_person_whose_every_order_has_expired_holds_nothing(dpo, marta):
    Order.objects.update(financial_year_ends_on=date(2015, 12, 31))
    Payment.objects.update(financial_year_ends_on=date(2015, 12, 31))
    request = erasure_request("marta.angstrom@example.se")
    execute(request, dpo)
    assert not Order.objects.exists() and not Payment.objects.exists()
    request.refresh_from_db()
    assert request.erasure_holds == []


def test_erasure_leaves_other_buyers_orders_alone(dpo, marta, thursdays):
    other = services.subscription_book(
        series=thursdays, seats=1, buyer=buyer("other@example.se"), channel="web"
    )
    request = erasure_request("marta.angstrom@example.se")
    execute(request, dpo)
    assert Order.objects.filter(customer=other.customer).count() == 1
    assert SeasonSubscription.objects.get() == other


# --- Read-only, and only for those who keep the accounts ------------------------------------------
def test_finance_reads_orders_and_their_payments_and_can_change_nothing(client_for, finance, marta):
    client = client_for(finance)
    record = Order.objects.get()
    listing = client.get(reverse("admin:subscriptions_order_changelist"))
    assert listing.status_code == 200 and record.reference in listing.content.decode()
    change = reverse("admin:subscriptions_order_change", args=[record.pk])
    page = client.get(change)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Märta Ångström" in html and "2900.00" in html
    assert 'name="_save"' not in html and 'name="buyer_name"' not in html
    assert 'name="payments-0-amount"' not in html and "payments-0-DELETE" not in html
    assert record.held_until.strftime("%Y") in html
    before = Order.objects.values().get()
    assert client.post(change, {"buyer_name": "Someone else", "amount": "1"}).status_code == 403
    assert client.get(reverse("admin:subscriptions_order_add")).status_code == 403
    assert (
        client.post(
            reverse("admin:subscriptions_order_delete", args=[record.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert Order.objects.values().get() == before
    assert Payment.objects.count() == 1


@pytest.mark.parametrize("role", ["box_office", "dpo", "finance"])
def test_nobody_edits_or_deletes_an_accounting_record(client_for, request, role, marta):
    client = client_for(request.getfixturevalue(role))
    record = Order.objects.get()
    change = reverse("admin:subscriptions_order_change", args=[record.pk])
    assert client.post(change, {"buyer_name": "X"}).status_code == 403
    assert (
        client.post(
            reverse("admin:subscriptions_order_delete", args=[record.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert Order.objects.get().buyer_name == "Märta Ångström"
    # Payments have no admin of their own: they are read on their order.
    with pytest.raises(NoReverseMatch):
        reverse("admin:subscriptions_payment_changelist")


def test_marketing_cannot_see_orders_or_payments(client_for, marketing, marta):
    client = client_for(marketing)
    record = Order.objects.get()
    assert client.get(reverse("admin:subscriptions_order_changelist")).status_code == 403
    assert (
        client.get(reverse("admin:subscriptions_order_change", args=[record.pk])).status_code == 403
    )
    index = client.get(reverse("admin:index")).content.decode()
    assert "/admin/subscriptions/order/" not in index
    # Nor through the subscription page marketing may read.
    page = client.get(reverse("admin:subscriptions_seasonsubscription_change", args=[marta.pk]))
    assert page.status_code == 200
    assert reverse("admin:subscriptions_order_change", args=[record.pk]) not in (
        page.content.decode()
    )
