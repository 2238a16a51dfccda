"""After a database backup has been restored: erase again everyone the erasure journal names."""

from pathlib import Path

from django.core.management.base import BaseCommand


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
            help="the journal file (default: ERASURE_JOURNAL_PATH)",
        )

    def handle(self, *args, journal: Path | None, **options):
        from retention import journal as erasure_journal

        path = journal or erasure_journal.journal_path()
        if not path.exists():
            self.stderr.write(
                f"No journal file at {path}: only the database's own entries are re-applied."
            )
        result = erasure_journal.reapply(path=path)
        self.stdout.write(
            f"{result.entries} erasures in the journal ({result.restored_entries} missing from "
            f"the database, put back); {result.people} people erased again; {result.requests} "
            f"privacy requests anonymised again."
        )
