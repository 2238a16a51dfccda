from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from newsletters import inbound


class Command(BaseCommand):
    help = (
        "Read the inbound mailbox (INBOUND_MAIL_URL) once: bounces, complaints and unsubscribe "
        "mails are acted on once each and moved to a folder of their outcome; anything else is "
        "moved to staff's folder. Beat runs the same every minute; running both at once is safe."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", help="imaps://user:password@host:port/mailbox (default: the setting)"
        )

    def handle(self, *args, url=None, **options):
        if not (url or settings.INBOUND_MAIL_URL):
            raise CommandError("Set INBOUND_MAIL_URL (imaps://user:password@host:993/INBOX).")
        counts = inbound.mailbox_read(url=url)
        if not counts:
            self.stdout.write("The mailbox is empty.")
        for outcome, label in inbound.Outcome.choices:
            if counts.get(outcome):
                self.stdout.write(f"{label}: {counts[outcome]}")
