from django.db import migrations

# The ledger is append-only in the database itself: events are never rewritten. Deleting them stays
# possible, because erasure and the retention purge remove a person's events with the person.
# PostgreSQL only, as for the audit log.
APPEND_ONLY = """
CREATE FUNCTION consent_consentevent_no_update() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the consent ledger is append-only: event % cannot be changed', OLD.id;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER consent_consentevent_no_update
BEFORE UPDATE ON consent_consentevent
FOR EACH ROW EXECUTE FUNCTION consent_consentevent_no_update();
"""
DROP_APPEND_ONLY = """
DROP TRIGGER IF EXISTS consent_consentevent_no_update ON consent_consentevent;
DROP FUNCTION IF EXISTS consent_consentevent_no_update();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_APPEND_ONLY, params=None)


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
