"""bulk_create through PostgreSQL's COPY, for imports of many rows.

    copy_insert(orders, key="reference")

Used by the ticket-agent import (subscriptions/imports.py) and the services it calls for many rows
at once (customers_create_many, audit_record_many). With bulk_create, a 100,000-row import took
about 1.8 times the CPU of COPY, most of it Python compiling each value into the INSERT: over the
import's target of a minute. Everything else in the project writes through the ORM.
"""

from collections.abc import Sequence

from django.db import connection, models

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
