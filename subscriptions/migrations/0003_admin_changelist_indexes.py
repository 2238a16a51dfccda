from django.conf import settings
from django.db import migrations, models

# Finance's search of the orders, the reference (`=reference`: UPPER(reference) = UPPER(term)) and
# part of the buyer's name (icontains): trigram indexes on UPPER(column), which pg_trgm serves for
# LIKE and for = alike. PostgreSQL only, built CONCURRENTLY, as customers 0003 does for people.
SEARCHED = ("reference", "buyer_name")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in SEARCHED:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS order_{column}_trgm_idx "
            f"ON subscriptions_order USING gin (UPPER({column}) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in SEARCHED:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS order_{column}_trgm_idx")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("customers", "0003_admin_search_indexes"),
        ("subscriptions", "0002_payment_financial_year"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The order changelist: its order (Meta.ordering) and year filter; its currency filter.
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["ordered_on", "id"], name="order_date_idx"),
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["currency", "ordered_on"], name="order_currency_idx"),
        ),
        # The subscription changelist's order (Meta.ordering, then the primary key).
        migrations.AddIndex(
            model_name="seasonsubscription",
            index=models.Index(fields=["booked_at", "id"], name="subscription_booked_idx"),
        ),
        # The Art. 14 notices' filter by source.
        migrations.AddIndex(
            model_name="sourcenotice",
            index=models.Index(fields=["source"], name="source_notice_source_idx"),
        ),
        migrations.RunPython(create, drop, elidable=False),
    ]
