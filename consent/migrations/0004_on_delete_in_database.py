# The foreign keys of this app whose on_delete the database can carry out (CASCADE, SET_NULL) get
# it as their ON DELETE on PostgreSQL: see concerthouse/migration_operations.py.

from django.db import migrations

from concerthouse.migration_operations import AlterForeignKeyOnDelete


class Migration(migrations.Migration):

    dependencies = [
        ('consent', '0003_admin_changelist_indexes'),
    ]

    operations = [
        AlterForeignKeyOnDelete('consent', 'customer'),
        AlterForeignKeyOnDelete('consentevent', 'customer'),
    ]
