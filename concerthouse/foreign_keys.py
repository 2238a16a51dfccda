"""Foreign keys that delete in the database as their models say.

Django 5.2 creates every foreign key as NO ACTION and carries out `on_delete` itself, in Python.
PostgreSQL then checks every deleted row against each foreign key pointing at its table, with two
lookups a key (does another row now hold the deleted key; does any row still refer to it), and a
person is pointed at by eleven: on a large purge those checks took most of the time. With the
model's own action (ON DELETE CASCADE or SET NULL) it makes one lookup, for the same result: the
ORM and `erasure.delete_rows` have already dealt with the dependent rows, and a row they did not
reach gets what its model declares, rather than an error.

After every `migrate` (and every `flush`), `on_delete_sync` gives each foreign key of the project's
own apps the action of its field, so that a constraint Django re-creates when a field changes is
put right at once. Every other on_delete (PROTECT, RESTRICT, DO_NOTHING, SET_DEFAULT, SET()) is
NO ACTION, and is put back to it when a field changes to one: Django carries those out or checks
them first, and the database refuses what slips past. Other backends are left as Django made them.
"""

from django.conf import settings
from django.db import connections, models, transaction

# pg_constraint.confdeltype for each on_delete the database carries out itself; NO ACTION else.
_ACTIONS = {models.CASCADE: ("c", "CASCADE"), models.SET_NULL: ("n", "SET NULL")}
_NO_ACTION = ("a", "NO ACTION")


def _wanted(apps) -> dict[tuple[str, str], tuple[str, str, str, str]]:
    """(table, column) -> (confdeltype, ON DELETE clause, referenced table, referenced column)."""
    wanted = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label not in settings.PROJECT_APPS:
            continue
        for field in model._meta.local_fields:
            if not field.is_relation or not field.db_constraint:
                continue
            action = _ACTIONS.get(field.remote_field.on_delete, _NO_ACTION)
            target = field.target_field
            wanted[(model._meta.db_table, field.column)] = (
                *action,
                target.model._meta.db_table,
                target.column,
            )
    return wanted


def on_delete_sync(*, using: str = "default", apps=None) -> int:
    """Give every foreign key of the project's apps its field's ON DELETE; returns how many
    constraints were changed (none when all are right)."""
    from django.apps import apps as installed_apps

    connection = connections[using]
    if connection.vendor != "postgresql":
        return 0
    wanted = _wanted(apps or installed_apps)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.conname, t.relname, a.attname, c.confdeltype, c.convalidated
            FROM pg_constraint c
            JOIN pg_class t ON t.oid = c.conrelid
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
            WHERE c.contype = 'f' AND cardinality(c.conkey) = 1
              AND t.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
            """
        )
        found = cursor.fetchall()
    quote = connection.ops.quote_name
    changed = 0
    for name, table, column, current, validated in found:
        if (table, column) not in wanted:
            continue
        code, clause, to_table, to_column = wanted[(table, column)]
        if current != code:
            with transaction.atomic(using=using), connection.cursor() as cursor:
                cursor.execute(
                    f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}, "
                    f"ADD CONSTRAINT {quote(name)} FOREIGN KEY ({quote(column)}) "
                    f"REFERENCES {quote(to_table)} ({quote(to_column)}) ON DELETE {clause} "
                    "DEFERRABLE INITIALLY DEFERRED NOT VALID"
                )
            changed += 1
        if current != code or not validated:
            # Apart from the swap, which holds the table's exclusive lock: checking the existing
            # rows takes a lock that lets reads and writes go on. (An interrupted sync leaves the
            # constraint NOT VALID but enforced for new rows; the next one validates it.)
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {quote(table)} VALIDATE CONSTRAINT {quote(name)}")
    return changed
