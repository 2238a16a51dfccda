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
