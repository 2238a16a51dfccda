"""The database deletes as the models say: every foreign key of the project's apps carries its
field's on_delete (CASCADE, SET NULL) on PostgreSQL, and a constraint put back to NO ACTION, as
Django re-creates one when a field changes, is set right by the next sync."""

from datetime import date
from decimal import Decimal

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection, models

from concerthouse.foreign_keys import on_delete_sync
from consent.models import Channel, Consent, ConsentEvent
from consent.selectors import notice_current
from consent.services import consent_give
from customers.models import Customer
from subscriptions.models import Order
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# pg_constraint.confdeltype
NO_ACTION, CASCADE, SET_NULL = "a", "c", "n"


@pytest.fixture(autouse=True)
def _postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("needs a server database with concurrent connections (PostgreSQL)")


def constraints() -> dict[tuple[str, str], str]:
    """(table, column) -> confdeltype, for every single-column foreign key in the schema."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.relname, a.attname, c.confdeltype
            FROM pg_constraint c
            JOIN pg_class t ON t.oid = c.conrelid
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
            WHERE c.contype = 'f'
              AND t.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
            """
        )
        return {(table, column): action for table, column, action in cursor.fetchall()}


def declared() -> dict[tuple[str, str], str]:
    """What each foreign key of the project's models says it does on delete."""
    expected = {models.CASCADE: CASCADE, models.SET_NULL: SET_NULL}
    found = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label not in settings.PROJECT_APPS:
            continue
        for field in model._meta.local_fields:
            if field.is_relation and field.db_constraint:
                action = expected.get(field.remote_field.on_delete, NO_ACTION)
                found[(model._meta.db_table, field.column)] = action
    return found


def test_every_foreign_key_of_the_project_deletes_in_the_database_as_its_model_says():
    wanted = declared()
    in_database = constraints()
    assert wanted  # the project's models were found
    assert {key: in_database.get(key) for key in wanted} == wanted
    # The person is the table a purge deletes from: everything pointing at it is among them.
    assert in_database[(ConsentEvent._meta.db_table, "customer_id")] == CASCADE
    assert in_database[(Order._meta.db_table, "customer_id")] == SET_NULL
    # Django's own apps are left as Django made them.
    assert in_database[("auth_user_groups", "user_id")] == NO_ACTION


def test_a_constraint_recreated_as_no_action_is_set_right_by_the_next_sync():
    table = Consent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT conname FROM pg_constraint
            WHERE conrelid = %s::regclass AND contype = 'f' AND confrelid = %s::regclass
            """,
            [table, Customer._meta.db_table],
        )
        (name,) = cursor.fetchone()
        # What Django's schema editor creates when it rebuilds a foreign key.
        cursor.execute(
            f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}", ADD CONSTRAINT "{name}" '
            f'FOREIGN KEY (customer_id) REFERENCES "{Customer._meta.db_table}" (id) '
            "DEFERRABLE INITIALLY DEFERRED"
        )
    assert constraints()[(table, "customer_id")] == NO_ACTION

    assert on_delete_sync() == 1

    assert constraints()[(table, "customer_id")] == CASCADE
    assert {key: constraints().get(key) for key in declared()} == declared()
    assert on_delete_sync() == 0  # nothing left to change


def test_a_field_changed_to_protect_gets_no_action_back(monkeypatch):
    """Django runs no SQL when only on_delete changes: the sync is what puts the database in
    step, both ways."""
    table = Consent._meta.db_table
    field = Consent._meta.get_field("customer")
    monkeypatch.setattr(field.remote_field, "on_delete", models.PROTECT)

    assert on_delete_sync() == 1
    assert constraints()[(table, "customer_id")] == NO_ACTION

    monkeypatch.undo()
    assert on_delete_sync() == 1
    assert constraints()[(table, "customer_id")] == CASCADE


def test_the_database_itself_carries_out_on_delete_for_a_row_the_orm_did_not_reach(news):
    person = CustomerFactory(email="ase.odegard@example.no", first_name="Åse")
    notice = notice_current(purpose=news, language="nb")
    consent_give(customer=person, purpose=news, notice=notice, channel=Channel.WEB_SIGNUP)
    buyer = CustomerFactory(email="marta.angstrom@example.se", first_name="Märta")
    order = Order.objects.create(
        customer=buyer,
        reference="O-1",
        buyer_name="Märta Ångström",
        description="Season subscription thu, 2 seat(s)",
        amount=Decimal("2900.00"),
        currency="SEK",
        ordered_on=date(2026, 9, 1),
        channel=Order.Channel.WEB,
        country="SE",
        financial_year_ends_on=date(2026, 12, 31),
    )
    assert ConsentEvent.objects.filter(customer=person).exists()

    # Past the ORM, as a restore script or a DBA would: the database does what the model says.
    with connection.cursor() as cursor:
        cursor.execute(
            f'DELETE FROM "{Customer._meta.db_table}" WHERE id IN (%s, %s)',  # noqa: S608
            [person.pk, buyer.pk],
        )
    connection.check_constraints()

    assert not ConsentEvent.objects.filter(customer_id=person.pk).exists()
    assert not Consent.objects.filter(customer_id=person.pk).exists()
    order.refresh_from_db()
    # The accounting record stays, without its link to the person (the bookkeeping hold).
    assert order.customer_id is None and order.buyer_name == "Märta Ångström"
