import pytest
from django.db import models
from django.test.utils import isolate_apps

from concerthouse.privacy import map as personal_data_map
from concerthouse.privacy.export import export_person
from concerthouse.privacy.map import (
    Category,
    declaration_for,
    field_visibility,
    undeclared_personal_models,
)
from customers.models import Customer
from customers.services import customer_set_identifiers
from tests.factories import CustomerFactory


class Throwaway(models.Model):
    """Models made up inside a test, in an isolated registry: they never reach the database."""

    class Meta:
        abstract = True
        app_label = "customers"


def test_every_model_holding_personal_data_is_declared_in_the_map():
    assert undeclared_personal_models() == []


@isolate_apps("customers")
def test_an_undeclared_model_pointing_at_a_customer_is_found():
    class Booking(Throwaway):
        customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE)
        seats = models.PositiveIntegerField()

    class Payment(Throwaway):
        booking = models.ForeignKey(Booking, on_delete=models.CASCADE)
        amount = models.DecimalField(max_digits=9, decimal_places=2)

    class Venue(Throwaway):
        name = models.CharField(max_length=100)

    assert undeclared_personal_models([Booking, Payment, Venue]) == [
        "customers.booking",
        "customers.payment",  # through Booking: personal too
    ]


@isolate_apps("customers")
def test_an_undeclared_model_with_personal_fields_is_found():
    class FairContact(Throwaway):
        contact_email = models.EmailField()

    class Callback(Throwaway):
        mobile_number = models.CharField(max_length=20)

    assert undeclared_personal_models([FairContact, Callback]) == [
        "customers.callback",
        "customers.faircontact",
    ]


def test_declaring_a_model_makes_it_complete():
    with isolate_apps("customers"):

        class Leaflet(Throwaway):
            recipient_email = models.EmailField()

    assert undeclared_personal_models([Leaflet]) == ["customers.leaflet"]
    declaration = personal_data_map.Declaration(
        model=Leaflet,
        fields={"recipient_email": Category.CONTACT},
        purpose="test",
        legal_basis=personal_data_map.LegalBasis.CONSENT,
        owned_by=lambda people: models.Q(pk__in=[]),
        erasure=personal_data_map.Erasure.DELETE,
        retention=personal_data_map.Retention("test"),
    )
    personal_data_map.register(declaration)
    try:
        assert undeclared_personal_models([Leaflet]) == []
    finally:
        personal_data_map._declarations.pop("customers.leaflet")


def test_a_declaration_naming_a_missing_field_is_refused():
    with pytest.raises(ValueError, match="nickname"):
        personal_data_map.register(
            personal_data_map.Declaration(
                model=Customer,
                fields={"nickname": Category.CONTACT},
                purpose="",
                legal_basis=personal_data_map.LegalBasis.CONSENT,
                owned_by=lambda people: models.Q(),
                erasure=personal_data_map.Erasure.DELETE,
                retention=personal_data_map.Retention(""),
            )
        )


def test_identity_financial_and_health_fields_are_declared_as_such():
    declaration = declaration_for(Customer)
    assert declaration.fields["national_id"] == Category.IDENTITY
    assert declaration.fields["bank_account"] == Category.FINANCIAL


@pytest.mark.django_db
def test_visibility_follows_the_map_and_the_role(marketing, box_office, finance, dpo):
    assert field_visibility(Customer, marketing) == {
        "national_id": "hidden",
        "bank_account": "hidden",
        "identifiers_purpose": "hidden",
    }
    assert set(field_visibility(Customer, box_office).values()) == {"hidden"}
    assert set(field_visibility(Customer, finance).values()) == {"masked"}
    assert set(field_visibility(Customer, dpo).values()) == {"masked"}


@pytest.mark.django_db
def test_the_export_holds_the_persons_rows_and_nobody_elses(finance):
    aase = CustomerFactory(email="ase@example.no", first_name="Åse", country="NO")
    CustomerFactory(email="marta@example.se", first_name="Märta")
    customer_set_identifiers(
        customer=aase, actor=finance, purpose="refunds", bank_account="86011117947"
    )
    export = export_person(aase)
    assert [row["email"] for row in export["customers.customer"]] == ["ase@example.no"]
    assert export["customers.customer"][0]["bank_account"] == "86011117947"
    audit_rows = export["concerthouse.auditentry"]
    assert {row["action"] for row in audit_rows} == {
        "customer.created",
        "customer.identifiers_changed",
    }
    assert "marta@example.se" not in str(export)
