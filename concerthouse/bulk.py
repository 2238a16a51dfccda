"""Inserting many rows where bulk_create is not enough: the one module for it.

    copy_insert(orders, key="reference")         # bulk_create through PostgreSQL's COPY
    insert_select(Delivery, audience, ...)       # INSERT ... SELECT, rows the database computes

copy_insert is used by the ticket-agent import (subscriptions/imports.py) and the services it calls
for many rows at once (customers_create_many, audit_record_many). With bulk_create, a 100,000-row
import took about 1.8 times the CPU of COPY, most of it Python compiling each value into the INSERT:
over the import's target of a minute. insert_select makes a campaign's delivery rows and a breach's
affected set, a row per person of a million, without bringing them into Python. Everything else
in the project writes through the ORM.
"""

from collections.abc import Sequence
from typing import Any

from django.db import connection, connections, models
from django.db.models import QuerySet

# Field types whose preparation for PostgreSQL (get_db_prep_save) hands back the Python value it is
# given, which psycopg then writes as it is: these are not prepared, which is much of the saving.
# Every other field (a JSON field, an encrypted one) is prepared by Django: compared by exact type,
# since a subclass may prepare its values.
AS_THEY_ARE = frozenset(
    {
        models.BooleanField,
        models.CharField,
        models.DateField,
        models.DateTimeField,
        models.DecimalField,
        models.EmailField,
        models.ForeignKey,
        models.IntegerField,
        models.OneToOneField,
        models.PositiveIntegerField,
        models.PositiveSmallIntegerField,
        models.SlugField,
        models.TextField,
        models.UUIDField,
    }
)


def copy_insert(objs: Sequence[models.Model], *, key: str = "") -> None:
    """Insert `objs`, new instances of one model, as `bulk_create(objs)` would store them (each
    field's pre_save, such as auto_now; no save(), no signals), with one COPY on PostgreSQL and
    bulk_create elsewhere. COPY tells no primary keys: with `key`, a unique field set on every
    instance (a uuid4 default, a reference), the instances get theirs from one look-up by it."""
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor == "postgresql":
        _copy(model, objs)
    else:
        model._default_manager.bulk_create(objs)
    if key and any(obj.pk is None for obj in objs):
        values = [getattr(obj, key) for obj in objs]
        pks = dict(model._default_manager.filter(**{f"{key}__in": values}).values_list(key, "pk"))
        for obj, value in zip(objs, values, strict=True):
            obj.pk = pks[value]


def _copy(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    prepared = [(i, field) for i, field in enumerate(fields) if type(field) not in AS_THEY_ARE]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    statement = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    # Errors as Django's (a unique index refusing a row is an IntegrityError), as bulk_create's.
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.copy(statement) as copy,
    ):
        for obj in objs:
            row = [field.pre_save(obj, True) for field in fields]
            for i, field in prepared:
                row[i] = field.get_db_prep_save(row[i], connection)
            copy.write_row(row)


def insert_select(
    model: type[models.Model],
    select: QuerySet,
    *,
    columns: list[str],
    values: dict[str, Any],
    ignore_conflicts: bool = False,
) -> int:
    """INSERT INTO the model's table the rows of `select` (a values_list queryset whose columns
    fill the fields `columns`, in order), with the same `values` for the fields named there and
    each other field's default: one statement for any number of rows, computed by the database.
    With `ignore_conflicts`, rows a unique constraint refuses are skipped, as bulk_create's option
    does. Returns the number of rows inserted.

    Django's ORM has no INSERT ... SELECT; the SELECT here is the ORM's own, compiled by it, and
    only wrapped. For set-wise work that must not bring a million rows into Python."""
    connection = connections[select.db]
    meta, quote = model._meta, connection.ops.quote_name
    selected = [meta.get_field(name) for name in columns]
    constant = [meta.get_field(name) for name in values]
    defaults = [
        f
        for f in meta.concrete_fields
        if not f.primary_key and f not in selected and f not in constant and f.has_default()
    ]
    params = [f.get_db_prep_save(values[f.name], connection) for f in constant]
    params += [f.get_db_prep_save(f.get_default(), connection) for f in defaults]
    select_sql, select_params = select.query.sql_with_params()
    names = ", ".join(quote(f.column) for f in (*selected, *constant, *defaults))
    given = ", ".join(["%s"] * (len(constant) + len(defaults)))
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({names}) "  # noqa: S608 (names from the model)
        f"SELECT chosen.*, {given} FROM ({select_sql}) chosen"
    )
    if ignore_conflicts:
        # WHERE true: SQLite needs it to tell the upsert clause from a join's ON.
        sql += " WHERE true ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *select_params])
        return cursor.rowcount
