"""The season-subscription list and the counter at scale: a booking reference or a person is found
through their own indexes, never by joining every subscription with every person."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from subscriptions import services
from tests.factories import CustomerFactory

from .conftest import buyer

CHANGELIST = reverse("admin:subscriptions_seasonsubscription_changelist")


@pytest.fixture
def bookings(thursdays):
    marta = services.subscription_book(series=thursdays, seats=2, buyer=buyer(), channel="web")
    aase = services.subscription_book(
        series=thursdays,
        seats=1,
        buyer=buyer(
            email="ase.odegard@example.no",
            first_name="Åse",
            last_name="Ødegård",
            phone="+47 912 34 567",
            country="NO",
        ),
        channel="web",
    )
    CustomerFactory(email="bo.berg@example.se", first_name="Bo", last_name="Berg")
    return marta, aase


def references(response) -> set[str]:
    assert response.status_code == 200
    return {subscription.reference for subscription in response.context["cl"].result_list}


@pytest.mark.parametrize(
    ("term", "who"),
    [
        ("Ødegård", 1),
        ("Märta Ångström", 0),
        ("MARTA.Angstrom@Example.SE", 0),
        ("070-123 45 67", 0),
        ("+47 912 34 567", 1),
    ],
)
def test_the_list_finds_a_persons_subscriptions(bookings, box_office, client_for, term, who):
    response = client_for(box_office).get(CHANGELIST, {"q": term})
    assert references(response) == {bookings[who].reference}


def test_the_list_finds_a_booking_reference_in_any_case(bookings, box_office, client_for):
    client = client_for(box_office)
    marta = bookings[0]
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST, {"q": marta.reference.lower()})
    assert references(response) == {marta.reference}
    # Found by the reference alone: no query searches the people's columns.
    assert not any("LIKE" in q["sql"] for q in queries.captured_queries)


def test_the_list_never_counts_every_subscription(bookings, box_office, client_for):
    with CaptureQueriesContext(connection) as queries:
        client_for(box_office).get(CHANGELIST)
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT" in sql for sql in counts)


def test_the_counter_finds_a_booking_reference_without_a_join(bookings, box_office, client_for):
    client = client_for(box_office)
    marta = bookings[0]
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("counter:search"), {"q": marta.reference})
    assert [person.pk for person in response.context["people"]] == [marta.customer_id]
    people = [q["sql"] for q in queries.captured_queries if 'FROM "customers_customer"' in q["sql"]]
    assert people and not any("JOIN" in sql for sql in people)
