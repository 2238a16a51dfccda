# The erasure journal moves from the retention app to the privacy core (concerthouse.privacy.journal).
# Its table stays where it is: only Django's record of which app owns the model changes.

import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("concerthouse", "0003_admin_changelist_indexes"),
        ("retention", "0004_rule_run_kept_past_their_time"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ErasureJournalEntry",
                    fields=[
                        (
                            "id",
                            models.UUIDField(
                                default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                            ),
                        ),
                        ("erased_at", models.DateTimeField(verbose_name="erased")),
                        ("person_hash", models.CharField(db_index=True, max_length=64)),
                        ("email_hash", models.CharField(db_index=True, max_length=64)),
                        (
                            "written_at",
                            models.DateTimeField(
                                blank=True, null=True, verbose_name="written to the journal file"
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "erasure journal entry",
                        "verbose_name_plural": "erasure journal",
                        "db_table": "retention_erasurejournalentry",
                        "ordering": ["erased_at"],
                        "indexes": [
                            models.Index(
                                condition=models.Q(("written_at__isnull", True)),
                                fields=["erased_at"],
                                name="journal_unwritten",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
