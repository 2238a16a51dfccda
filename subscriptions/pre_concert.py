"""The pre-concert information email (Harmonien's policy: "en epost med nyttig informasjon om
konserten du har billetter til et par dager i forkant").

Sent on the contract, not on marketing consent, to every subscriber of the concert's series whose
processing is not restricted; once per person and concert, however often the task runs: the rows
are created with ON CONFLICT DO NOTHING and a row is claimed before its message goes out.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core import mail
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from customers.models import Customer

from . import emails
from .models import Concert, PreConcertMail, SeasonSubscription

logger = logging.getLogger(__name__)


def concerts_due(*, now=None):
    """Concerts that start within the next PRE_CONCERT_MAIL_DAYS days and have not started."""
    now = now or timezone.now()
    return Concert.objects.filter(
        starts_at__gt=now, starts_at__lte=now + timedelta(days=settings.PRE_CONCERT_MAIL_DAYS)
    )


def _subscribers(concert: Concert):
    """Who the email goes to now: active subscribers of the series, not restricted (Art. 18), whose
    address takes mail."""
    return (
        Customer.objects.processable()
        .deliverable()
        .filter(
            season_subscriptions__series_id=concert.series_id,
            season_subscriptions__status=SeasonSubscription.Status.ACTIVE,
        )
    )


def pre_concert_mail_prepare(*, concert: Concert) -> int:
    """Owe one email to each subscriber that has none yet; a late booking gets its row on the
    next run. Returns how many rows were added."""
    before = PreConcertMail.objects.filter(concert=concert).count()
    people = _subscribers(concert).values_list("pk", flat=True).distinct().order_by("pk")
    batch = []
    for pk in people.iterator(chunk_size=2000):
        batch.append(PreConcertMail(concert=concert, customer_id=pk))
        if len(batch) == 2000:
            PreConcertMail.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    PreConcertMail.objects.bulk_create(batch, ignore_conflicts=True)
    return PreConcertMail.objects.filter(concert=concert).count() - before


def _claim(concert: Concert, size: int) -> list[tuple[PreConcertMail, int]]:
    """Claim queued rows for this worker, skipping anyone restricted or no longer subscribed up to
    this moment; with each row, the person's seats in the series."""
    with transaction.atomic():
        rows = list(
            PreConcertMail.objects.filter(concert=concert, status=PreConcertMail.Status.QUEUED)
            .order_by("pk")
            .select_for_update(skip_locked=True)[:size]
        )
        if not rows:
            return []
        seats = dict(
            _subscribers(concert)
            .filter(pk__in=[row.customer_id for row in rows])
            .values_list("pk")
            .annotate(seats=Sum("season_subscriptions__seats"))
        )
        people = Customer.objects.in_bulk(list(seats))
        claimed, skipped = [], []
        for row in rows:
            if row.customer_id in people:
                row.customer = people[row.customer_id]
                claimed.append((row, seats[row.customer_id]))
            else:
                skipped.append(row.pk)
        PreConcertMail.objects.filter(pk__in=skipped).update(status=PreConcertMail.Status.SKIPPED)
        PreConcertMail.objects.filter(pk__in=[row.pk for row, _seats in claimed]).update(
            status=PreConcertMail.Status.SENDING
        )
    return claimed


def pre_concert_mail_send(*, concert_id: int, batch_size: int = 200) -> int:
    """Send the queued emails of one concert, a batch per SMTP connection; returns how many were
    sent. A row once claimed is never sent again, even if the worker dies: a missed practical
    email is better than two."""
    concert = Concert.objects.select_related("series").get(pk=concert_id)
    sent = 0
    while claimed := _claim(concert, batch_size):
        done, failed = [], []
        with mail.get_connection() as connection:
            for row, seats in claimed:
                message = emails.pre_concert_information(concert, row.customer, seats)
                message.connection = connection
                try:
                    message.send()
                except Exception:
                    logger.exception("pre-concert email %s failed", row.pk)
                    failed.append(row.pk)
                else:
                    done.append(row.pk)
        PreConcertMail.objects.filter(pk__in=done).update(
            status=PreConcertMail.Status.SENT, sent_at=timezone.now()
        )
        PreConcertMail.objects.filter(pk__in=failed).update(status=PreConcertMail.Status.FAILED)
        sent += len(done)
    return sent
