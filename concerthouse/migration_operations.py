"""A migration operation that gives a foreign key its model's `on_delete` in the database.

Django 5.2 creates every foreign key as NO ACTION and carries out `on_delete` itself, in Python.
PostgreSQL then checks every deleted row against each foreign key pointing at its table, with two
lookups a key (does another row now hold the deleted key; does any row still refer to it), and a
person is pointed at by many: on a large purge those checks take most of the time. With the model's
own action (ON DELETE CASCADE or SET NULL) it makes one lookup, for the same result: the ORM and
`concerthouse.erasure.delete_rows` have already dealt with the dependent rows, and a row they did
not reach gets what its model declares, rather than an error.

How to use it. Whenever a migration creates a foreign key (CreateModel, AddField) or makes Django
re-create one (an AlterField that changes the column, its type or its target), or changes a foreign
key's `on_delete`, add an `AlterForeignKeyOnDelete` for that field to the same migration, after the
operation that touches the field:

    from concerthouse.migration_operations import AlterForeignKeyOnDelete

    operations = [
        migrations.AddField("delivery", "customer", models.ForeignKey(..., on_delete=CASCADE)),
        AlterForeignKeyOnDelete("delivery", "customer"),
    ]

`tests/test_foreign_keys.py` fails, on PostgreSQL, for every foreign key of the project's apps whose
constraint does not say what its model says; this operation is what puts it right.

CASCADE becomes ON DELETE CASCADE and SET_NULL becomes ON DELETE SET NULL. Every other on_delete
(PROTECT, RESTRICT, DO_NOTHING, SET_DEFAULT, SET()) becomes NO ACTION, as Django makes it: Django
carries those out or checks them first, and the database refuses what slips past. On other
databases the operation does nothing (SQLite's constraints stay as Django made them). Reversed, it
gives the constraint back as Django made it: NO ACTION.
"""

from django.db import models
from django.db.migrations.operations.base import Operation, OperationCategory

# The actions the database carries out as the model would; every other on_delete is NO ACTION.
ON_DELETE_SQL = {models.CASCADE: "ON DELETE CASCADE", models.SET_NULL: "ON DELETE SET NULL"}


def on_delete_sql(field: models.ForeignKey) -> str:
    """The ON DELETE clause that does in the database what the field's on_delete says, or ""."""
    return ON_DELETE_SQL.get(field.remote_field.on_delete, "")


class AlterForeignKeyOnDelete(Operation):
    """Re-create the foreign-key constraint of `model_name.name` with the ON DELETE clause its
    field's on_delete asks for (PostgreSQL only). Changes no model state."""

    reversible = True
    # The constraint's name is read from the database, so `sqlmigrate` cannot print the SQL.
    reduces_to_sql = False
    category = OperationCategory.ALTERATION

    def __init__(self, model_name: str, name: str):
        self.model_name = model_name
        self.name = name

    def deconstruct(self):
        return self.__class__.__name__, [self.model_name, self.name], {}

    def state_forwards(self, app_label, state):
        pass  # the field's on_delete is in the state already; only the database changes

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        field = model._meta.get_field(self.name)
        self._recreate(schema_editor, model, field, on_delete_sql(field))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        self._recreate(schema_editor, model, model._meta.get_field(self.name), "")

    def describe(self):
        return f"Give the foreign key {self.model_name}.{self.name} its on_delete in the database"

    @property
    def migration_name_fragment(self):
        return f"{self.model_name.lower()}_{self.name.lower()}_on_delete"

    def _recreate(self, schema_editor, model, field, on_delete: str) -> None:
        connection = schema_editor.connection
        if connection.vendor != "postgresql" or not self.allow_migrate_model(
            connection.alias, model
        ):
            return
        table, column = model._meta.db_table, field.column
        target = field.target_field
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, table)
        names = [
            name
            for name, constraint in constraints.items()
            if constraint["foreign_key"] and constraint["columns"] == [column]
        ]
        if len(names) != 1:
            raise ValueError(
                f"{model._meta.label}.{self.name}: expected one foreign-key constraint on "
                f"{table}.{column}, found {len(names)}"
            )
        quote = schema_editor.quote_name
        references = f"{quote(target.model._meta.db_table)} ({quote(target.column)})"
        # PostgreSQL cannot change a constraint's ON DELETE in place: it is dropped and added again
        # under the same name, in one statement, deferrable as Django makes its foreign keys.
        schema_editor.execute(
            f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(names[0])}, "
            f"ADD CONSTRAINT {quote(names[0])} FOREIGN KEY ({quote(column)}) "
            f"REFERENCES {references}{' ' + on_delete if on_delete else ''}"
            f"{connection.ops.deferrable_sql()}"
        )
