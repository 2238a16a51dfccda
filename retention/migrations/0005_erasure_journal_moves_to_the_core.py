# The erasure journal now belongs to the privacy core (concerthouse 0004); its table stays.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("retention", "0004_rule_run_kept_past_their_time"),
        ("concerthouse", "0004_erasure_journal_entry"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ErasureJournalEntry")],
            database_operations=[],
        ),
    ]
