import importlib
import threading

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, connections
from django.utils import translation

from concerthouse.email_address import normalise_email
from concerthouse.models import AuditEntry
from customers.models import Customer
from customers.services import customer_create, customer_update
from tests.factories import CustomerFactory

normalise_migration = importlib.import_module(
    "customers.migrations.0004_customer_email_unique_normalised"
)


@pytest.mark.django_db
def test_unicode_names_are_kept_exactly():
    customer = customer_create(
        email="  Ase.Odegard@Example.NO ",
        first_name="Åse",
        last_name="Ødegård",
        country="NO",
        source=Customer.Source.WEB_SIGNUP,
    )
    customer.refresh_from_db()
    assert (customer.first_name, customer.last_name) == ("Åse", "Ødegård")
    assert customer.email == "ase.odegard@example.no"


@pytest.mark.django_db
@pytest.mark.parametrize("twin", ["MARTA@EXAMPLE.SE", "marta@example.se", " Marta@Example.Se"])
def test_an_email_that_differs_only_in_case_is_refused_and_nothing_is_written(twin):
    customer_create(email="Marta@example.se", first_name="Märta", source="web_signup")
    with pytest.raises(ValidationError) as raised:
        customer_create(email=twin, first_name="Märta", last_name="Ångström", source="web_signup")
    assert raised.value.message_dict["email"] == [
        "A person with this email address is already registered."
    ]
    assert Customer.objects.count() == 1
    assert AuditEntry.objects.filter(action="customer.created").count() == 1


@pytest.mark.django_db
def test_the_database_itself_refuses_a_second_person_with_an_address():
    CustomerFactory(email="ASE@example.no")
    # Straight past the service: the constraint, not Python, is what keeps twins out. The address
    # is stored normalised, so the twin of "ASE@example.no" is "ase@example.no".
    twin = Customer(email="ase@example.no", source="web_signup")
    with pytest.raises(IntegrityError) as raised:
        twin.save()
    assert "email" in str(raised.value)  # the constraint's name on PostgreSQL, its column on SQLite


@pytest.mark.django_db
@pytest.mark.parametrize(
    "twin",
    [
        "marta@a\u030angstro\u0308m.se",  # decomposed (NFD), as some keyboards type it
        " MARTA@\u00c5ngstr\u00f6m.SE ",
    ],
)
def test_an_address_in_another_unicode_form_is_the_same_person(twin):
    first = customer_create(email="marta@\u00e5ngstr\u00f6m.se", source="web_signup")
    assert first.email == "marta@\u00e5ngstr\u00f6m.se"
    with pytest.raises(ValidationError) as raised:
        customer_create(email=twin, first_name="M\u00e4rta", source="web_signup")
    assert "email" in raised.value.message_dict
    assert Customer.objects.count() == 1
    assert Customer.objects.with_email(normalise_email(twin)).get() == first


@pytest.mark.django_db
def test_the_migration_brings_an_address_stored_before_normalisation_to_its_one_form():
    legacy = Customer.objects.create(email="  Marta@A\u030angstro\u0308m.SE ", source="web_signup")
    clean = CustomerFactory(email="ase@example.no")
    normalise_migration.normalise_stored(apps, None)
    legacy.refresh_from_db()
    assert legacy.email == "marta@\u00e5ngstr\u00f6m.se"
    assert Customer.objects.get(pk=clean.pk).email == "ase@example.no"


@pytest.mark.django_db
def test_the_migration_stops_at_two_people_who_are_one_address_and_changes_nothing():
    CustomerFactory(email="marta@\u00e5ngstr\u00f6m.se")
    Customer.objects.create(email="Marta@a\u030angstro\u0308m.se", source="web_signup")
    before = sorted(Customer.objects.values_list("email", flat=True))
    with pytest.raises(RuntimeError, match="merge them"):
        normalise_migration.normalise_stored(apps, None)
    assert sorted(Customer.objects.values_list("email", flat=True)) == before


@pytest.mark.django_db
def test_the_duplicate_message_is_translated():
    CustomerFactory(email="ase@example.no")
    with translation.override("nb"):
        with pytest.raises(ValidationError) as raised:
            customer_create(email="Ase@Example.no", source="web_signup")
        assert raised.value.message_dict["email"] == [
            "En person med denne e-postadressen er allerede registrert."
        ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_signups_of_one_address_create_one_person():
    if connection.vendor != "postgresql":
        pytest.skip("needs a server database with concurrent connections (PostgreSQL)")
    barrier = threading.Barrier(2)
    outcomes = []

    def sign_up(email):
        try:
            barrier.wait()
            customer_create(email=email, first_name="Åse", source="web_signup")
            outcomes.append("created")
        except ValidationError as error:
            outcomes.append(error.message_dict["email"][0])
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=sign_up, args=(email,))
        for email in ("ase.odegard@example.no", "ASE.Odegard@Example.no")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [
        "A person with this email address is already registered.",
        "created",
    ]
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_phone_numbers_are_stored_in_e164():
    se = CustomerFactory(phone="070-123 45 67", country="SE")
    no = CustomerFactory(phone="912 34 567", country="NO")
    abroad = CustomerFactory(phone="+47 912 34 568", country="SE")
    assert (se.phone, no.phone, abroad.phone) == ("+46701234567", "+4791234567", "+4791234568")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Enter a valid phone number, for example +46 70 123 45 67 or +47 912 34 567."),
        (
            "sv",
            "Ange ett giltigt telefonnummer, till exempel +46 70 123 45 67 eller +47 912 34 567.",
        ),
        (
            "nb",
            "Skriv inn et gyldig telefonnummer, for eksempel +46 70 123 45 67 eller +47 912 34 567.",
        ),
    ],
)
@pytest.mark.parametrize("phone", ["12", "070-123", "not a number", "+46 70 123 45 67 89 00"])
def test_an_invalid_phone_is_refused_with_a_translated_message(language, message, phone):
    with translation.override(language), pytest.raises(ValidationError) as raised:
        customer_create(email="ase@example.no", phone=phone, country="SE", source="web_signup")
    assert raised.value.message_dict["phone"] == [message]
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_an_update_audits_the_names_of_changed_fields_but_never_their_values(dpo):
    customer = CustomerFactory(first_name="Märta", last_name="Ångström", city="Örebro")
    customer_update(customer=customer, actor=dpo, city="Västerås", last_name="Ångström")
    entry = AuditEntry.objects.get(action="customer.changed")
    assert entry.detail == {"fields": ["city"]}
    assert entry.actor == dpo
    assert "Västerås" not in str(entry.detail) and "Örebro" not in str(entry.detail)


@pytest.mark.django_db
def test_an_update_that_changes_nothing_writes_nothing(dpo):
    customer = CustomerFactory(city="Örebro")
    customer_update(customer=customer, actor=dpo, city="  Örebro ")
    assert not AuditEntry.objects.filter(action="customer.changed").exists()
