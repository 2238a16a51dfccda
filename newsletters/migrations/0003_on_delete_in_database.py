# The foreign keys of this app whose on_delete the database can carry out (CASCADE, SET_NULL) get
# it as their ON DELETE on PostgreSQL: see concerthouse/migration_operations.py.

from django.db import migrations

from concerthouse.migration_operations import AlterForeignKeyOnDelete


class Migration(migrations.Migration):

    dependencies = [
        ('newsletters', '0002_signup_intake'),
    ]

    operations = [
        AlterForeignKeyOnDelete('signup', 'customer'),
        AlterForeignKeyOnDelete('campaigntext', 'campaign'),
        AlterForeignKeyOnDelete('delivery', 'campaign'),
        AlterForeignKeyOnDelete('delivery', 'customer'),
        AlterForeignKeyOnDelete('audienceexportmember', 'export'),
        AlterForeignKeyOnDelete('audienceexportmember', 'customer'),
    ]
