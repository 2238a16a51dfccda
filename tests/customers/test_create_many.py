"""Many people at once (an import): the same normalising, validation and audit as one person
through customer_create, and the same relationship dates as customer_start_relationship."""

import threading
import time
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.utils import timezone

from concerthouse.models import AuditEntry
from customers.models import Customer
from customers.services import (
    DUPLICATE_EMAIL,
    customer_create,
    customers_create_many,
    customers_start_relationship,
)
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

AGENT = Customer.Source.TICKET_AGENT


def person(email, **fields) -> Customer:
    return Customer(email=email, source=AGENT, source_detail="Eventim", **fields)


def contact(customer: Customer) -> dict:
    return {
        name: getattr(customer, name)
        for name in ("first_name", "last_name", "phone", "city", "country")
    }


def test_many_people_are_normalised_and_validated_as_one_is_and_each_is_audited(box_office):
    typed = {
        "first_name": "  Åse ",
        "last_name": "Ødegård",
        "phone": "912 34 567",
        "city": " Tromsø ",
        "country": "NO",
    }
    alone = customer_create(email="kari@example.no", source=AGENT, actor=box_office, **typed)

    created, refused = customers_create_many(
        customers=[
            person("  Ase.Odegard@Example.NO ", **typed),
            person("marta.angstrom@example.se", first_name="Märta", phone="070-123 45 67"),
        ],
        actor=box_office,
        detail={"import": "the run's id"},
    )

    assert refused == {}
    aase, marta = (Customer.objects.get(pk=p.pk) for p in created)
    assert aase.email == "ase.odegard@example.no"
    assert (
        contact(aase)
        == contact(alone)
        == {
            "first_name": "Åse",
            "last_name": "Ødegård",
            "phone": "+4791234567",
            "city": "Tromsø",
            "country": "NO",
        }
    )
    assert marta.phone == "+46701234567"
    entries = AuditEntry.objects.filter(action="customer.created").exclude(
        target_id=alone.public_id
    )
    assert sorted(entries.values_list("target_id", flat=True)) == sorted(
        [aase.public_id, marta.public_id]
    )
    entry = entries.get(target_id=aase.public_id)
    assert entry.actor == box_office and entry.purpose
    assert entry.detail == {
        "source": AGENT,
        "fields": [
            "city",
            "country",
            "email",
            "first_name",
            "kind",
            "last_name",
            "phone",
            "preferred_language",
            "source_detail",
        ],
        "import": "the run's id",
    }
    logged = str(list(entries.values()))
    assert "@" not in logged and "Åse" not in logged and "Märta" not in logged


@pytest.mark.parametrize(
    ("email", "fields"),
    [
        ("saga.noren@", {}),
        ("sven.berg@example.se", {"phone": "12"}),
        ("wilma.ros@example.se", {"last_name": "R" * 151}),
        ("x" * 250 + "@example.se", {}),
    ],
    ids=["bad address", "bad phone", "name too long", "address too long"],
)
def test_a_person_refused_gets_the_error_customer_create_gives_and_nothing_is_written(
    box_office, email, fields
):
    with pytest.raises(ValidationError) as alone:
        customer_create(email=email, source=AGENT, actor=box_office, **fields)

    created, refused = customers_create_many(
        customers=[person(email, **fields), person("erik.lind@example.se")], actor=box_office
    )

    assert [p.email for p in created] == ["erik.lind@example.se"]
    assert list(refused) == [0]
    assert refused[0].message_dict == alone.value.message_dict
    assert list(Customer.objects.values_list("email", flat=True)) == ["erik.lind@example.se"]
    assert AuditEntry.objects.filter(action="customer.created").count() == 1


def test_an_address_registered_or_given_twice_is_refused_as_a_duplicate(box_office):
    CustomerFactory(email="erik.lind@example.se")

    created, refused = customers_create_many(
        customers=[
            person("ERIK.LIND@example.se"),
            person("saga.noren@example.se", first_name="Saga"),
            person(" Saga.Noren@Example.se", first_name="Saga"),
        ],
        actor=box_office,
    )

    assert [p.email for p in created] == ["saga.noren@example.se"]
    assert sorted(refused) == [0, 2]
    for error in refused.values():
        assert error.message_dict == {"email": [str(DUPLICATE_EMAIL)]}
        assert [e.code for e in error.error_dict["email"]] == ["duplicate_email"]
    assert Customer.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_address_registered_by_someone_else_meanwhile_is_refused_and_the_rest_created():
    if connection.vendor != "postgresql":
        pytest.skip("needs a server database with concurrent connections (PostgreSQL)")
    inserted, checking = threading.Event(), threading.Event()
    outcome = {}

    def signup():
        try:
            with transaction.atomic():
                customers_create_many(customers=[person("ase.odegard@example.no")])
                inserted.set()
                checking.wait(5)
                time.sleep(0.5)  # the import is past its check, waiting on the unique index
        finally:
            connections.close_all()

    def import_batch():
        try:
            inserted.wait(5)
            checking.set()
            outcome["created"], outcome["refused"] = customers_create_many(
                customers=[person("Ase.Odegard@example.no"), person("erik.lind@example.se")]
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=signup), threading.Thread(target=import_batch)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [p.email for p in outcome["created"]] == ["erik.lind@example.se"]
    assert [e.code for e in outcome["refused"][0].error_dict["email"]] == ["duplicate_email"]
    assert sorted(Customer.objects.values_list("email", flat=True)) == [
        "ase.odegard@example.no",
        "erik.lind@example.se",
    ]
    assert AuditEntry.objects.filter(action="customer.created").count() == 2


def test_relationships_start_for_many_people_as_for_one(box_office):
    today = timezone.localdate()
    lead = CustomerFactory(email="lead@example.se")
    ongoing = CustomerFactory(email="ongoing@example.se")
    former = CustomerFactory(email="former@example.se")
    Customer.objects.filter(pk=ongoing.pk).update(
        kind=Customer.Kind.CUSTOMER, relationship_started_on=date(2025, 1, 1)
    )
    Customer.objects.filter(pk=former.pk).update(
        kind=Customer.Kind.CUSTOMER,
        relationship_started_on=date(2024, 1, 1),
        relationship_ended_on=date(2025, 6, 30),
    )
    before = timezone.now() - timedelta(seconds=1)
    Customer.objects.update(last_activity_at=before)

    started = customers_start_relationship(
        customers=Customer.objects.filter(pk__in=[lead.pk, ongoing.pk, former.pk]),
        on=today,
        actor=box_office,
    )

    assert started == 2
    people = {p.email: p for p in Customer.objects.all()}
    assert {
        email: (p.kind, p.relationship_started_on, p.relationship_ended_on)
        for email, p in people.items()
    } == {
        "lead@example.se": (Customer.Kind.CUSTOMER, today, None),
        "ongoing@example.se": (Customer.Kind.CUSTOMER, date(2025, 1, 1), None),
        "former@example.se": (Customer.Kind.CUSTOMER, today, None),
    }
    assert all(p.last_activity_at > before for p in people.values())
    entries = AuditEntry.objects.filter(action="customer.relationship_started")
    assert sorted(entries.values_list("target_id", flat=True)) == sorted(
        [lead.public_id, former.public_id]
    )
    assert {entry.actor for entry in entries} == {box_office}
