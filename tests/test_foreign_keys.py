"""The database deletes as the models say: every foreign key of the project's apps carries its
field's on_delete (CASCADE, SET NULL) on PostgreSQL, given by the apps' migrations through
`concerthouse.migration_operations.AlterForeignKeyOnDelete`.

The first test is the guard for later migrations: a new foreign key, or one Django re-creates as NO
ACTION when a field changes, fails it until its migration adds the operation."""

from datetime import date
from decimal import Decimal

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection, migrations, models
from django.db.migrations.loader import MigrationLoader

from concerthouse.migration_operations import AlterForeignKeyOnDelete
from consent.models import Channel, Consent, ConsentEvent
from consent.selectors import notice_current
from consent.services import consent_give
from customers.models import Customer
from subscriptions.models import Order
from tests.factories import CustomerFactory

# pg_constraint.confdeltype
NO_ACTION, CASCADE, SET_NULL = "a", "c", "n"


@pytest.fixture
def postgresql():
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


def out_of_step() -> dict[tuple[str, str], tuple[str | None, str]]:
    """(table, column) -> (in the database, declared), for every foreign key that differs."""
    in_database = constraints()
    return {
        key: (in_database.get(key), wanted)
        for key, wanted in declared().items()
        if in_database.get(key) != wanted
    }


def migrate(*operations, backwards=False):
    """Apply (or reverse) `operations` of the consent app, as a migration of it would, on top of
    the project's migrated state."""
    migration = migrations.Migration("test", "consent")
    migration.operations = list(operations)
    state = MigrationLoader(connection).project_state()
    with connection.schema_editor() as editor:
        if backwards:
            migration.unapply(state, editor)
        else:
            migration.apply(state, editor)


CONSENT_CUSTOMER = (Consent._meta.db_table, "customer_id")


@pytest.mark.django_db
@pytest.mark.postgres
def test_every_foreign_key_of_the_project_deletes_in_the_database_as_its_model_says(postgresql):
    assert declared()  # the project's models were found
    # A key listed here needs AlterForeignKeyOnDelete in the migration that made or changed it.
    assert out_of_step() == {}
    in_database = constraints()
    # The person is the table a purge deletes from: everything pointing at it is among them.
    assert in_database[(ConsentEvent._meta.db_table, "customer_id")] == CASCADE
    assert in_database[(Order._meta.db_table, "customer_id")] == SET_NULL
    # Django's own apps are left as Django made them.
    assert in_database[("auth_user_groups", "user_id")] == NO_ACTION


@pytest.mark.django_db
@pytest.mark.postgres
def test_the_operation_reversed_gives_back_no_action_and_forwards_the_model_s_action(postgresql):
    operation = AlterForeignKeyOnDelete("consent", "customer")

    migrate(operation, backwards=True)
    assert constraints()[CONSENT_CUSTOMER] == NO_ACTION

    migrate(operation)
    assert constraints()[CONSENT_CUSTOMER] == CASCADE
    assert out_of_step() == {}


@pytest.mark.django_db
@pytest.mark.postgres
def test_a_foreign_key_changed_to_protect_gets_no_action_and_back_to_cascade(postgresql):
    """Django runs no SQL when only on_delete changes: the operation, in the same migration as
    the AlterField, is what puts the database in step, both ways."""

    def customer_key(on_delete):
        return models.ForeignKey("customers.Customer", on_delete=on_delete, related_name="consents")

    migrate(
        migrations.AlterField("consent", "customer", customer_key(models.PROTECT)),
        AlterForeignKeyOnDelete("consent", "customer"),
    )
    assert constraints()[CONSENT_CUSTOMER] == NO_ACTION

    migrate(
        migrations.AlterField("consent", "customer", customer_key(models.CASCADE)),
        AlterForeignKeyOnDelete("consent", "customer"),
    )
    assert constraints()[CONSENT_CUSTOMER] == CASCADE


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_the_constraints_survive_a_flush_with_nothing_to_put_them_right(postgresql):
    # What runs between transactional tests; no hook rewrites constraints after it.
    call_command("flush", interactive=False, verbosity=0)

    assert out_of_step() == {}


@pytest.mark.django_db
@pytest.mark.postgres
def test_the_database_itself_carries_out_on_delete_for_a_row_the_orm_did_not_reach(
    postgresql, news
):
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
