import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import TestCase

from concerthouse.models import AuditEntry
from customers.models import Customer
from customers.services import (
    customer_announce_restriction_lift,
    customer_lift_restriction,
    customer_object_to_marketing,
    customer_restrict,
    customer_update,
)
from tests.factories import CustomerFactory


@pytest.mark.django_db
def test_restricted_and_objecting_people_drop_out_where_querysets_are_built(dpo):
    plain = CustomerFactory()
    restricted = customer_restrict(
        customer=CustomerFactory(), actor=dpo, ground="accuracy_contested"
    )
    objecting = customer_object_to_marketing(customer=CustomerFactory(), channel="email_or_letter")
    assert set(Customer.objects.processable()) == {plain, objecting}
    assert set(Customer.objects.marketable()) == {plain}
    assert restricted not in Customer.objects.marketable()


@pytest.mark.django_db
def test_restriction_records_who_when_and_why_and_is_lifted_once_the_person_was_told(dpo):
    customer = customer_restrict(customer=CustomerFactory(), actor=dpo, ground="legal_claims")
    assert (customer.restricted_by, customer.restriction_ground) == (dpo, "legal_claims")
    assert customer.restricted_at is not None
    with pytest.raises(ValidationError, match="Tell the person first"):
        customer_lift_restriction(customer=customer, actor=dpo)
    with TestCase.captureOnCommitCallbacks(execute=True):
        customer_announce_restriction_lift(customer=customer, actor=dpo)
    (notice,) = mail.outbox
    assert notice.to == [customer.email]
    customer = customer_lift_restriction(customer=customer, actor=dpo)
    assert customer in Customer.objects.processable()
    assert list(
        AuditEntry.objects.filter(target_id=customer.public_id)
        .order_by("id")
        .values_list("action", flat=True)
    ) == [
        "customer.created",
        "customer.restricted",
        "customer.restriction_lift_announced",
        "customer.restriction_lifted",
    ]


@pytest.mark.django_db
def test_only_the_dpo_restricts_and_a_ground_is_required(dpo, box_office):
    customer = CustomerFactory()
    with pytest.raises(PermissionDenied):
        customer_restrict(customer=customer, actor=box_office, ground="legal_claims")
    with pytest.raises(ValidationError):
        customer_restrict(customer=customer, actor=dpo, ground="because")
    customer.refresh_from_db()
    assert not customer.is_restricted


@pytest.mark.django_db
def test_a_restricted_persons_data_cannot_be_changed_by_staff_without_the_right(dpo, box_office):
    customer = customer_restrict(
        customer=CustomerFactory(city="Bergen"), actor=dpo, ground="legal_claims"
    )
    with pytest.raises(PermissionDenied):
        customer_update(customer=customer, actor=box_office, city="Oslo")
    customer.refresh_from_db()
    assert customer.city == "Bergen"


@pytest.mark.django_db
def test_an_objection_recorded_twice_keeps_the_first(box_office):
    customer = CustomerFactory()
    first = customer_object_to_marketing(customer=customer, channel="preference_centre")
    again = customer_object_to_marketing(customer=customer, channel="privacy_request")
    assert again.marketing_objection_at == first.marketing_objection_at
    assert again.marketing_objection_channel == "preference_centre"
    assert AuditEntry.objects.filter(action="customer.marketing_objection_recorded").count() == 1
