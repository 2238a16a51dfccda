from django.db import migrations

# Append-only in the database itself, not only in the admin: a bug or a manual SQL session cannot
# rewrite or remove history. The one change allowed is erasure's redaction, which removes the link
# to the person (target_id to NULL) and stamps redacted_at. TRUNCATE, which only an operator (or the
# test runner's flush) issues, is not a row-level operation and stays possible.
# PostgreSQL only: SQLite is the local default, where the test runner's flush deletes rows.
CREATE = """
CREATE FUNCTION concerthouse_auditentry_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit entries are append-only: % cannot be deleted', OLD.public_id;
    END IF;
    IF NEW.public_id IS DISTINCT FROM OLD.public_id
       OR NEW.at IS DISTINCT FROM OLD.at
       OR NEW.actor_id IS DISTINCT FROM OLD.actor_id
       OR NEW.action IS DISTINCT FROM OLD.action
       OR NEW.target_type IS DISTINCT FROM OLD.target_type
       OR NEW.purpose IS DISTINCT FROM OLD.purpose
       OR NEW.detail IS DISTINCT FROM OLD.detail
       OR (NEW.target_id IS DISTINCT FROM OLD.target_id AND NEW.target_id IS NOT NULL)
       OR (NEW.redacted_at IS DISTINCT FROM OLD.redacted_at AND NEW.target_id IS NOT NULL)
    THEN
        RAISE EXCEPTION 'audit entries are append-only: only redaction may change %', OLD.public_id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER concerthouse_auditentry_append_only
BEFORE UPDATE OR DELETE ON concerthouse_auditentry
FOR EACH ROW EXECUTE FUNCTION concerthouse_auditentry_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS concerthouse_auditentry_append_only ON concerthouse_auditentry;
DROP FUNCTION IF EXISTS concerthouse_auditentry_append_only();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("concerthouse", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
