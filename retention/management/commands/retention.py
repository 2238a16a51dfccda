"""Apply the retention rules now, or with --dry-run only say what they would purge."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from retention import engine
from retention.models import Run


class Command(BaseCommand):
    help = (
        "Apply every retention rule of the personal-data map now (resuming an interrupted run "
        "first). With --dry-run, print what each rule would purge now and within the next days, "
        "and change nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="print the forecast only")
        parser.add_argument(
            "--days", type=int, default=30, help="the forecast's horizon in days (default 30)"
        )
        parser.add_argument(
            "--as-of",
            help="apply or forecast the rules as of this ISO date-time instead of now",
        )

    def handle(self, *args, dry_run, days, as_of, **options):
        now = _parse(as_of) if as_of else timezone.now()
        if dry_run:
            self._forecast(now, days)
            return
        if now > timezone.now():
            # Applied as of a later day, the rules would delete rows before their time, records
            # a statute still holds among them.
            raise CommandError("--as-of may lie in the future only with --dry-run.")
        while engine.purge(trigger=Run.Trigger.COMMAND, resume_only=True) is not None:
            self.stdout.write("Resumed and finished an interrupted run.")
        run = engine.purge(trigger=Run.Trigger.COMMAND, now=now)
        if run is None:
            self.stderr.write("Another retention run holds the lock; nothing done.")
            return
        self.stdout.write(
            f"Retention run {run.pk} as of {run.as_of:%Y-%m-%d %H:%M %Z}: {run.status}"
        )
        self.stdout.write(
            f"{'rule':36} {'rows':>10} {'related':>10} {'skipped':>8} {'batches':>8} {'seconds':>8}"
        )
        for rule in run.rules.order_by("rule"):
            self.stdout.write(
                f"{rule.rule:36} {rule.rows:>10} {rule.related_rows:>10} {rule.skipped:>8} "
                f"{rule.batches:>8} {rule.seconds:>8.1f}{'  ' + rule.error if rule.error else ''}"
            )

    def _forecast(self, now, days):
        self.stdout.write(
            f"Dry run: nothing is changed. Forecast as of {now:%Y-%m-%d %H:%M %Z}, {days} days."
        )
        self.stdout.write(f"{'rule':36} {'due now':>10} {f'within {days} days':>16}")
        for line in engine.forecast(now=now, days=days):
            self.stdout.write(f"{line.rule.code:36} {line.due:>10} {line.within:>16}")


def _parse(value):
    moment = parse_datetime(value)
    if moment is None:
        raise CommandError(f"--as-of: not an ISO date-time: {value!r}")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)
