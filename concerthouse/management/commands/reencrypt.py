from django.core.management.base import BaseCommand

from concerthouse.audit import audit_record
from concerthouse.encryption import reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted value (national IDs, bank accounts, seating needs) under the "
        "newest key in FIELD_ENCRYPTION_KEYS. Run after putting a new key first; once it has "
        "finished, the old keys can be removed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, batch_size, **options):
        rewritten = reencrypt(batch_size=batch_size)
        if any(rewritten.values()):
            audit_record(action="encryption.reencrypted", detail={"rows": rewritten})
        counts = ", ".join(f"{label} {rows}" for label, rows in rewritten.items())
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-encrypted {sum(rewritten.values())} rows under the newest key ({counts})."
            )
        )
