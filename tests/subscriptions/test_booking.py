"""The public booking form: a contract that never depends on, or creates, a marketing consent."""

import re
import threading
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from consent.models import Consent, ConsentEvent, Purpose
from consent.selectors import notice_current
from customers.models import Customer
from newsletters.models import Signup
from subscriptions import services
from subscriptions.models import Order, Payment, SeasonSubscription, SeatingNeed
from subscriptions.tasks import send_booking_confirmation_task, sweep_task
from tests.factories import CustomerFactory

from .conftest import booking_post, buyer, committed


def book(client, series, *, key=None, language="en", **changes):
    with translation.override(language):
        url = reverse("subscriptions:book")
    with committed():
        return client.post(url, booking_post(series, key=key or uuid.uuid4(), **changes))


def nothing_written():
    return not (
        Customer.objects.exists()
        or Order.objects.exists()
        or Payment.objects.exists()
        or SeasonSubscription.objects.exists()
        or SeatingNeed.objects.exists()
        or ConsentEvent.objects.exists()
        or Consent.objects.exists()
    )


def confirmations():
    """The booking confirmations sent: their subject carries the booking reference."""
    references = set(SeasonSubscription.objects.values_list("reference", flat=True))
    return [m for m in mail.outbox if any(reference in m.subject for reference in references)]


def news_notice(language="nb"):
    return notice_current(purpose=Purpose.objects.get(code="news"), language=language)


# --- The form and its boxes -----------------------------------------------------------------------
def test_booking_with_every_marketing_box_unticked_succeeds_and_creates_no_consent(
    client, thursdays
):
    with committed():
        response = client.post(
            reverse("subscriptions:book"), booking_post(thursdays, key=uuid.uuid4())
        )
    assert response.status_code == 302
    person = Customer.objects.get()
    assert person.email == "ase.odegard@example.no"
    assert person.kind == Customer.Kind.CUSTOMER
    subscription = SeasonSubscription.objects.get()
    assert (subscription.seats, subscription.price) == (2, thursdays.price_per_seat * 2)
    assert Consent.objects.count() == 0 and ConsentEvent.objects.count() == 0
    assert Order.objects.get().buyer_name == "Åse Ødegård"
    [confirmation] = mail.outbox
    assert subscription.reference in confirmation.body
    assert confirmation.to == ["ase.odegard@example.no"]


def test_the_form_shows_every_marketing_box_unticked_and_optional(client, thursdays):
    html = client.get(reverse("subscriptions:book")).content.decode()
    boxes = re.findall(r'<input type="checkbox" name="(marketing|seating_consent)"[^>]*>', html)
    assert "marketing" in boxes and "seating_consent" in boxes
    for tag in re.findall(r'<input type="checkbox"[^>]*>', html):
        assert "checked" not in tag and "required" not in tag, tag


def test_a_ticked_newsletter_box_gives_only_a_pending_consent_and_the_booking_still_succeeds(
    client, thursdays
):
    notice = news_notice()
    response = book(client, thursdays, marketing=str(notice.pk))
    assert response.status_code == 302
    person = Customer.objects.get()
    assert SeasonSubscription.objects.get().customer == person
    consent = Consent.objects.get()
    assert (consent.customer, consent.purpose.code, consent.state) == (person, "news", "pending")
    event = ConsentEvent.objects.get()
    assert (event.action, event.channel, event.notice) == ("given", "booking_form", notice)
    # Double opt-in: the signup link goes out alongside the booking confirmation.
    assert Signup.objects.filter(customer=person, confirmed_at__isnull=True).exists()
    assert len(confirmations()) == 1 and len(mail.outbox) == 2


@pytest.mark.parametrize(
    "field", ["first_name", "last_name", "email", "phone", "street_address", "postal_code", "city"]
)
@pytest.mark.parametrize(
    ("language", "required"),
    [
        ("en", "This field is required."),
        ("sv", "Detta fält måste fyllas i."),
        ("nb", "Feltet er påkrevet."),
    ],
)
def test_a_missing_required_field_is_refused_in_the_page_s_language_and_nothing_is_written(
    client, thursdays, field, language, required
):
    response = book(client, thursdays, language=language, **{field: "  "})
    assert response.status_code == 200
    assert response.context["form"].errors[field] == [required]
    assert f'<html lang="{language}">' in response.content.decode()
    assert nothing_written()
    assert mail.outbox == []


def test_a_missing_field_with_a_ticked_newsletter_box_writes_no_consent_either(client, thursdays):
    response = book(client, thursdays, phone="", marketing=str(news_notice().pk))
    assert response.status_code == 200
    assert nothing_written() and not Signup.objects.exists()


def test_an_invalid_phone_is_refused_and_nothing_is_written(client, thursdays):
    response = book(client, thursdays, phone="12")
    assert response.status_code == 200
    assert "phone" in response.context["form"].errors
    assert nothing_written()


# --- Known people -------------------------------------------------------------------------------
def test_a_known_person_is_matched_by_email_in_any_case_and_their_record_is_not_overwritten(
    client, thursdays
):
    known = CustomerFactory(
        email="ase.odegard@example.no",
        first_name="Åsa",
        last_name="Ödegaard",
        phone="912 34 000",
        street_address="Bryggen 1",
        postal_code="5003",
        city="Bergen",
        country="NO",
        preferred_language="en",
    )
    response = book(client, thursdays, email="ASE.Odegard@EXAMPLE.no")
    assert response.status_code == 302
    assert Customer.objects.count() == 1
    person = Customer.objects.get()
    assert person.pk == known.pk
    # A public form must not rewrite a record: anyone may type anyone's address.
    assert (person.first_name, person.last_name, person.phone) == (
        "Åsa",
        "Ödegaard",
        "+4791234000",
    )
    assert (person.street_address, person.city, person.preferred_language) == (
        "Bryggen 1",
        "Bergen",
        "en",
    )
    assert person.kind == Customer.Kind.CUSTOMER
    # The accounting record keeps the buyer as they gave themselves.
    order = Order.objects.get()
    assert order.customer == person
    assert order.buyer_name == "Åse Ødegård"
    assert order.buyer_address == "Kongens gate 2, 0153 Oslo, NO"
    assert SeasonSubscription.objects.get().customer == person


def test_the_answer_page_is_the_same_whether_or_not_the_address_was_known(thursdays):
    CustomerFactory(email="known@example.se", first_name="Märta", last_name="Ångström")

    def answer(email):
        client = Client()  # each a first visit
        response = book(client, thursdays, email=email)
        assert response.status_code == 302
        page = client.get(response["Location"])
        assert page.status_code == 200
        html = page.content.decode()
        reference = SeasonSubscription.objects.get(customer__email=email.lower()).reference
        # The page differs only by the reference and the link to itself (its token).
        html = html.replace(reference, "REFERENCE")
        return re.sub(r"/booked/[^/\"]+/", "/booked/TOKEN/", html)

    known, unknown = answer("Known@Example.se"), answer("unknown@example.se")
    assert known == unknown
    assert "Märta" not in known and "Ångström" not in known and "known@" not in known


def test_the_answer_page_shows_nothing_for_a_tampered_token(client, thursdays):
    response = book(client, thursdays)
    tampered = response["Location"].replace("/booked/", "/booked/x")
    assert client.get(tampered)["Location"] == reverse("subscriptions:book")


# --- Double clicks and seats --------------------------------------------------------------------
def test_the_same_form_sent_twice_books_once_and_answers_both_times_with_that_booking(
    client, thursdays
):
    key = uuid.uuid4()
    first = book(client, thursdays, key=key)
    second = book(client, thursdays, key=key)
    assert first.status_code == second.status_code == 302
    assert first["Location"].split("/booked/")[0] == second["Location"].split("/booked/")[0]
    assert SeasonSubscription.objects.count() == 1 and Order.objects.count() == 1
    assert Customer.objects.count() == 1
    assert len(confirmations()) == 1


def test_a_double_click_on_the_last_seats_books_once_and_does_not_say_sold_out(client, thursdays):
    thursdays.capacity = 2
    thursdays.save()
    key = uuid.uuid4()
    first = book(client, thursdays, key=key)
    second = book(client, thursdays, key=key)
    assert first.status_code == 302
    assert second.status_code == 302, second.context["form"].errors
    page = client.get(second["Location"]).content.decode()
    assert SeasonSubscription.objects.get().reference in page
    assert SeasonSubscription.objects.count() == 1 and Order.objects.count() == 1


def test_the_service_returns_the_first_booking_for_a_repeated_key(thursdays):
    key = uuid.uuid4()
    first = services.subscription_book(
        series=thursdays, seats=2, buyer=buyer(), channel="web", booking_key=key
    )
    again = services.subscription_book(
        series=thursdays, seats=3, buyer=buyer(), channel="web", booking_key=key
    )
    assert again.pk == first.pk and again.seats == 2
    assert SeasonSubscription.objects.count() == 1 and Order.objects.count() == 1


def test_a_sold_out_series_is_refused_and_nothing_is_written(client, thursdays):
    thursdays.capacity = 2
    thursdays.save()
    services.subscription_book(
        series=thursdays, seats=2, buyer=buyer("first@example.se"), channel="web"
    )
    mail.outbox.clear()
    before = (Customer.objects.count(), Order.objects.count(), SeasonSubscription.objects.count())
    response = book(client, thursdays, seats="1", marketing=str(news_notice().pk))
    assert response.status_code == 200
    assert response.context["form"].errors["seats"] == ["This series is sold out."]
    after = (Customer.objects.count(), Order.objects.count(), SeasonSubscription.objects.count())
    assert after == before
    assert not Customer.objects.filter(email="ase.odegard@example.no").exists()
    assert not Consent.objects.exists() and mail.outbox == []


def test_more_seats_than_are_left_are_refused_and_nothing_is_written(client, thursdays):
    thursdays.capacity = 3
    thursdays.save()
    services.subscription_book(
        series=thursdays, seats=2, buyer=buyer("first@example.se"), channel="web"
    )
    response = book(client, thursdays, seats="2")
    assert response.status_code == 200
    assert response.context["form"].errors["seats"] == ["Only 1 seats are left in this series."]
    assert SeasonSubscription.objects.count() == 1 and Order.objects.count() == 1
    assert not Customer.objects.filter(email="ase.odegard@example.no").exists()


def test_the_service_refuses_seats_beyond_capacity_without_writing_the_person(thursdays):
    thursdays.capacity = 3
    thursdays.save()
    with pytest.raises(ValidationError) as refused:
        services.subscription_book(series=thursdays, seats=4, buyer=buyer(), channel="web")
    assert refused.value.message_dict["seats"] == ["Only 3 seats are left in this series."]
    assert nothing_written()


def test_a_cancelled_subscription_gives_its_seats_back(thursdays, box_office):
    thursdays.capacity = 2
    thursdays.save()
    taken = services.subscription_book(
        series=thursdays, seats=2, buyer=buyer("first@example.se"), channel="web"
    )
    assert services.seats_left(thursdays) == 0
    services.subscription_cancel(subscription=taken, actor=box_office)
    assert services.seats_left(thursdays) == 2
    services.subscription_book(series=thursdays, seats=2, buyer=buyer(), channel="web")


@pytest.mark.parametrize("seats", ["0", "21", "-1", "two"])
def test_seats_outside_one_to_twenty_are_refused(client, thursdays, seats):
    response = book(client, thursdays, seats=seats)
    assert response.status_code == 200 and "seats" in response.context["form"].errors
    assert nothing_written()


def test_a_series_no_longer_on_sale_cannot_be_booked_on_the_website(client, thursdays):
    thursdays.on_sale = False
    thursdays.save()
    response = book(client, thursdays)
    assert response.status_code == 200 and "series" in response.context["form"].errors
    with pytest.raises(ValidationError):
        services.subscription_book(series=thursdays, seats=1, buyer=buyer(), channel="web")
    assert nothing_written()


# --- What a booking writes ----------------------------------------------------------------------
def test_a_booking_starts_the_customer_relationship_today(client, thursdays):
    book(client, thursdays)
    person = Customer.objects.get()
    assert person.kind == Customer.Kind.CUSTOMER
    assert person.source == Customer.Source.SUBSCRIPTION_FORM
    assert person.relationship_started_on == timezone.localdate()
    assert person.relationship_ended_on is None


def test_a_newsletter_reader_who_books_becomes_a_customer_from_today(thursdays):
    lead = CustomerFactory(email="marta.angstrom@example.se", first_name="Märta")
    assert lead.kind == Customer.Kind.LEAD
    services.subscription_book(series=thursdays, seats=1, buyer=buyer(), channel="web")
    lead.refresh_from_db()
    assert lead.kind == Customer.Kind.CUSTOMER
    assert lead.relationship_started_on == timezone.localdate()
    assert lead.source == Customer.Source.WEB_SIGNUP  # where the person first came from


def test_a_web_booking_makes_an_order_and_no_payment(thursdays):
    subscription = services.subscription_book(
        series=thursdays, seats=3, buyer=buyer(), channel="web"
    )
    order = Order.objects.get()
    assert subscription.order == order
    assert (order.amount, order.currency, order.channel) == (
        thursdays.price_per_seat * 3,
        "SEK",
        "web",
    )
    assert order.ordered_on == timezone.localdate()
    assert order.buyer_name == "Märta Ångström"
    assert order.buyer_address == "Storgatan 1, 702 10 Örebro, SE"
    assert subscription.booked_by is None and subscription.channel == "web"
    assert not Payment.objects.exists()  # paid against the invoice


def test_the_confirmation_is_sent_once_however_often_the_task_runs(thursdays):
    with committed():
        subscription = services.subscription_book(
            series=thursdays, seats=2, buyer=buyer(), channel="web"
        )
    assert len(mail.outbox) == 1
    assert services.booking_confirmation_send(subscription_id=subscription.pk) is False
    assert send_booking_confirmation_task.delay(subscription.pk).get() is False
    assert len(mail.outbox) == 1
    subscription.refresh_from_db()
    assert subscription.confirmation_sent_at is not None


def test_a_confirmation_the_task_never_sent_is_sent_once_by_two_runs(thursdays):
    subscription = services.subscription_book(
        series=thursdays, seats=2, buyer=buyer(), channel="web"
    )  # no commit: the queued task is lost
    assert mail.outbox == []
    assert services.booking_confirmation_send(subscription_id=subscription.pk) is True
    assert services.booking_confirmation_send(subscription_id=subscription.pk) is False
    [confirmation] = mail.outbox
    assert confirmation.to == ["marta.angstrom@example.se"]
    assert subscription.reference in confirmation.body
    assert "List-Unsubscribe" not in confirmation.extra_headers


def test_a_failed_send_releases_the_confirmation_for_the_sweep(thursdays, monkeypatch):
    subscription = services.subscription_book(
        series=thursdays, seats=2, buyer=buyer(), channel="web"
    )

    def refuse(*args, **kwargs):
        raise OSError("SMTP server down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    with pytest.raises(OSError):
        services.booking_confirmation_send(subscription_id=subscription.pk)
    subscription.refresh_from_db()
    assert subscription.confirmation_sent_at is None
    monkeypatch.undo()
    assert services.booking_confirmation_send(subscription_id=subscription.pk) is True
    assert len(mail.outbox) == 1


def test_with_the_broker_down_the_booking_is_still_stored(client, thursdays, broker_down):
    response = book(client, thursdays)
    assert response.status_code == 302
    subscription = SeasonSubscription.objects.get()
    assert subscription.confirmation_sent_at is None and mail.outbox == []
    assert services.booking_confirmation_send(subscription_id=subscription.pk) is True


def test_the_sweep_sends_a_confirmation_whose_task_was_lost_once(client, thursdays, broker_down):
    book(client, thursdays)
    broker_down()  # the broker is back; the task that should have run is gone
    SeasonSubscription.objects.update(booked_at=timezone.now() - timedelta(minutes=5))
    assert sweep_task.delay().get()["confirmations"] == 1
    assert sweep_task.delay().get()["confirmations"] == 0
    assert len(confirmations()) == 1


# --- Two people at once (PostgreSQL) --------------------------------------------------------------
def _race(calls):
    barrier = threading.Barrier(len(calls))
    outcomes = []

    def run(call):
        try:
            barrier.wait()
            outcomes.append(call())
        except ValidationError as error:
            outcomes.append(error.message_dict)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_people_booking_the_last_seats_at_once_leave_one_booking(thursdays):
    if connection.vendor != "postgresql":
        pytest.skip("needs a server database with concurrent connections (PostgreSQL)")
    thursdays.capacity = 2
    thursdays.save()
    outcomes = _race(
        [
            lambda email=email: services.subscription_book(
                series=thursdays, seats=2, buyer=buyer(email), channel="web"
            )
            for email in ("ase.odegard@example.no", "marta.angstrom@example.se")
        ]
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["SeasonSubscription", "dict"]
    assert [o for o in outcomes if isinstance(o, dict)] == [{"seats": ["This series is sold out."]}]
    assert SeasonSubscription.objects.count() == 1 and Order.objects.count() == 1
    # The loser's person was rolled back with their booking.
    assert Customer.objects.count() == 1
    assert services.seats_left(thursdays) == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_double_click_racing_itself_on_the_last_seats_books_once(thursdays):
    if connection.vendor != "postgresql":
        pytest.skip("needs a server database with concurrent connections (PostgreSQL)")
    thursdays.capacity = 2
    thursdays.save()
    key = uuid.uuid4()
    outcomes = _race(
        [
            lambda email=email: services.subscription_book(
                series=thursdays, seats=2, buyer=buyer(email), channel="web", booking_key=key
            )
            for email in ("marta.angstrom@example.se", "Marta.Angstrom@Example.se")
        ]
    )
    assert all(isinstance(o, SeasonSubscription) for o in outcomes), outcomes
    assert outcomes[0].pk == outcomes[1].pk
    assert SeasonSubscription.objects.count() == 1 and Order.objects.count() == 1
    assert Customer.objects.count() == 1


def test_the_longest_names_the_form_accepts_fit_on_the_order(client, thursdays):
    response = book(client, thursdays, first_name="Å" * 150, last_name="Ø" * 150)
    assert response.status_code == 302
    assert Order.objects.get().buyer_name == "Å" * 150 + " " + "Ø" * 150
