"""Privacy requests (GDPR Art. 15-21), their timeline, the processor register (Art. 28, 30) and the
Art. 19 notices to recipients.

This app reaches the data of the other apps only through the personal-data map: it never imports
their models, so every model that registers in the map is covered by access, portability and
erasure the moment it is declared.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from concerthouse.models import TimeStampedModel


class Processor(TimeStampedModel):
    """One entry of the register of processors and recipients."""

    class Role(models.TextChoices):
        PROCESSOR = "processor", _("Processor (processes on our behalf, Art. 28)")
        JOINT_CONTROLLER = "joint_controller", _("Joint controller (Art. 26)")
        RECIPIENT = "recipient", _("Recipient (Art. 4(9))")

    name = models.CharField(_("name"), max_length=200)
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    purposes = models.TextField(_("purposes"), help_text=_("What they do with the data, for whom."))
    data_categories = models.JSONField(
        _("data categories"),
        default=list,
        help_text=_("Categories of the personal-data map they hold, e.g. contact, behavioural."),
    )
    country = models.CharField(_("country"), max_length=100)
    transfer_basis = models.CharField(
        _("transfer basis"),
        max_length=200,
        help_text=_("Within the EU/EEA, or the Art. 45/46 basis of a transfer outside it."),
    )
    contract_date = models.DateField(_("contract date"), null=True, blank=True)
    erasure_contact = models.EmailField(
        _("erasure contact"), help_text=_("Where Art. 19 notices of corrections and erasures go.")
    )
    recipient_code = models.SlugField(
        _("disclosure code"),
        max_length=50,
        blank=True,
        help_text=_("Matches recorded disclosures, such as a custom-audience export to 'meta'."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("processor or recipient")
        verbose_name_plural = _("processor register")
        ordering = ["name"]

    def __str__(self):
        return self.name


class PrivacyRequest(models.Model):
    class Kind(models.TextChoices):
        ACCESS = "access", _("Access to my data (Art. 15)")
        RECTIFICATION = "rectification", _("Correction of my data (Art. 16)")
        ERASURE = "erasure", _("Erasure of my data (Art. 17)")
        PORTABILITY = "portability", _("A copy of my data to take elsewhere (Art. 20)")
        RESTRICTION = "restriction", _("Restriction of processing (Art. 18)")
        OBJECTION = "objection", _("Objection to processing, such as direct marketing (Art. 21)")

    class State(models.TextChoices):
        UNVERIFIED = "unverified", _("Waiting for email verification")
        OPEN = "open", _("Open")
        COMPLETED = "completed", _("Completed")
        REJECTED = "rejected", _("Rejected")

    class Channel(models.TextChoices):
        WEB = "web", _("Web form")
        PHONE = "phone", _("Phone")
        COUNTER = "counter", _("At the counter")
        EMAIL_OR_LETTER = "email_or_letter", _("Email or letter")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.UNVERIFIED
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    # The requester as they gave themselves; cleared once a completed erasure has been told.
    email = models.EmailField(_("email address"), max_length=254, blank=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    details = models.TextField(_("what the person asks"), blank=True)
    wrong_data = models.TextField(_("what is wrong"), blank=True)
    correct_data = models.TextField(_("what it should be"), blank=True)
    identity_check = models.CharField(
        _("how identity was checked"),
        max_length=200,
        blank=True,
        help_text=_("For requests received by phone or at the counter."),
    )
    # The person, through the privacy core's setting (as AUTH_USER_MODEL names the user): this app
    # reaches the people only through the core.
    customer = models.ForeignKey(
        settings.PRIVACY_PERSON_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="privacy_requests",
        verbose_name=_("person in the register"),
    )
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("registered by"),
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assigned to"),
    )
    created_at = models.DateTimeField(_("submitted"), default=timezone.now)
    verification_sent_at = models.DateTimeField(_("verification sent"), null=True, blank=True)
    # Art. 12(3): the month runs from receipt, which for the web form is the verified email.
    received_at = models.DateTimeField(_("received"), null=True, blank=True)
    due_on = models.DateField(_("due"), null=True, blank=True)
    extended_due_on = models.DateField(_("extended to"), null=True, blank=True)
    extension_reason = models.TextField(_("reason for the extension"), blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    rejection_reason = models.TextField(_("reason for the rejection"), blank=True)
    restriction_ground = models.CharField(_("restriction ground"), max_length=32, blank=True)
    # What an erasure had to keep, with the statute and the date, as told to the person.
    erasure_holds = models.JSONField(_("kept under a legal hold"), default=list, blank=True)
    closing_notice_sent_at = models.DateTimeField(_("answer sent"), null=True, blank=True)
    contact_redacted_at = models.DateTimeField(_("contact details removed"), null=True, blank=True)

    class Meta:
        verbose_name = _("privacy request")
        verbose_name_plural = _("privacy requests")
        ordering = ["due_on", "created_at"]
        permissions = [
            ("handle_request", _("Can handle privacy requests in the DPO dashboard")),
            ("register_request", _("Can register a privacy request received by phone or letter")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(extended_due_on__isnull=True) | ~Q(extension_reason=""),
                name="privacy_request_extension_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(state="rejected") | ~Q(rejection_reason=""),
                name="privacy_request_rejection_has_reason",
            ),
        ]
        indexes = [
            # The DPO's queue: open requests by their deadline.
            models.Index(
                fields=["due_on"], condition=Q(state="open"), name="privacy_request_queue_idx"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {str(self.public_id)[:8]}"

    @property
    def deadline(self):
        return self.extended_due_on or self.due_on

    @property
    def is_open(self) -> bool:
        return self.state == self.State.OPEN

    def days_left(self, today=None) -> int | None:
        if self.deadline is None:
            return None
        return (self.deadline - (today or timezone.localdate())).days


class RequestEvent(models.Model):
    """The request's timeline: what happened and who did it; never the person's data."""

    request = models.ForeignKey(
        PrivacyRequest, on_delete=models.CASCADE, related_name="events", verbose_name=_("request")
    )
    at = models.DateTimeField(_("time"), default=timezone.now)
    action = models.CharField(_("action"), max_length=64)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("request event")
        verbose_name_plural = _("request events")
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"


class AccessPackage(models.Model):
    """A zip for the person (access or portability), downloadable through a signed link until it
    is deleted (30 days)."""

    request = models.ForeignKey(
        PrivacyRequest,
        on_delete=models.CASCADE,
        related_name="packages",
        verbose_name=_("request"),
    )
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    file_name = models.CharField(_("file"), max_length=200)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("deleted after"))
    downloaded_at = models.DateTimeField(_("first downloaded"), null=True, blank=True)

    class Meta:
        verbose_name = _("data package")
        verbose_name_plural = _("data packages")

    def __str__(self):
        return self.file_name


class RecipientNotice(models.Model):
    """Art. 19: one recipient told of a rectification, erasure or restriction; done once the DPO
    has the recipient's confirmation."""

    request = models.ForeignKey(
        PrivacyRequest,
        on_delete=models.CASCADE,
        related_name="recipient_notices",
        verbose_name=_("request"),
    )
    processor = models.ForeignKey(
        Processor, on_delete=models.PROTECT, related_name="+", verbose_name=_("recipient")
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    done_at = models.DateTimeField(_("confirmed done"), null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("marked done by"),
    )

    class Meta:
        verbose_name = _("notice to a recipient")
        verbose_name_plural = _("notices to recipients")
        constraints = [
            models.UniqueConstraint(fields=["request", "processor"], name="recipient_notice_once"),
        ]

    def __str__(self):
        return f"{self.request} → {self.processor}"
