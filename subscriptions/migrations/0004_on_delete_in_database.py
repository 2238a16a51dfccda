# The foreign keys of this app whose on_delete the database can carry out (CASCADE, SET_NULL) get
# it as their ON DELETE on PostgreSQL: see concerthouse/migration_operations.py.

from django.db import migrations

from concerthouse.migration_operations import AlterForeignKeyOnDelete


class Migration(migrations.Migration):

    dependencies = [
        ('subscriptions', '0003_admin_changelist_indexes'),
    ]

    operations = [
        AlterForeignKeyOnDelete('order', 'customer'),
        AlterForeignKeyOnDelete('payment', 'order'),
        AlterForeignKeyOnDelete('seasonsubscription', 'customer'),
        AlterForeignKeyOnDelete('seasonsubscription', 'order'),
        AlterForeignKeyOnDelete('seatingneed', 'customer'),
        AlterForeignKeyOnDelete('seatingneed', 'consent_event'),
        AlterForeignKeyOnDelete('preconcertmail', 'concert'),
        AlterForeignKeyOnDelete('preconcertmail', 'customer'),
        AlterForeignKeyOnDelete('importrowerror', 'run'),
        AlterForeignKeyOnDelete('sourcenotice', 'customer'),
        AlterForeignKeyOnDelete('sourcenotice', 'run'),
    ]
