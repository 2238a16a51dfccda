from django.db import migrations


def create_role_groups(apps, schema_editor):
    from concerthouse.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    """The staff roles of DESIGN.md as groups. Later apps' migrations call the same sync."""

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("concerthouse", "0001_initial"),
        ("customers", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
