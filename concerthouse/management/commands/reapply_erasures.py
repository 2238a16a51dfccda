"""After a database backup has been restored: erase again everyone the erasure journal names."""

from pathlib import Path

from django.core.management.base import BaseCommand

from concerthouse.privacy import journal as erasure_journal


class Command(BaseCommand):
    help = (
        "Re-apply every erasure in the erasure journal (its file and its table) to the database, "
        "so that a restored backup does not bring an erased person back. Run it after every "
        "restore, before the site and the workers start again; running it twice does no harm."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--journal",
            type=Path,
            help="another copy of the journal file to read as well as ERASURE_JOURNAL_PATH "
            "(a copy from off-site storage, say)",
        )

    def handle(self, *args, journal: Path | None, **options):
        for path in {erasure_journal.journal_path(), journal} - {None}:
            if not path.exists():
                self.stderr.write(f"No journal file at {path}.")
        result = erasure_journal.reapply(path=journal)
        self.stdout.write(
            f"{result.entries} erasures in the journal ({result.restored_entries} missing from "
            f"the database, put back); {result.people} people erased again; {result.rows} rows "
            f"holding an erased address (privacy requests, signups) erased again."
        )
