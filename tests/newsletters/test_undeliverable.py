"""An undeliverable address (newsletters/inbound.py marks it from bounces): no mail of any kind goes
there but the answers to privacy requests, marketing sees the mark, the access report lists it."""

import pytest
from django.core import mail

from concerthouse.privacy.export import export_person
from customers.models import Customer
from customers.services import customer_mark_deliverable, customers_mark_undeliverable
from newsletters import services
from privacy_requests.models import PrivacyRequest
from privacy_requests.services import privacy_request_submit
from tests.factories import CustomerFactory, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def gone(news):
    person = subscribe(
        CustomerFactory(email="ase@example.no", first_name="Åse", last_name="Ødegård"), "news"
    )
    customers_mark_undeliverable(customer_ids=[person.pk], reason="hard_bounce")
    person.refresh_from_db()
    return person


def test_marking_is_idempotent_and_keeps_the_first_reason(gone):
    first = gone.email_undeliverable_at
    assert customers_mark_undeliverable(customer_ids=[gone.pk], reason="soft_bounces") == 0
    gone.refresh_from_db()
    assert (gone.email_undeliverable_at, gone.email_undeliverable_reason) == (first, "hard_bounce")
    assert Customer.objects.deliverable().filter(pk=gone.pk).count() == 0


def test_no_preference_link_goes_to_an_undeliverable_address(
    gone, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.preference_link_request(email="ASE@example.no", language="nb")
    assert mail.outbox == []
    customer_mark_deliverable(customer=gone)
    with django_capture_on_commit_callbacks(execute=True):
        services.preference_link_request(email="ase@example.no", language="nb")
    assert [m.to for m in mail.outbox] == [["ase@example.no"]]


def test_the_answer_to_a_privacy_request_goes_to_the_requests_address_whatever_the_mark(
    gone, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        privacy_request_submit(
            kind=PrivacyRequest.Kind.ACCESS, email="ase@example.no", language="nb"
        )
    assert [m.to for m in mail.outbox] == [["ase@example.no"]]


def test_the_access_report_lists_the_mark(gone):
    (row,) = export_person(gone)["customers.customer"]
    assert row["email_undeliverable_reason"] == "hard_bounce"
    assert row["email_undeliverable_at"] == gone.email_undeliverable_at


def test_marketing_sees_the_mark_on_the_person(client_for, marketing, gone):
    page = client_for(marketing).get(f"/admin/customers/customer/{gone.pk}/change/")
    text = page.content.decode()
    assert "Email delivery" in text
    assert "The receiving server refused the address for good" in text
