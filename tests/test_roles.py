import pytest
from django.contrib.auth.models import Group

from concerthouse.roles import ROLE_PERMISSIONS, Role


@pytest.mark.django_db
def test_the_migration_creates_one_group_per_role_with_exactly_its_permissions():
    for role, expected in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role.value)
        granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert granted == expected, role


def test_the_role_table_of_the_design():
    def may(role, permission):
        return permission in ROLE_PERMISSIONS[role]

    assert not may(Role.MARKETING, "customers.reveal_identifiers")
    assert not may(Role.MARKETING, "customers.view_health_data")
    assert not may(Role.BOX_OFFICE, "customers.reveal_identifiers")
    assert may(Role.BOX_OFFICE, "customers.view_health_data")
    assert not may(Role.FINANCE, "customers.change_customer")  # contact data: view only
    assert may(Role.FINANCE, "customers.reveal_identifiers")
    assert may(Role.DPO, "customers.reveal_identifiers")
    assert may(Role.DPO, "concerthouse.view_auditentry")
    assert not any(may(r, "concerthouse.view_auditentry") for r in Role if r != Role.DPO)


def test_newsletters_belong_to_marketing_and_the_dpo_only_looks():
    def may(role, permission):
        return permission in ROLE_PERMISSIONS[role]

    assert may(Role.MARKETING, "newsletters.change_campaign")
    assert may(Role.MARKETING, "newsletters.export_audience")
    assert not any(may(r, "newsletters.export_audience") for r in Role if r != Role.MARKETING)
    assert may(Role.DPO, "newsletters.view_campaign")
    assert not may(Role.DPO, "newsletters.change_campaign")
    assert may(Role.DPO, "newsletters.view_suppression")
    assert not any(may(r, "newsletters.view_campaign") for r in (Role.BOX_OFFICE, Role.FINANCE))
    # Nobody edits the consent ledger.
    assert not any(may(r, "consent.change_consentevent") for r in Role)


@pytest.mark.django_db
def test_the_accounting_records_open_to_finance_and_the_dpo_and_not_to_box_office(
    client_for, box_office, finance, dpo, thursdays
):
    """DESIGN.md gives the accounting records to finance; box office books and cancels at the
    counter, which shows what was paid for the booking in hand, and needs no list of the accounts."""
    from django.urls import reverse

    from subscriptions import services
    from tests.subscriptions.conftest import buyer

    booked = services.subscription_book(
        series=thursdays,
        seats=1,
        buyer=buyer(),
        channel="box_office",
        actor=box_office,
        payment_method="card",
    )
    changelist = reverse("admin:subscriptions_order_changelist")
    change = reverse("admin:subscriptions_order_change", args=[booked.order_id])
    for user, status in ((box_office, 403), (finance, 200), (dpo, 200)):
        client = client_for(user)
        assert client.get(changelist).status_code == status, user
        assert client.get(change).status_code == status, user
    index = client_for(box_office).get(reverse("admin:index")).content.decode()
    assert "/admin/subscriptions/order/" not in index
    assert "/admin/subscriptions/seasonsubscription/" in index  # the bookings stay theirs
