"""An email that a row owes, sent once: claim the row, send, release the claim on failure."""

from collections.abc import Callable

from django.core.mail import EmailMessage
from django.db import models, transaction
from django.utils import timezone


def send_owed(
    owed: models.QuerySet, *, sent_field: str, message: Callable[[models.Model], EmailMessage]
) -> bool:
    """Send `message(row)` for the row of `owed`, if there still is one; whether it was sent.

    `owed` is a queryset of at most one row, filtered to what still owes the email (typically its
    primary key and `<sent_field>__isnull=True`): a second task for the same row, or the sweep,
    then finds nothing and sends nothing. The row is locked and `sent_field` set to now (the
    claim) in a transaction that commits before the slow SMTP call, so that no lock is held while
    the mail server answers. If building or sending the message fails, the claim is cleared
    (only if it is still this one) for the sweep to try again, and the error is raised.
    """
    model = owed.model
    with transaction.atomic():
        # Only the row itself is locked, not the rows `owed` joins (select_related).
        row = owed.select_for_update(of=("self",)).first()
        if row is None:
            return False
        claimed_at = timezone.now()
        model._default_manager.filter(pk=row.pk).update(**{sent_field: claimed_at})
        setattr(row, sent_field, claimed_at)
    try:
        message(row).send()
    except Exception:
        model._default_manager.filter(pk=row.pk, **{sent_field: claimed_at}).update(
            **{sent_field: None}
        )
        raise
    return True
