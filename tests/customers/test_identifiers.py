import io
import random

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import FieldError, PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import translation
from faker import Faker

from concerthouse.encryption import DecryptionError
from concerthouse.models import AuditEntry
from concerthouse.tasks import reencrypt_task
from customers.management.commands.load_demo_data import _kontonummer
from customers.models import Customer
from customers.services import customer_reveal_identifier, customer_set_identifiers
from tests.factories import FODSELSNUMMER, KONTONUMMER, CustomerFactory

# Made-up numbers with valid check digits.
PERSONNUMMER = "19770909-4770"


def raw_columns(customer):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT national_id, bank_account FROM customers_customer WHERE id = %s", [customer.pk]
        )
        return cursor.fetchone()


@pytest.mark.django_db
def test_identifiers_are_never_stored_in_clear(aase):
    national_id, bank_account = raw_columns(aase)
    assert FODSELSNUMMER not in national_id and KONTONUMMER not in bank_account
    assert national_id.startswith("gAAAA")  # a Fernet token
    aase = Customer.objects.get(pk=aase.pk)
    assert (aase.national_id, aase.bank_account) == (FODSELSNUMMER, "86011117947")


@pytest.mark.django_db
def test_a_person_is_found_by_an_identifier_in_any_spelling(finance):
    customer = CustomerFactory(country="SE")
    customer_set_identifiers(
        customer=customer, actor=finance, purpose="invoicing", national_id=PERSONNUMMER
    )
    for spelling in ("770909-4770", "197709094770", "19770909-4770"):
        assert list(Customer.objects.with_national_id(spelling, country="SE")) == [customer]


@pytest.mark.django_db
def test_an_encrypted_column_cannot_be_searched_directly(aase):
    with pytest.raises(FieldError, match="blind index"):
        Customer.objects.filter(national_id=FODSELSNUMMER).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("country", "field", "value", "language", "message"),
    [
        (
            "NO",
            "national_id",
            "24058936801",
            "nb",
            "Skriv inn et gyldig norsk fødselsnummer (11 siffer).",
        ),
        (
            "NO",
            "national_id",
            "2405893680",
            "en",
            "Enter a valid Norwegian fødselsnummer (11 digits).",
        ),
        (
            "SE",
            "national_id",
            "19770909-4771",
            "sv",
            "Ange ett giltigt svenskt personnummer (ÅÅÅÅMMDD-NNNN).",
        ),
        (
            "SE",
            "national_id",
            "770999-4770",
            "en",
            "Enter a valid Swedish personnummer (ÅÅÅÅMMDD-NNNN).",
        ),
        (
            "NO",
            "bank_account",
            "8601.11.17948",
            "nb",
            "Skriv inn et gyldig norsk kontonummer (11 siffer) eller et IBAN.",
        ),
        (
            "SE",
            "bank_account",
            "SE45 5000 0000 0583 9825 7467",
            "sv",
            "Ange ett giltigt norskt kontonummer (11 siffror) eller ett IBAN.",
        ),
    ],
)
def test_an_invalid_identifier_is_refused_with_a_translated_message(
    finance, country, field, value, language, message
):
    customer = CustomerFactory(country=country)
    with translation.override(language), pytest.raises(ValidationError) as raised:
        customer_set_identifiers(
            customer=customer, actor=finance, purpose="refunds", **{field: value}
        )
    assert raised.value.message_dict[field] == [message]
    assert raw_columns(customer) == ("", "")
    assert not AuditEntry.objects.filter(action="customer.identifiers_changed").exists()


@pytest.mark.django_db
def test_an_identifier_needs_a_purpose(finance):
    customer = CustomerFactory(country="NO")
    with pytest.raises(ValidationError) as raised:
        customer_set_identifiers(
            customer=customer, actor=finance, purpose="", national_id=FODSELSNUMMER
        )
    assert "identifiers_purpose" in raised.value.message_dict
    assert raw_columns(customer) == ("", "")


@pytest.mark.django_db
def test_one_national_id_cannot_belong_to_two_people(aase, finance):
    other = CustomerFactory(country="NO")
    with pytest.raises(ValidationError) as raised:
        customer_set_identifiers(
            customer=other, actor=finance, purpose="refunds", national_id=FODSELSNUMMER
        )
    assert raised.value.message_dict["national_id"] == [
        "Another person has this national identity number."
    ]


@pytest.mark.django_db
def test_removing_identifiers_clears_value_index_and_purpose(aase, finance):
    customer_set_identifiers(
        customer=aase, actor=finance, purpose="", national_id="", bank_account=""
    )
    aase.refresh_from_db()
    assert raw_columns(aase) == ("", "")
    assert (aase.national_id_index, aase.identifiers_purpose) == ("", "")


@pytest.mark.django_db
def test_revealing_is_audited_and_refused_without_permission(aase, finance, marketing):
    revealed = customer_reveal_identifier(customer=aase, actor=finance, field="bank_account")
    assert revealed == "86011117947"
    entry = AuditEntry.objects.get(action="customer.identifier_revealed")
    assert (entry.actor, entry.target_id) == (finance, aase.public_id)
    assert (entry.detail, entry.purpose) == ({"field": "bank_account"}, "Accounting and payments")
    with pytest.raises(PermissionDenied):
        customer_reveal_identifier(customer=aase, actor=marketing, field="national_id")
    assert AuditEntry.objects.filter(action="customer.identifier_revealed").count() == 1


@pytest.mark.django_db
def test_rotating_keys_keeps_every_value_readable(finance):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    faker, rng = Faker("no_NO"), random.Random(7)
    faker.seed_instance(7)
    expected = {}
    for n in range(9):
        customer = CustomerFactory(country="NO")
        values = {
            "national_id": faker.unique.ssn() if n % 3 != 1 else None,
            "bank_account": _kontonummer(rng) if n % 3 != 0 else None,
        }
        customer_set_identifiers(customer=customer, actor=finance, purpose="refunds", **values)
        expected[customer.pk] = {k: v or "" for k, v in values.items()}
    untouched = CustomerFactory(country="NO")
    expected[untouched.pk] = {"national_id": "", "bank_account": ""}

    def stored():
        return {
            c.pk: {"national_id": c.national_id, "bank_account": c.bank_account}
            for c in Customer.objects.all()
        }

    new_key = Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key, old_key]):
        assert stored() == expected  # before re-encrypting, the old key still reads old rows
        out = io.StringIO()
        call_command("reencrypt", "--batch-size", "2", stdout=out)
        assert "Re-encrypted 9 rows under the newest key" in out.getvalue()
        assert "customers.customer 9" in out.getvalue()
        assert (
            AuditEntry.objects.get(action="encryption.reencrypted").detail["rows"][
                "customers.customer"
            ]
            == 9
        )
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key]):
        assert stored() == expected  # the new key alone reads every row
    with override_settings(FIELD_ENCRYPTION_KEYS=[old_key]), pytest.raises(DecryptionError):
        stored()  # and the old key reads none: a wrong key raises, never returns ciphertext


@pytest.mark.django_db
def test_reencryption_run_twice_leaves_the_same_values(aase):
    new_key = Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key, settings.FIELD_ENCRYPTION_KEYS[0]]):
        assert reencrypt_task.delay().get() == 1
        assert reencrypt_task.delay().get() == 0  # nothing left under the old key
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key]):
        assert Customer.objects.get(pk=aase.pk).national_id == FODSELSNUMMER
