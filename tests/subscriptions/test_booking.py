import uuid

from django.core import mail
from django.urls import reverse

from consent.models import Consent, ConsentEvent
from customers.models import Customer
from subscriptions.models import Order, SeasonSubscription

from .conftest import booking_post, committed


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
