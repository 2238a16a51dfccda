import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from concerthouse.models import TimeStampedModel
from consent.models import EMAIL_KINDS


class Signup(models.Model):
    """A newsletter signup waiting for its confirmation link to be clicked (double opt-in).

    The database, not the task queue, knows which confirmation emails are owed: a signup whose
    `confirmation_sent_at` is older than its `confirmation_requested_at` (or empty) still needs one,
    and a periodic sweep sends what a lost task or a broker that was down never did.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="newsletter_signups",
        verbose_name=_("customer"),
    )
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    # Names typed on the form are applied only once the address's owner confirms: until then anyone
    # could have typed them, and they must not overwrite what the house already holds.
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    confirmation_requested_at = models.DateTimeField(_("confirmation requested"))
    confirmation_sent_at = models.DateTimeField(_("confirmation sent"), null=True, blank=True)
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)

    class Meta:
        verbose_name = _("newsletter signup")
        verbose_name_plural = _("newsletter signups")
        constraints = [
            # A repeated signup reuses the open one: one confirmation link per person at a time.
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(confirmed_at__isnull=True),
                name="signup_one_open_per_customer",
            ),
        ]
        indexes = [
            # The sweep for confirmation emails a lost task never sent.
            models.Index(
                fields=["confirmation_requested_at"],
                condition=Q(confirmed_at__isnull=True),
                name="signup_unconfirmed_idx",
            ),
        ]

    def __str__(self):
        return str(self.public_id)

    @property
    def owes_confirmation_email(self) -> bool:
        return self.confirmed_at is None and (
            self.confirmation_sent_at is None
            or self.confirmation_sent_at < self.confirmation_requested_at
        )


class SignupIntake(models.Model):
    """A newsletter signup as the public form received it, not yet turned into a person, their
    pending consents and the confirmation email owed (services.signup_intakes_process).

    The form's POST stores only this row, so that the page answers at the cost of one INSERT however
    large the register is; a task turns intakes into signups within seconds, in batches, and a
    periodic sweep finishes what a lost task left. The row is deleted once it is processed.
    """

    received_at = models.DateTimeField(_("received"), default=timezone.now)
    email = models.EmailField(_("email"), max_length=254)
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    # The ids of the notice versions whose boxes were ticked: the consent ledger records exactly
    # the wording the person read, even if staff publish a new one before the intake is processed.
    notice_ids = models.JSONField(_("notices ticked"))

    class Meta:
        verbose_name = _("newsletter signup received")
        verbose_name_plural = _("newsletter signups received")

    def __str__(self):
        return f"{self._meta.verbose_name} {self.pk}"


class Suppression(models.Model):
    """An address the house must never mail or re-import, kept only as a keyed hash.

    It survives erasure on purpose: without it, the next ticket-agent import would bring back the
    person who asked to be forgotten. A keyed hash (HMAC) rather than a plain one, so that the list
    cannot be checked against a dictionary of addresses without the key.
    """

    class Reason(models.TextChoices):
        UNSUBSCRIBED = "unsubscribed", _("Withdrew all marketing consent")
        OBJECTED = "objected", _("Objected to direct marketing")
        ERASED = "erased", _("Erased at their request")
        COMPLAINED = "complained", _("Reported our email as spam")

    email_hash = models.CharField(_("email hash"), max_length=64, unique=True)
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppression list")

    def __str__(self):
        return f"{self.email_hash[:12]}… ({self.get_reason_display()})"


class Campaign(TimeStampedModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        CANCELLED = "cancelled", _("Cancelled")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200, help_text=_("For staff only."))
    purpose = models.ForeignKey(
        "consent.Purpose",
        on_delete=models.PROTECT,
        limit_choices_to={"kind__in": EMAIL_KINDS},
        related_name="campaigns",
        verbose_name=_("list"),
        help_text=_("Only people who confirmed their consent to this list receive the campaign."),
    )
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    # Set once the delivery rows exist: a resumed send never widens the audience it started with.
    audience_prepared_at = models.DateTimeField(_("audience selected"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at"]
        permissions = [
            ("export_audience", _("Can export a custom audience for ad platforms")),
        ]
        indexes = [
            # The due-campaign sweep that beat runs every minute.
            models.Index(
                fields=["scheduled_at"],
                condition=Q(status__in=["scheduled", "sending"]),
                name="campaign_due_idx",
            ),
        ]

    def __str__(self):
        return self.name


class CampaignText(models.Model):
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="texts", verbose_name=_("campaign")
    )
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(
        _("body"), help_text=_("Plain text; a blank line starts a new paragraph.")
    )

    class Meta:
        verbose_name = _("text")
        verbose_name_plural = _("texts")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "language"], name="campaign_text_one_per_language"
            ),
        ]

    def __str__(self):
        return f"{self.campaign} ({self.language})"


class Delivery(models.Model):
    """One campaign to one person: created before anything is sent, unique per campaign and person,
    so that a retried or duplicated task can never mail anyone twice."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Being sent")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Skipped: no longer in the audience")
        FAILED = "failed", _("Failed")

    class Bounce(models.TextChoices):
        HARD = "hard", _("Hard: the address does not take mail")
        SOFT = "soft", _("Soft: refused for now")

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("campaign")
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("customer"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    claimed_at = models.DateTimeField(_("claimed for sending"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    # Opens are recorded (date and count, as Harmonien's policy says) only for a message that carried
    # a pixel, which only people with open-tracking consent get.
    tracked = models.BooleanField(_("open tracking"), default=False)
    first_opened_at = models.DateTimeField(_("first opened"), null=True, blank=True)
    open_count = models.PositiveIntegerField(_("opens"), default=0)
    # What came back to the message's return path (newsletters/inbound.py): a delivery status
    # notification (RFC 3464) and its status code and diagnostic, or a spam complaint (RFC 5965).
    # Defaults in the database too: set-wise INSERTs (campaign_prepare_deliveries, fixtures of the
    # benchmarks and tests) name only the columns they fill.
    bounce = models.CharField(
        _("bounce"), max_length=8, choices=Bounce.choices, blank=True, default="", db_default=""
    )
    bounce_status = models.CharField(
        _("bounce status code"), max_length=16, blank=True, default="", db_default=""
    )
    bounce_diagnostic = models.CharField(
        _("bounce diagnostic"), max_length=500, blank=True, default="", db_default=""
    )
    bounced_at = models.DateTimeField(_("bounced"), null=True, blank=True)
    complained_at = models.DateTimeField(_("reported as spam"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "customer"], name="delivery_once_per_person"
            ),
        ]
        indexes = [
            # The sender's next batch: queued rows of one campaign in primary-key order.
            models.Index(fields=["campaign", "status", "id"], name="delivery_batch_idx"),
            # The retention purge of old delivery and open logs.
            models.Index(fields=["created_at"], name="delivery_created_idx"),
            # The soft-bounce policy: one person's soft bounces within the window.
            models.Index(
                fields=["customer", "bounced_at"],
                condition=Q(bounce="soft"),
                name="delivery_soft_bounce_idx",
            ),
        ]

    def __str__(self):
        return f"{self.campaign} → {self.customer_id} ({self.get_status_display()})"


class AudienceExport(models.Model):
    """A custom audience handed to an ad platform: a disclosure to that recipient (Art. 15(1)(c))."""

    class Recipient(models.TextChoices):
        META = "meta", _("Meta (Facebook and Instagram)")
        GOOGLE = "google", _("Google Ads")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    recipient = models.CharField(_("recipient"), max_length=16, choices=Recipient.choices)
    created_at = models.DateTimeField(_("exported"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("exported by"),
    )
    size = models.PositiveIntegerField(_("people"))

    class Meta:
        verbose_name = _("custom-audience export")
        verbose_name_plural = _("custom-audience exports")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_recipient_display()} {self.created_at:%Y-%m-%d}"


class AudienceExportMember(models.Model):
    """Who was in an export, so that the access report names the recipient and an erasure or a
    rectification can be passed on to it (Art. 19)."""

    export = models.ForeignKey(
        AudienceExport, on_delete=models.CASCADE, related_name="members", verbose_name=_("export")
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="audience_exports",
        verbose_name=_("customer"),
    )

    class Meta:
        verbose_name = _("exported person")
        verbose_name_plural = _("exported people")
        constraints = [
            models.UniqueConstraint(fields=["export", "customer"], name="audience_member_once"),
        ]

    def __str__(self):
        return f"{self.export} ← {self.customer_id}"


class InboundMessage(models.Model):
    """One message of the inbound mailbox, claimed once (newsletters/inbound.py).

    The row is inserted, unique per mailbox, UIDVALIDITY and UID, in the transaction that acts on
    the message: a second reader at the same moment, or a re-run after a crash, finds it and acts
    no more; it only moves the message to the folder of the outcome recorded here. It holds no
    address and no content: what the message was, what it changed, and a hash of its Message-ID.
    """

    class Kind(models.TextChoices):
        DSN = "dsn", _("Delivery status notification")
        COMPLAINT = "complaint", _("Spam complaint (ARF)")
        UNSUBSCRIBE = "unsubscribe", _("Unsubscribe by email")
        AUTO_REPLY = "auto_reply", _("Automatic reply")
        OTHER = "other", _("Other")

    class Outcome(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", _("Hard bounce recorded")
        SOFT_BOUNCE = "soft_bounce", _("Soft bounce recorded")
        COMPLAINT = "complaint", _("Complaint: unsubscribed and suppressed")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed from the list")
        NO_ACTION = "no_action", _("Needs no action")
        STAFF = "staff", _("Left for staff")

    mailbox = models.CharField(_("mailbox"), max_length=200)
    uidvalidity = models.BigIntegerField(_("UIDVALIDITY"))
    uid = models.BigIntegerField(_("UID"))
    message_id_hash = models.CharField(_("Message-ID hash"), max_length=64, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    # Why, for staff: a code such as "expired_token" or "no_return_path", never an address.
    reason = models.CharField(_("reason"), max_length=64, blank=True)
    processed_at = models.DateTimeField(_("processed"), default=timezone.now)
    # Which reader's batch inserted the row: a batch acts only on the rows it inserted itself.
    claim = models.UUIDField(_("claimed by"), editable=False)
    moved = models.BooleanField(_("moved to its folder"), default=False)

    class Meta:
        verbose_name = _("inbound message")
        verbose_name_plural = _("inbound messages")
        ordering = ["-processed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "uidvalidity", "uid"], name="inbound_message_once"
            ),
        ]
        indexes = [
            # The admin's list, newest first, and the retention purge of old rows.
            models.Index(fields=["processed_at"], name="inbound_processed_idx"),
        ]

    def __str__(self):
        return f"{self.mailbox} {self.uidvalidity}/{self.uid}: {self.get_outcome_display()}"
