from django.core.management.base import BaseCommand

from customers.services import customers_reencrypt_identifiers


class Command(BaseCommand):
    help = (
        "Re-encrypt every national ID and bank account under the newest key in FIELD_ENCRYPTION_KEYS. "
        "Run after putting a new key first; once it has finished, the old keys can be removed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, batch_size, **options):
        rows = customers_reencrypt_identifiers(batch_size=batch_size)
        self.stdout.write(
            self.style.SUCCESS(f"Re-encrypted {rows} customers under the newest key.")
        )
