import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from concerthouse.audit import audit_record
from concerthouse.models import AuditEntry
from tests.factories import CustomerFactory


def require_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL only")


@pytest.mark.django_db
def test_an_entry_names_the_target_by_public_id_and_the_purpose_by_role(marketing):
    customer = CustomerFactory(first_name="Åse", last_name="Ødegård")
    entry = audit_record(action="customer.viewed", actor=marketing, target=customer)
    assert (entry.target_type, entry.target_id) == ("customers.customer", customer.public_id)
    assert entry.purpose == "Newsletters and marketing"
    assert "Åse" not in str(entry) and "Ødegård" not in str(entry)


@pytest.mark.django_db
def test_the_database_refuses_to_rewrite_or_delete_an_entry(marketing):
    require_postgresql()
    entry = audit_record(action="customer.viewed", actor=marketing, target=CustomerFactory())
    for change in ({"action": "customer.forgotten"}, {"actor": None}, {"detail": {"x": 1}}):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEntry.objects.filter(pk=entry.pk).update(**change)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    entry.refresh_from_db()
    assert entry.action == "customer.viewed" and entry.actor == marketing


@pytest.mark.django_db
def test_the_database_allows_redaction_only(marketing):
    require_postgresql()
    entry = audit_record(action="customer.viewed", actor=marketing, target=CustomerFactory())
    AuditEntry.objects.filter(pk=entry.pk).update(target_id=None, redacted_at=timezone.now())
    entry.refresh_from_db()
    assert entry.target_id is None and entry.redacted_at is not None
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(target_id=CustomerFactory().public_id)
