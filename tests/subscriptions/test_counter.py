"""The box office counter (a staff tool in the admin's look): find a person, book with the payment taken, record seating
needs with the consent given there, cancel with a refund; and the relationship dates."""

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from concerthouse.models import AuditEntry
from consent.models import ConsentEvent, Purpose
from consent.selectors import notice_current
from customers.models import Customer
from customers.services import customer_restrict
from subscriptions import services
from subscriptions.models import Order, Payment, Season, SeasonSubscription, SeatingNeed, Series
from subscriptions.services import subscription_book
from subscriptions.tasks import daily_task
from tests.factories import CustomerFactory

from .conftest import buyer, committed

COUNTER = "counter:search"
BOOK = "counter:book"
CANCEL = "counter:cancel"


def counter_post(series, *, key=None, **changes) -> dict:
    """The counter's booking form as box office fills it in for a caller."""
    data = {
        "booking_key": str(key or uuid.uuid4()),
        "series": series.pk,
        "seats": "2",
        "first_name": "Märta",
        "last_name": "Ångström",
        "email": "Marta.Angstrom@Example.se",
        "phone": "070-123 45 67",
        "street_address": "Storgatan 1",
        "postal_code": "702 10",
        "city": "Örebro",
        "country": "SE",
        "language": "sv",
        "payment_method": "card",
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def search(client, query):
    response = client.get(reverse(COUNTER), {"q": query})
    assert response.status_code == 200
    return response


@pytest.fixture
def counter(client_for, box_office):
    return client_for(box_office)


@pytest.fixture
def marta(thursdays):
    return services.subscription_book(series=thursdays, seats=2, buyer=buyer(), channel="web")


# --- Finding a person ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query",
    [
        "MARTA.Angstrom@Example.SE",
        "  marta.angstrom@example.se ",
        "070-123 45 67",
        "+46 70 123 45 67",
        "Märta Ångström",
        "Ångström",
        "Märta",
    ],
)
def test_the_counter_finds_a_person_by_email_phone_or_name(counter, marta, query):
    CustomerFactory(email="someone.else@example.se", first_name="Bo", last_name="Berg")
    response = search(counter, query)
    assert [person.pk for person in response.context["people"]] == [marta.customer_id]
    html = response.content.decode()
    assert marta.reference in html and "marta.angstrom@example.se" in html


def test_the_counter_finds_a_person_by_booking_reference_in_any_case(counter, marta):
    for query in (marta.reference, marta.reference.lower()):
        response = search(counter, query)
        assert [p.pk for p in response.context["people"]] == [marta.customer_id]


def test_the_counter_finds_a_person_by_public_id(counter, marta):
    response = search(counter, str(marta.customer.public_id))
    assert [p.pk for p in response.context["people"]] == [marta.customer_id]


def test_the_counter_says_when_nobody_is_found(counter, marta):
    response = search(counter, "nobody@example.se")
    assert response.context["people"] == []
    assert "Nobody found." in response.content.decode()


def test_the_counter_marks_a_restricted_person_and_offers_no_booking(counter, marta, dpo):
    customer_restrict(customer=marta.customer, actor=dpo, ground="accuracy_contested")
    html = search(counter, "marta.angstrom@example.se").content.decode()
    assert "(restricted)" in html
    assert f"?customer={marta.customer_id}" not in html


def test_the_counter_pages_are_not_cached(counter, marta):
    assert "no-store" in search(counter, "Ångström")["Cache-Control"]


# --- Booking at the counter ----------------------------------------------------------------------
def test_a_counter_booking_paid_by_card_records_the_order_the_payment_and_who_booked(
    counter, box_office, thursdays
):
    with committed():
        response = counter.post(reverse(BOOK), counter_post(thursdays))
    assert response.status_code == 302
    subscription = SeasonSubscription.objects.get()
    assert response["Location"] == reverse(
        "admin:subscriptions_seasonsubscription_change", args=[subscription.pk]
    )
    assert (subscription.channel, subscription.booked_by, subscription.seats) == (
        "box_office",
        box_office,
        2,
    )
    order = Order.objects.get()
    assert subscription.order == order
    assert (order.channel, order.amount, order.buyer_name) == (
        "box_office",
        Decimal("2900.00"),
        "Märta Ångström",
    )
    payment = Payment.objects.get()
    assert (payment.order, payment.kind, payment.method, payment.amount, payment.currency) == (
        order,
        "payment",
        "card",
        Decimal("2900.00"),
        "SEK",
    )
    assert payment.paid_on == timezone.localdate()
    person = Customer.objects.get()
    assert (person.email, person.source, person.kind) == (
        "marta.angstrom@example.se",
        Customer.Source.BOX_OFFICE,
        Customer.Kind.CUSTOMER,
    )
    assert person.relationship_started_on == timezone.localdate()
    entry = AuditEntry.objects.get(action="subscription.booked")
    assert entry.actor == box_office and entry.detail["channel"] == "box_office"
    assert "Märta" not in str(entry.detail) and "marta" not in str(entry.detail)
    # A counter booking is confirmed by email too, and buys no marketing consent.
    [confirmation] = mail.outbox
    assert confirmation.to == ["marta.angstrom@example.se"]
    assert not ConsentEvent.objects.exists()


def test_a_counter_booking_on_invoice_records_no_payment(counter, thursdays):
    response = counter.post(reverse(BOOK), counter_post(thursdays, payment_method="invoice"))
    assert response.status_code == 302
    assert Order.objects.count() == 1 and not Payment.objects.exists()


def test_a_payment_method_outside_the_counter_s_list_is_refused(counter, thursdays):
    response = counter.post(reverse(BOOK), counter_post(thursdays, payment_method="ticket_agent"))
    assert response.status_code == 200 and "payment_method" in response.context["form"].errors
    assert not Customer.objects.exists() and not Order.objects.exists()


def test_the_counter_form_sent_twice_books_once(counter, thursdays):
    key = uuid.uuid4()
    first = counter.post(reverse(BOOK), counter_post(thursdays, key=key))
    second = counter.post(reverse(BOOK), counter_post(thursdays, key=key))
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert SeasonSubscription.objects.count() == 1
    assert Order.objects.count() == 1 and Payment.objects.count() == 1


def test_the_counter_refuses_more_seats_than_are_left_and_writes_nothing(counter, thursdays):
    thursdays.capacity = 1
    thursdays.save()
    response = counter.post(reverse(BOOK), counter_post(thursdays, seats="2"))
    assert response.status_code == 200
    assert response.context["form"].errors["seats"] == ["Only 1 seats are left in this series."]
    assert not Customer.objects.exists() and not Order.objects.exists()
    assert not Payment.objects.exists() and not SeasonSubscription.objects.exists()


def test_a_counter_booking_for_a_known_person_keeps_their_record_and_puts_changes_on_the_order(
    counter, marta, thursdays
):
    person = marta.customer
    page = counter.get(reverse(BOOK), {"customer": person.pk})
    assert page.status_code == 200
    assert page.context["form"].initial["email"] == "marta.angstrom@example.se"
    response = counter.post(
        reverse(BOOK),
        counter_post(
            thursdays,
            customer=person.pk,
            street_address="Nygatan 5",
            email="MARTA.ANGSTROM@example.se",
        ),
    )
    assert response.status_code == 302, response.context["form"].errors
    assert Customer.objects.count() == 1
    person.refresh_from_db()
    assert person.street_address == "Storgatan 1"
    assert Order.objects.latest("id").buyer_address.startswith("Nygatan 5")
    assert SeasonSubscription.objects.filter(customer=person).count() == 2


def test_seating_needs_at_the_counter_need_the_consent_box(counter, box_office, thursdays):
    refused = counter.post(
        reverse(BOOK), counter_post(thursdays, seating_needs=["wheelchair", "companion"])
    )
    assert refused.status_code == 200
    assert "seating_consent" in refused.context["form"].errors
    assert not Customer.objects.exists() and not SeasonSubscription.objects.exists()
    assert not SeatingNeed.objects.exists() and not ConsentEvent.objects.exists()
    notice = notice_current(
        purpose=Purpose.objects.get(kind=Purpose.Kind.ACCESSIBILITY), language="en"
    )
    response = counter.post(
        reverse(BOOK),
        counter_post(
            thursdays, seating_needs=["wheelchair", "companion"], seating_consent=notice.pk
        ),
    )
    assert response.status_code == 302
    need = SeatingNeed.objects.get()
    assert need.need_codes == ["wheelchair", "companion"]
    event = need.consent_event
    assert (event.action, event.channel, event.actor, event.notice) == (
        "confirmed",
        "counter_or_phone",
        box_office,
        notice,
    )


def test_the_counter_booking_page_shows_the_consent_text_to_read_out(counter, thursdays):
    html = counter.get(reverse(BOOK)).content.decode()
    notice = notice_current(
        purpose=Purpose.objects.get(kind=Purpose.Kind.ACCESSIBILITY), language="en"
    )
    assert notice.text in html
    assert (
        'name="seating_consent"' in html and "checked" not in html.split("seating_consent")[1][:80]
    )


def test_a_season_that_has_ended_cannot_be_booked(counter, box_office, thursdays):
    Season.objects.filter(pk=thursdays.season_id).update(
        ends_on=timezone.localdate() - timedelta(days=1)
    )
    response = counter.post(reverse(BOOK), counter_post(thursdays))
    assert response.status_code == 200 and "series" in response.context["form"].errors
    thursdays.refresh_from_db()
    with pytest.raises(Exception, match="ended"):
        services.subscription_book(
            series=thursdays, seats=1, buyer=buyer(), channel="box_office", actor=box_office
        )
    assert not Customer.objects.exists() and not Order.objects.exists()


# --- Cancelling ----------------------------------------------------------------------------------
@pytest.fixture
def paid(counter, thursdays):
    counter.post(reverse(BOOK), counter_post(thursdays))
    return SeasonSubscription.objects.get()


def test_cancelling_with_a_refund_records_a_refund_and_ends_the_relationship(
    counter, box_office, paid
):
    url = reverse(CANCEL, args=[paid.pk])
    page = counter.get(url)
    assert page.status_code == 200 and "Paid so far: 2900" in page.content.decode()
    response = counter.post(url, {"refund_method": "card"})
    assert response.status_code == 302
    paid.refresh_from_db()
    assert paid.status == "cancelled" and paid.cancelled_at is not None
    refund = Payment.objects.get(kind="refund")
    assert (refund.order, refund.amount, refund.method, refund.paid_on) == (
        paid.order,
        Decimal("2900.00"),
        "card",
        timezone.localdate(),
    )
    # The original payment is never edited: the record is corrected by a new one.
    assert Payment.objects.get(kind="payment").amount == Decimal("2900.00")
    assert services.order_balance(paid.order) == 0
    person = Customer.objects.get()
    assert person.relationship_ended_on == timezone.localdate()
    entry = AuditEntry.objects.get(action="subscription.cancelled")
    assert entry.actor == box_office and entry.detail["refunded"] is True


def test_cancelling_twice_is_harmless(counter, paid):
    url = reverse(CANCEL, args=[paid.pk])
    assert counter.post(url, {"refund_method": "card"}).status_code == 302
    assert counter.post(url, {"refund_method": "card"}).status_code == 302
    assert Payment.objects.filter(kind="refund").count() == 1
    assert AuditEntry.objects.filter(action="subscription.cancelled").count() == 1
    assert "already cancelled" in counter.get(url).content.decode()
    paid.refresh_from_db()
    assert paid.status == "cancelled"


def test_cancelling_without_a_refund_records_none(counter, paid):
    counter.post(reverse(CANCEL, args=[paid.pk]), {"refund_method": ""})
    assert not Payment.objects.filter(kind="refund").exists()
    assert services.order_balance(paid.order) == Decimal("2900.00")


def test_cancelling_one_of_two_ongoing_subscriptions_keeps_the_relationship(
    counter, paid, thursdays
):
    counter.post(reverse(BOOK), counter_post(thursdays, seats="1"))
    counter.post(reverse(CANCEL, args=[paid.pk]), {"refund_method": "card"})
    assert Customer.objects.get().relationship_ended_on is None


def test_a_new_booking_after_the_relationship_ended_starts_a_new_one(counter, paid, thursdays):
    counter.post(reverse(CANCEL, args=[paid.pk]), {})
    Customer.objects.update(
        relationship_started_on=timezone.localdate() - timedelta(days=400),
        relationship_ended_on=timezone.localdate() - timedelta(days=30),
    )
    counter.post(reverse(BOOK), counter_post(thursdays))
    person = Customer.objects.get()
    assert person.relationship_started_on == timezone.localdate()
    assert person.relationship_ended_on is None


# --- Who may use the counter ---------------------------------------------------------------------
@pytest.mark.parametrize("role", ["marketing", "finance"])
def test_only_box_office_and_the_dpo_use_the_counter(client_for, request, role, paid, thursdays):
    client = client_for(request.getfixturevalue(role))
    before = (Order.objects.count(), Payment.objects.count(), SeasonSubscription.objects.count())
    for url in (
        reverse(COUNTER) + "?q=Ångström",
        reverse(BOOK),
        reverse(CANCEL, args=[paid.pk]),
        reverse("counter:seating", args=[paid.customer_id]),
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse(BOOK), counter_post(thursdays)).status_code == 403
    assert client.post(reverse(CANCEL, args=[paid.pk]), {"refund_method": "card"}).status_code == (
        403
    )
    after = (Order.objects.count(), Payment.objects.count(), SeasonSubscription.objects.count())
    assert after == before
    paid.refresh_from_db()
    assert paid.status == "active"


def test_the_services_refuse_a_counter_booking_or_cancellation_by_marketing(
    marketing, paid, thursdays
):
    with pytest.raises(PermissionDenied):
        services.subscription_book(
            series=thursdays,
            seats=1,
            buyer=buyer("x@example.se"),
            channel="box_office",
            actor=marketing,
        )
    with pytest.raises(PermissionDenied):
        services.subscription_cancel(subscription=paid, actor=marketing)
    paid.refresh_from_db()
    assert paid.status == "active" and SeasonSubscription.objects.count() == 1


def test_a_counter_booking_without_an_actor_is_refused(thursdays):
    with pytest.raises(PermissionDenied):
        services.subscription_book(series=thursdays, seats=1, buyer=buyer(), channel="box_office")
    assert not Customer.objects.exists()


def test_a_session_without_the_second_factor_is_sent_to_the_staff_login(box_office, thursdays):
    client = Client()
    client.force_login(box_office)  # the password only: no authenticator code in this session

    for response in (
        client.get(reverse(COUNTER), {"q": "Ångström"}),
        client.post(reverse(BOOK), counter_post(thursdays)),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    assert not Customer.objects.exists() and not Order.objects.exists()


def test_box_office_goes_from_the_subscription_list_to_the_counter_and_back(counter, marta):
    changelist = reverse("admin:subscriptions_seasonsubscription_changelist")
    assert reverse(COUNTER) in counter.get(changelist).content.decode()

    html = search(counter, "Ångström").content.decode()

    assert f'href="{changelist}"' in html  # the breadcrumbs lead back to the admin's pages
    change = reverse("admin:subscriptions_seasonsubscription_change", args=[marta.pk])
    assert f'href="{change}"' in html


def test_the_dpo_may_use_the_counter(client_for, dpo, paid):
    assert client_for(dpo).get(reverse(COUNTER) + "?q=Ångström").status_code == 200


def test_box_office_finds_the_cancel_link_on_the_subscription_page(counter, paid):
    page = counter.get(reverse("admin:subscriptions_seasonsubscription_change", args=[paid.pk]))
    assert reverse(CANCEL, args=[paid.pk]) in page.content.decode()
    # The accounting records are finance's: box office has no way into them from here.
    assert reverse("admin:subscriptions_order_change", args=[paid.order_id]) not in (
        page.content.decode()
    )


def test_marketing_reads_subscriptions_without_a_way_to_cancel(client_for, marketing, paid):
    client = client_for(marketing)
    page = client.get(reverse("admin:subscriptions_seasonsubscription_change", args=[paid.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert paid.reference in html
    assert reverse(CANCEL, args=[paid.pk]) not in html
    listing = client.get(reverse("admin:subscriptions_seasonsubscription_changelist"))
    assert reverse(COUNTER) not in listing.content.decode()


# --- The end of a relationship -------------------------------------------------------------------
def end_season(season, on):
    Season.objects.filter(pk=season.pk).update(ends_on=on)
    SeasonSubscription.objects.filter(series__season=season).update(ends_on=on)


def test_relationships_end_on_the_last_day_of_the_person_s_last_season(thursdays, season):
    today = timezone.localdate()
    over = services.subscription_book(
        series=thursdays, seats=1, buyer=buyer("over@example.se"), channel="web"
    ).customer
    running_season = Season.objects.create(
        name="2027/28", starts_on=today, ends_on=today + timedelta(days=300)
    )
    running = Series.objects.create(
        season=running_season, code="thu-27", name="Torsdag", price_per_seat=1, capacity=50
    )
    ongoing = services.subscription_book(
        series=running, seats=1, buyer=buyer("ongoing@example.se"), channel="web"
    ).customer
    both = services.subscription_book(
        series=thursdays, seats=1, buyer=buyer("both@example.se"), channel="web"
    ).customer
    services.subscription_book(
        series=running, seats=1, buyer=buyer("both@example.se"), channel="web"
    )
    lead = CustomerFactory(email="lead@example.se")
    last_day = today - timedelta(days=10)
    end_season(season, last_day)
    assert services.relationships_end_due() == 1
    for person, ended_on in ((over, last_day), (ongoing, None), (both, None), (lead, None)):
        person.refresh_from_db()
        assert person.relationship_ended_on == ended_on, person.email
    assert services.relationships_end_due() == 0


def test_a_season_on_its_last_day_has_not_ended_yet(thursdays, season):
    person = services.subscription_book(
        series=thursdays, seats=1, buyer=buyer(), channel="web"
    ).customer
    end_season(season, timezone.localdate())
    assert services.relationships_end_due() == 0
    assert services.relationships_end_due(today=timezone.localdate() + timedelta(days=1)) == 1
    person.refresh_from_db()
    assert person.relationship_ended_on == timezone.localdate()


def test_a_person_whose_every_subscription_was_cancelled_ends_today(thursdays):
    person = services.subscription_book(
        series=thursdays, seats=1, buyer=buyer(), channel="web"
    ).customer
    # Cancelled without the counter (as a data fix would): the daily sweep finishes the job.
    SeasonSubscription.objects.update(status="cancelled")
    assert daily_task.delay().get()["relationships_ended"] == 1
    person.refresh_from_db()
    assert person.relationship_ended_on == timezone.localdate()


def test_a_refund_just_after_local_midnight_is_dated_by_the_house_s_calendar(
    box_office, paid, monkeypatch, settings
):
    settings.TIME_ZONE = "Europe/Stockholm"
    # 23:30 in UTC is already the next day in Stockholm: the accounting date is the local one.
    utc_evening = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: utc_evening)
    services.subscription_cancel(subscription=paid, actor=box_office, refund_method="cash")
    assert Payment.objects.get(kind="refund").paid_on == date(2026, 1, 16)
    assert Customer.objects.get().relationship_ended_on == date(2026, 1, 16)


def test_the_counter_books_for_the_person_found_even_if_the_email_is_corrected(
    client_for, box_office, thursdays
):
    person = CustomerFactory(email="asa.ostlund@example.se", first_name="Åsa", last_name="Östlund")
    client = client_for(box_office)
    page = client.get(reverse("counter:book") + f"?customer={person.pk}")
    form = page.context["form"]
    data = {
        **{name: value for name, value in form.initial.items() if value},
        "customer": person.pk,
        "email": "asa.ostlund@example.com",  # typed differently at the counter
        "phone": "070-111 22 33",
        "street_address": "Drottninggatan 3",
        "postal_code": "702 11",
        "city": "Örebro",
        "series": thursdays.pk,
        "seats": "1",
        "payment_method": "card",
        "booking_key": str(uuid.uuid4()),
    }
    with committed():
        response = client.post(reverse("counter:book"), data)
    assert response.status_code == 302, response.context["form"].errors
    assert Customer.objects.count() == 1
    assert SeasonSubscription.objects.get().customer == person


def test_the_counter_does_not_book_a_restricted_person(client_for, box_office, dpo, thursdays):
    person = CustomerFactory(email="restricted@example.se")
    customer_restrict(
        customer=person, actor=dpo, ground=Customer.RestrictionGround.ACCURACY_CONTESTED
    )
    with pytest.raises(ValidationError):
        subscription_book(
            series=thursdays,
            seats=1,
            buyer=buyer(email=person.email),
            channel=Order.Channel.BOX_OFFICE,
            payment_method="card",
            customer=person,
            actor=box_office,
        )
    assert not SeasonSubscription.objects.exists() and not Order.objects.exists()
