"""copy_insert stores rows as bulk_create would (through COPY on PostgreSQL): defaults, auto_now,
JSON and encrypted fields, primary keys by a unique field, and Django's IntegrityError."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from concerthouse.bulk import copy_insert
from concerthouse.models import AuditEntry
from customers.models import Customer
from subscriptions.models import Order

pytestmark = pytest.mark.django_db


def order(reference: str) -> Order:
    return Order(
        reference=reference,
        buyer_name="Åse Ødegård",
        buyer_address="Kongens gate 2, 0153 Oslo, NO",
        description="Season subscription thu, 2 seat(s)",
        amount=Decimal("2900.50"),
        currency="NOK",
        ordered_on=date(2026, 9, 1),
        channel=Order.Channel.TICKET_AGENT,
        financial_year_ends_on=date(2026, 12, 31),
    )


def test_rows_read_back_as_bulk_create_stores_them():
    before = timezone.now()
    copied = [order("eventim:1"), order("eventim:2")]
    created = Order.objects.bulk_create([order("eventim:3")])

    copy_insert(copied, key="reference")

    rows = {o.reference: o for o in Order.objects.all()}
    assert [o.pk for o in copied] == [rows["eventim:1"].pk, rows["eventim:2"].pk]
    for reference in ("eventim:1", "eventim:2"):
        row, twin = rows[reference], rows[created[0].reference]
        assert row.created_at >= before  # auto_now_add, as pre_save gives it
        assert (row.buyer_name, row.amount, row.ordered_on, row.country) == (
            twin.buyer_name,
            twin.amount,
            twin.ordered_on,
            twin.country,  # the field's default
        )


def test_json_and_encrypted_fields_are_prepared_by_their_fields(dpo):
    person = Customer(
        email="ase.odegard@example.no",
        first_name="Åse",
        source=Customer.Source.TICKET_AGENT,
        national_id="24058936800",
        identifiers_purpose=Customer.IdentifiersPurpose.REFUNDS,
    )
    copy_insert([person], key="public_id")
    copy_insert(
        [
            AuditEntry(
                action="customer.created",
                actor=dpo,
                target_type="customers.customer",
                target_id=person.public_id,
                detail={"fields": ["email", "first_name"], "rows": 1},
            )
        ]
    )

    assert Customer.objects.get(pk=person.pk).national_id == "24058936800"
    with connection.cursor() as cursor:
        cursor.execute("SELECT national_id FROM customers_customer WHERE id = %s", [person.pk])
        (stored,) = cursor.fetchone()
    assert "24058936800" not in stored  # encrypted, not written as it was given
    entry = AuditEntry.objects.get(target_id=person.public_id)
    assert entry.detail == {"fields": ["email", "first_name"], "rows": 1}
    assert entry.actor == dpo


def test_a_row_a_unique_index_refuses_is_django_s_integrity_error_and_nothing_is_written():
    copy_insert([order("eventim:1")])

    with pytest.raises(IntegrityError), transaction.atomic():
        copy_insert([order("eventim:2"), order("eventim:1")])

    assert list(Order.objects.values_list("reference", flat=True)) == ["eventim:1"]
