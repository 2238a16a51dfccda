"""Service mail on the contract skips an address that bounces for good, and sends once it works
again (newsletters/inbound.py marks it; a confirmed signup clears it)."""

import pytest
from django.core import mail

from customers.services import customer_mark_deliverable, customers_mark_undeliverable
from subscriptions import services
from subscriptions.models import SeasonSubscription
from subscriptions.tasks import send_pre_concert_mail_task

from .conftest import buyer

pytestmark = pytest.mark.django_db


def test_an_undeliverable_subscriber_gets_no_pre_concert_email(thursdays, concert_in):
    concert_in(3)
    for email in ("marta@example.se", "ase@example.no"):
        services.subscription_book(series=thursdays, seats=1, buyer=buyer(email), channel="web")
    mail.outbox.clear()
    gone = SeasonSubscription.objects.get(customer__email="ase@example.no").customer
    customers_mark_undeliverable(customer_ids=[gone.pk], reason="hard_bounce")
    assert send_pre_concert_mail_task.delay().get() == 1
    assert [m.to for m in mail.outbox] == [["marta@example.se"]]


def test_a_booking_confirmation_waits_while_the_address_is_undeliverable(thursdays):
    subscription = services.subscription_book(
        series=thursdays, seats=2, buyer=buyer("ase@example.no"), channel="web"
    )
    SeasonSubscription.objects.filter(pk=subscription.pk).update(confirmation_sent_at=None)
    mail.outbox.clear()
    customers_mark_undeliverable(customer_ids=[subscription.customer_id], reason="hard_bounce")
    assert services.booking_confirmation_send(subscription_id=subscription.pk) is False
    assert mail.outbox == []
    customer_mark_deliverable(customer=subscription.customer)
    assert services.booking_confirmation_send(subscription_id=subscription.pk) is True
    assert [m.to for m in mail.outbox] == [["ase@example.no"]]
