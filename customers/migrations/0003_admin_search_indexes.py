from django.conf import settings
from django.db import migrations, models

# The admin's search (`icontains`) compiles to UPPER(col::text) LIKE UPPER('%term%') on PostgreSQL:
# a plain trigram index on the column is not used for it, one on UPPER(col) is (DESIGN.md, Known
# traps: a 1M-row email search from 260 ms to about 1 ms). pg_trgm also serves `=` on the same
# expression (PostgreSQL 14+), which the consent and delivery logs' exact email search uses, and
# the counter's name prefixes (istartswith). PostgreSQL only: SQLite, the embedded default, has
# neither pg_trgm nor GIN, and searches its small tables by scanning. Not in Customer.Meta, since
# its indexes must exist on both databases.
#
# CONCURRENTLY, so that building them on a live register of a million people does not block
# signups for the seconds each takes; hence a migration outside a transaction.
SEARCHED = ("email", "first_name", "last_name", "postal_code")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in SEARCHED:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS customer_{column}_trgm_idx "
            f"ON customers_customer USING gin (UPPER({column}) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in SEARCHED:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS customer_{column}_trgm_idx")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("customers", "0002_staff_roles"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The changelist's order (Meta.ordering) and the counter's list of names.
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(
                fields=["last_name", "first_name", "id"], name="customer_name_order_idx"
            ),
        ),
        # A whole phone number, from the admin search or the counter.
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(fields=["phone"], name="customer_phone_idx"),
        ),
        # The "rights exercised" filter.
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(
                condition=models.Q(("restricted_at__isnull", False)),
                fields=["restricted_at"],
                name="customer_restricted_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(
                condition=models.Q(("marketing_objection_at__isnull", False)),
                fields=["marketing_objection_at"],
                name="customer_objecting_idx",
            ),
        ),
        migrations.RunPython(create, drop, elidable=False),
    ]
