"""Campaigns: the audience, the delivery rows, the batched send, and opens.

Sending is two steps. First the delivery rows, one set-based INSERT ... SELECT that the unique
(campaign, person) constraint makes safe to repeat. Then batches: each batch claims its queued rows
(SKIP LOCKED, so concurrent workers never share a row), re-checks the audience at that moment, sends
over one SMTP connection, and records the outcome. A row is claimed before its message goes out and
never returned to the queue once it may have gone, so a retried, duplicated or crashed task can
delay a message but never send it twice.
"""

import logging
import smtplib
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Count, F
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext_lazy as _

from concerthouse import return_path
from concerthouse.audit import audit_record
from concerthouse.bulk import insert_select
from concerthouse.privacy.map import RecipientKind
from concerthouse.privacy.recipients import require_recipient
from concerthouse.queue import enqueue_on_commit
from consent.models import Consent, Purpose
from consent.selectors import people_consenting
from customers.models import Customer

from . import emails, links
from .models import Campaign, CampaignText, Delivery, Suppression
from .services import suppression_hash

logger = logging.getLogger(__name__)

# A claimed row whose worker has been gone longer than any task may run was perhaps sent: it is
# marked failed, never sent again.
CLAIM_ABANDONED_AFTER = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT * 2)


def campaign_audience(campaign: Campaign):
    """Who may receive this campaign now: confirmed consent to its list, neither restricted nor
    objecting, an address that takes mail. The suppression list is checked per batch, where the
    addresses are at hand."""
    return people_consenting(purpose=campaign.purpose_id).deliverable()


# --- Staff actions --------------------------------------------------------------------------------
@transaction.atomic
def campaign_schedule(*, campaign: Campaign, actor, send_at=None) -> Campaign:
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED):
        raise ValidationError(_("Only a draft can be scheduled."))
    # The people mailed are told who sends the house's email (the register, in the notice).
    require_recipient(RecipientKind.MAIL)
    languages = set(campaign.texts.values_list("language", flat=True))
    if settings.LANGUAGE_CODE not in languages:
        raise ValidationError(
            _("Write the subject and body in the house's language first; it is the fallback.")
        )
    campaign.scheduled_at = send_at or timezone.now()
    campaign.status = Campaign.Status.SCHEDULED
    campaign.save(update_fields=["scheduled_at", "status", "updated_at"])
    audit_record(action="campaign.scheduled", actor=actor, target=campaign)
    if campaign.scheduled_at <= timezone.now():
        from .tasks import send_campaign_task

        enqueue_on_commit(send_campaign_task, campaign.pk)
    return campaign


@transaction.atomic
def campaign_cancel(*, campaign: Campaign, actor) -> Campaign:
    """Stops a scheduled or running campaign; rows not yet claimed are never sent."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status in (Campaign.Status.SENT, Campaign.Status.CANCELLED):
        return campaign
    campaign.status = Campaign.Status.CANCELLED
    campaign.save(update_fields=["status", "updated_at"])
    campaign.deliveries.filter(status=Delivery.Status.QUEUED).update(status=Delivery.Status.SKIPPED)
    audit_record(action="campaign.cancelled", actor=actor, target=campaign)
    return campaign


def campaign_test_send(*, campaign: Campaign, actor) -> list[str]:
    """Send the campaign, in each language it is written in, to the member of staff's own address;
    returns the languages sent. Nothing is recorded as a delivery, and nobody else gets anything."""
    if not actor.email:
        raise ValidationError(_("Your account has no email address to send the test to."))
    renderer = CampaignRenderer(Campaign.objects.select_related("purpose").get(pk=campaign.pk))
    languages = sorted(renderer.texts)
    if not languages:
        raise ValidationError(_("Write a subject and body first."))
    messages = [renderer.test_message(language=language, to=actor.email) for language in languages]
    with get_connection() as smtp:
        smtp.send_messages(messages)
    audit_record(
        action="campaign.test_sent", actor=actor, target=campaign, detail={"languages": languages}
    )
    return languages


# --- Sending --------------------------------------------------------------------------------------
def campaign_prepare_deliveries(campaign: Campaign) -> int:
    """Create a queued delivery row for everyone in the audience, in one statement; returns the
    number of rows created. Repeating it creates nothing (the unique constraint, ON CONFLICT)."""
    audience = campaign_audience(campaign).order_by().values_list("pk")
    with transaction.atomic():
        created = insert_select(
            Delivery,
            audience,
            columns=["customer"],
            values={"campaign": campaign.pk, "status": Delivery.Status.QUEUED},
            ignore_conflicts=True,
        )
        Campaign.objects.filter(pk=campaign.pk, audience_prepared_at__isnull=True).update(
            audience_prepared_at=timezone.now()
        )
    return created


def _claim_batch(campaign: Campaign, size: int) -> list[Delivery]:
    """Claim up to `size` queued rows for this worker; rows no longer in the audience are skipped
    here, in the same transaction, so a withdrawal up to this moment stops the message."""
    with transaction.atomic():
        rows = list(
            Delivery.objects.filter(campaign=campaign, status=Delivery.Status.QUEUED)
            .order_by("pk")
            .select_for_update(skip_locked=True)[:size]
        )
        if not rows:
            return []
        people = {
            person.pk: person
            for person in campaign_audience(campaign)
            .filter(pk__in=[row.customer_id for row in rows])
            .only("pk", "public_id", "email", "first_name", "preferred_language")
        }
        suppressed = set(
            Suppression.objects.filter(
                email_hash__in=[suppression_hash(p.email) for p in people.values()]
            ).values_list("email_hash", flat=True)
        )
        tracked = set(
            Consent.objects.filter(
                customer__in=list(people),
                purpose__kind=Purpose.Kind.OPEN_TRACKING,
                state=Consent.State.CONFIRMED,
            ).values_list("customer_id", flat=True)
        )
        claimed, skipped, now = [], [], timezone.now()
        for row in rows:
            person = people.get(row.customer_id)
            if person is None or suppression_hash(person.email) in suppressed:
                skipped.append(row.pk)
                continue
            row.customer, row.tracked = person, row.customer_id in tracked
            claimed.append(row)
        Delivery.objects.filter(pk__in=skipped).update(status=Delivery.Status.SKIPPED)
        for tracked_flag in (True, False):
            Delivery.objects.filter(
                pk__in=[row.pk for row in claimed if row.tracked is tracked_flag]
            ).update(status=Delivery.Status.SENDING, claimed_at=now, tracked=tracked_flag)
    return claimed


class CampaignRenderer:
    """Builds each person's message: their language, their links, a pixel only with tracking
    consent, a return path of the delivery's own.

    The templates are rendered once per language (and with or without the pixel), with markers
    where the person's links go; each message then only fills in its links. Rendering two templates
    per person was a third of the cost of sending.
    """

    _MARKERS = {
        "preferences_url": "\x00P\x00",
        "unsubscribe_url": "\x00U\x00",
        "pixel_url": "\x00O\x00",
    }

    def __init__(self, campaign: Campaign):
        self.campaign = campaign
        self.texts = {text.language: text for text in campaign.texts.all()}
        self.purpose = campaign.purpose
        self.sender = emails.sender()
        self.list_id = (
            f"{self.purpose.code} <{self.purpose.code}.{settings.NEWSLETTER_LIST_ID_DOMAIN}>"
        )
        # Gmail's form (campaign:list:type:sender): complaint rates per campaign in its Postmaster
        # Tools, and a value the complaint reports of other providers carry back.
        self.feedback_id = (
            f"{campaign.pk}:{self.purpose.code}:newsletter:{settings.EMAIL_FEEDBACK_SENDER}"
        )
        self._rendered: dict[tuple[str, bool], tuple[str, str]] = {}

    def text_for(self, language: str) -> CampaignText:
        return self.texts.get(language) or self.texts[settings.LANGUAGE_CODE]

    def _templates(self, text: CampaignText, tracked: bool) -> tuple[str, str]:
        key = (text.language, tracked)
        if key not in self._rendered:
            context = {
                "house_name": settings.HOUSE_NAME,
                "colour_primary": settings.HOUSE_COLOUR_PRIMARY,
                "colour_background": settings.HOUSE_COLOUR_BACKGROUND,
                "subject": text.subject,
                "paragraphs": [p.strip() for p in text.body.split("\n\n") if p.strip()],
                "body": text.body,
                **self._MARKERS,
            }
            if not tracked:
                context["pixel_url"] = None
            with translation.override(text.language):
                self._rendered[key] = (
                    render_to_string("newsletters/email/campaign.txt", context),
                    render_to_string("newsletters/email/campaign.html", context),
                )
        return self._rendered[key]

    def render(self, text: CampaignText, urls: dict[str, str], tracked: bool) -> tuple[str, str]:
        """The plain text and the HTML of `text` with these links filled in."""
        plain, html = self._templates(text, tracked)
        for name, marker in self._MARKERS.items():
            plain = plain.replace(marker, urls.get(name, ""))
            html = html.replace(marker, escape(urls.get(name, "")))
        return plain, html

    def message(self, delivery: Delivery) -> EmailMultiAlternatives:
        person = delivery.customer
        text = self.text_for(person.preferred_language)
        urls = {
            "preferences_url": links.preferences_url(person),
            "unsubscribe_url": links.unsubscribe_url(person, self.purpose),
            "pixel_url": links.open_pixel_url(delivery.pk) if delivery.tracked else "",
        }
        plain, html = self.render(text, urls, delivery.tracked)
        message = EmailMultiAlternatives(
            subject=text.subject,
            body=plain,
            # The envelope sender names this delivery (VERP): its bounce or complaint comes back
            # to an address that says which message it is about. The From header stays the house's.
            from_email=return_path.for_delivery(delivery.pk),
            to=[person.email],
            headers={
                "From": self.sender,
                # RFC 2369 and RFC 8058: one-click unsubscribe that mail clients show as a button,
                # and a mailto whose subject carries a signed token for the mailbox reader.
                "List-Unsubscribe": (
                    f"<{urls['unsubscribe_url']}>, "
                    f"<{links.unsubscribe_mailto(person, self.purpose)}>"
                ),
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "List-Id": self.list_id,
                "Feedback-ID": self.feedback_id,
            },
        )
        message.attach_alternative(html, "text/html")
        return message

    def test_message(self, *, language: str, to: str) -> EmailMultiAlternatives:
        """The message of one language as a recipient gets it, to a member of staff's address.

        Its links are real pages, made for nobody: the unsubscribe page answers and changes
        nothing, the preference link says it is not valid. No pixel, no return path of a delivery.
        """
        text = self.text_for(language)
        nobody = Customer(public_id=uuid.uuid4(), preferred_language=text.language)
        urls = {
            "preferences_url": links.preferences_url(nobody),
            "unsubscribe_url": links.unsubscribe_url(nobody, self.purpose),
        }
        plain, html = self.render(text, urls, tracked=False)
        with translation.override(text.language):
            subject = _("[Test] %(subject)s") % {"subject": text.subject}
        message = EmailMultiAlternatives(
            subject=str(subject),
            body=plain,
            from_email=self.sender,
            to=[to],
            headers={
                "List-Unsubscribe": (
                    f"<{urls['unsubscribe_url']}>, <{links.unsubscribe_mailto(nobody, self.purpose)}>"
                ),
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "List-Id": self.list_id,
            },
        )
        message.attach_alternative(html, "text/html")
        return message

    def preview(self, language: str) -> dict:
        """What a recipient reading `language` gets: the subject, the text and the HTML (its links
        inert), and which language's text that is (the house's, where none was written)."""
        text = self.text_for(language)
        urls = {"preferences_url": "#preferences", "unsubscribe_url": "#unsubscribe"}
        plain, html = self.render(text, urls, tracked=False)
        return {"text": text, "subject": text.subject, "plain": plain, "html": html}


# Errors that mean this one address was refused, not that the connection or server is gone.
_RECIPIENT_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused)


def _send_batch(rows: list[Delivery], renderer: CampaignRenderer) -> None:
    sent, failed, in_flight = [], [], None
    smtp = get_connection(fail_silently=False)
    try:
        smtp.open()
        for row in rows:
            in_flight = row.pk
            try:
                smtp.send_messages([renderer.message(row)])
            except _RECIPIENT_ERRORS:
                failed.append(row.pk)
            else:
                sent.append(row.pk)
            in_flight = None
    except (smtplib.SMTPException, OSError):
        # The server went away. Rows not yet tried go back to the queue for the retry; the one in
        # flight may have been accepted, so it is marked failed rather than risk a second copy.
        if in_flight is not None:
            failed.append(in_flight)
        done = set(sent) | set(failed)
        Delivery.objects.filter(pk__in=[row.pk for row in rows if row.pk not in done]).update(
            status=Delivery.Status.QUEUED, claimed_at=None, tracked=False
        )
        raise
    finally:
        Delivery.objects.filter(pk__in=sent).update(
            status=Delivery.Status.SENT, sent_at=timezone.now()
        )
        Delivery.objects.filter(pk__in=failed).update(status=Delivery.Status.FAILED)
        smtp.close()


def campaign_prepare(*, campaign_id: int) -> bool:
    """Start a due campaign: mark it sending and create its delivery rows once. False when the
    campaign is not (or no longer) to be sent."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if campaign is None or campaign.status not in (
            Campaign.Status.SCHEDULED,
            Campaign.Status.SENDING,
        ):
            return False
        if campaign.scheduled_at is None or campaign.scheduled_at > timezone.now():
            return False
        if campaign.status == Campaign.Status.SCHEDULED:
            campaign.status = Campaign.Status.SENDING
            campaign.save(update_fields=["status", "updated_at"])
        if campaign.audience_prepared_at is None:
            # Under the campaign's lock: two starters cannot both select the audience.
            created = campaign_prepare_deliveries(campaign)
            audit_record(
                action="campaign.audience_selected", target=campaign, detail={"rows": created}
            )
    return True


def campaign_send(*, campaign_id: int, batch_size: int | None = None) -> int:
    """Send a due campaign to its audience; returns how many messages this call sent.

    Safe to run twice, at once or one after the other, and to resume after a crash.
    """
    if not campaign_prepare(campaign_id=campaign_id):
        return 0
    batch_size = batch_size or settings.NEWSLETTER_BATCH_SIZE
    campaign = Campaign.objects.select_related("purpose").get(pk=campaign_id)
    renderer = CampaignRenderer(campaign)
    total = 0
    while True:
        if not Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENDING).exists():
            break  # cancelled meanwhile
        rows = _claim_batch(campaign, batch_size)
        if not rows:
            break
        _send_batch(rows, renderer)
        total += len(rows)
    _finish_if_done(campaign)
    return total


def _finish_if_done(campaign: Campaign) -> None:
    abandoned = campaign.deliveries.filter(
        status=Delivery.Status.SENDING, claimed_at__lt=timezone.now() - CLAIM_ABANDONED_AFTER
    ).update(status=Delivery.Status.FAILED)
    if abandoned:
        logger.warning("campaign %s: %d claimed rows abandoned by a worker", campaign.pk, abandoned)
    unfinished = campaign.deliveries.filter(
        status__in=[Delivery.Status.QUEUED, Delivery.Status.SENDING]
    ).exists()
    if not unfinished:
        updated = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENDING).update(
            status=Campaign.Status.SENT, finished_at=timezone.now()
        )
        if updated:
            audit_record(
                action="campaign.sent", target=campaign, detail=campaign_statistics(campaign)
            )


def campaigns_due():
    return Campaign.objects.filter(
        status__in=[Campaign.Status.SCHEDULED, Campaign.Status.SENDING],
        scheduled_at__lte=timezone.now(),
    )


def campaign_statistics(campaign: Campaign) -> dict[str, int]:
    counts = dict(
        campaign.deliveries.values_list("status").annotate(n=Count("pk")).order_by("status")
    )
    counts["opened"] = campaign.deliveries.filter(first_opened_at__isnull=False).count()
    return {status: counts.get(status, 0) for status in [*Delivery.Status.values, "opened"]}


# --- Opens ----------------------------------------------------------------------------------------
def delivery_record_open(*, delivery_id: int) -> bool:
    """Count an open (first date and count) only for a message that carried a pixel, and only
    while the person's open-tracking consent still stands and they are not restricted."""
    still_consenting = Customer.objects.processable().filter(
        consents__purpose__kind=Purpose.Kind.OPEN_TRACKING,
        consents__state=Consent.State.CONFIRMED,
    )
    now = timezone.now()
    updated = Delivery.objects.filter(
        pk=delivery_id, tracked=True, customer__in=still_consenting
    ).update(first_opened_at=Coalesce("first_opened_at", now), open_count=F("open_count") + 1)
    return bool(updated)
