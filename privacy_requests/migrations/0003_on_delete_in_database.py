# The foreign keys of this app whose on_delete the database can carry out (CASCADE, SET_NULL) get
# it as their ON DELETE on PostgreSQL: see concerthouse/migration_operations.py.

from django.db import migrations

from concerthouse.migration_operations import AlterForeignKeyOnDelete


class Migration(migrations.Migration):

    dependencies = [
        ('privacy_requests', '0002_verification_sent'),
    ]

    operations = [
        AlterForeignKeyOnDelete('privacyrequest', 'customer'),
        AlterForeignKeyOnDelete('requestevent', 'request'),
        AlterForeignKeyOnDelete('accesspackage', 'request'),
        AlterForeignKeyOnDelete('recipientnotice', 'request'),
    ]
