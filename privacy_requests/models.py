"""Privacy requests (GDPR Art. 15-21), their timeline, the processor register (Art. 28, 30) and the
Art. 19 notices to recipients.

This app reaches the data of the other apps only through the personal-data map: it never imports
their models, so every model that registers in the map is covered by access, portability and
erasure the moment it is declared.
"""

import uuid
from datetime import UTC, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from concerthouse.models import TimeStampedModel
from concerthouse.privacy.map import Category, RecipientKind

# The EU and the EEA: a processor there needs no transfer basis (Chapter V applies to transfers
# outside them).
EEA = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
        "IS",
        "LI",
        "NO",
    ]
)


class Processor(TimeStampedModel):
    """One entry of the register of processors and recipients.

    Its `kind` and `code` say which of the personal-data map's flows reach it (who holds whose
    data: concerthouse/privacy/recipients.py); its texts are kept per language, so that the notice,
    the record and the access report speak the reader's language.
    """

    class Role(models.TextChoices):
        PROCESSOR = "processor", _("Processor (processes on our behalf, Art. 28)")
        JOINT_CONTROLLER = "joint_controller", _("Joint controller (Art. 26)")
        RECIPIENT = "recipient", _("Recipient (Art. 4(9))")

    class TransferBasis(models.TextChoices):
        NONE = "eea", _("No transfer outside the EU/EEA")
        ADEQUACY = "adequacy", _("An adequacy decision of the European Commission (Art. 45)")
        DPF = "dpf", _("The EU-U.S. Data Privacy Framework, an adequacy decision (Art. 45)")
        SCC = "scc", _("Standard contractual clauses (Art. 46(2)(c))")
        BCR = "bcr", _("Binding corporate rules (Art. 47)")
        DEROGATION = "derogation", _("A derogation for a specific situation (Art. 49)")

    name = models.CharField(_("name"), max_length=200)
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    kind = models.CharField(
        _("what it receives"),
        max_length=20,
        choices=RecipientKind.choices,
        default=RecipientKind.HOSTING,
        help_text=_(
            "Hosting: holds our records of the categories below, for everyone who has such "
            "records. Mail: the data of the people we send email to. Ticket agent and ad "
            "platform: the data of the people it sold to, or who were in an audience sent to it."
        ),
    )
    # {"sv": "...", "nb": "...", "en": "..."}: shown in the reader's language.
    purposes = models.JSONField(
        _("purposes"), default=dict, help_text=_("What they do with the data, for whom.")
    )
    data_categories = models.JSONField(
        _("data categories"),
        default=list,
        help_text=_("Categories of the personal-data map they hold, e.g. contact, behavioural."),
    )
    country = CountryField(_("country"), help_text=_("Where they process the data."))
    third_country = CountryField(
        _("transfers to"),
        blank=True,
        help_text=_("A country outside the EU/EEA the data may go to, if any."),
    )
    transfer_basis = models.CharField(
        _("transfer basis"),
        max_length=20,
        choices=TransferBasis.choices,
        default=TransferBasis.NONE,
        help_text=_("Within the EU/EEA, or the Art. 45/46 basis of a transfer outside it."),
    )
    contract_date = models.DateField(_("contract date"), null=True, blank=True)
    erasure_contact = models.EmailField(
        _("erasure contact"), help_text=_("Where Art. 19 notices of corrections and erasures go.")
    )
    breach_contact = models.EmailField(
        _("breach contact"),
        blank=True,
        help_text=_("Who reports a personal-data breach to us, and whom we ask about one."),
    )
    breach_reporting_hours = models.PositiveSmallIntegerField(
        _("breach reporting time (hours)"),
        null=True,
        blank=True,
        help_text=_(
            "Within how many hours the contract obliges a processor to report a breach to us "
            "(Art. 33(2))."
        ),
    )
    recipient_code = models.SlugField(
        _("code"),
        max_length=50,
        blank=True,
        help_text=_(
            "For a ticket agent or an ad platform: the code our records name it by, such as "
            "'meta' or 'google' for audience exports, or the agent's name as imports record it "
            "('eventim')."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("processor or recipient")
        verbose_name_plural = _("processor register")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def purposes_in(self, language: str | None = None) -> str:
        """The purposes in `language` (the active one by default), else in the house's."""
        texts = self.purposes or {}
        language = language or get_language() or settings.LANGUAGE_CODE
        for candidate in (language, language.split("-")[0], settings.LANGUAGE_CODE):
            if texts.get(candidate):
                return texts[candidate]
        return next((text for text in texts.values() if text), "")

    @property
    def purposes_text(self) -> str:
        return self.purposes_in()

    @property
    def categories_display(self) -> list[str]:
        return [str(Category(c).label) for c in self.data_categories if c in Category.values]

    @property
    def missing_languages(self) -> list[str]:
        return [code for code, _name in settings.LANGUAGES if not (self.purposes or {}).get(code)]

    @property
    def transfers_outside_eea(self) -> bool:
        return bool(self.third_country) or (bool(self.country) and self.country.code not in EEA)


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


# --- Personal-data breaches (Art. 33, 34) ----------------------------------------------------------
# Art. 33(1): the supervisory authority is notified within 72 hours of the controller becoming aware.
NOTIFICATION_HOURS = 72


class Breach(models.Model):
    """One personal-data breach in the register Art. 33(5) requires: the facts, the effects, the
    remedial action, the decisions. Never deleted; a correction is an event on its timeline."""

    class Discovery(models.TextChoices):
        PROCESSOR = "processor", _("Reported by a processor or recipient")
        STAFF = "staff", _("Noticed by our staff")
        PERSON = "person", _("Told by a person affected or someone else outside the house")
        AUTHORITY = "authority", _("Told by an authority or the police")

    class Nature(models.TextChoices):
        CONFIDENTIALITY = (
            "confidentiality",
            _("Confidentiality: data disclosed to or seen by someone not allowed to"),
        )
        INTEGRITY = "integrity", _("Integrity: data changed without authority")
        AVAILABILITY = "availability", _("Availability: data lost or out of reach")

    class Risk(models.TextChoices):
        UNASSESSED = "unassessed", _("Not assessed yet")
        UNLIKELY = "unlikely", _("Unlikely to result in a risk to people")
        RISK = "risk", _("A risk to people")
        HIGH = "high", _("A high risk to people")

    class PeopleDecision(models.TextChoices):
        UNDECIDED = "", _("Not decided yet")
        TELL = "tell", _("Tell the people affected (Art. 34(1))")
        ENCRYPTED = (
            "encrypted",
            _(
                "Not told: the data is unintelligible to anyone not allowed to see it (Art. 34(3)(a))"
            ),
        )
        MITIGATED = (
            "mitigated",
            _(
                "Not told: measures taken since mean the high risk is no longer likely (Art. 34(3)(b))"
            ),
        )
        PUBLIC = (
            "public",
            _("Not told one by one: a public communication instead (Art. 34(3)(c))"),
        )

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    reference = models.CharField(_("reference"), max_length=20, unique=True, editable=False)
    title = models.CharField(_("what happened, in a line"), max_length=200)
    description = models.TextField(_("what happened"))
    aware_at = models.DateTimeField(
        _("became aware"), help_text=_("The 72 hours of Art. 33(1) run from this moment.")
    )
    discovered = models.CharField(
        _("how we learnt of it"), max_length=16, choices=Discovery.choices
    )
    discovery_details = models.TextField(_("how, in detail"), blank=True)
    natures = models.JSONField(_("what was breached"), default=list)
    processor = models.ForeignKey(
        Processor,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="breaches",
        verbose_name=_("processor or recipient involved"),
    )
    # A part of the house's own register (an app of the personal-data map), or "" for none.
    system = models.CharField(_("system involved"), max_length=50, blank=True)
    started_at = models.DateTimeField(_("from"), null=True, blank=True)
    ended_at = models.DateTimeField(_("until"), null=True, blank=True)
    data_categories = models.JSONField(_("data categories"), default=list)
    consequences = models.TextField(_("likely consequences"), blank=True)
    measures_taken = models.TextField(_("measures taken"), blank=True)
    measures_proposed = models.TextField(_("measures proposed"), blank=True)
    risk = models.CharField(_("risk"), max_length=16, choices=Risk.choices, default=Risk.UNASSESSED)
    risk_reasoning = models.TextField(_("why this risk"), blank=True)
    people_decision = models.CharField(
        _("telling the people affected"),
        max_length=16,
        choices=PeopleDecision.choices,
        blank=True,
        default=PeopleDecision.UNDECIDED,
    )
    people_decision_reason = models.TextField(_("why"), blank=True)
    # The message to the people (Art. 34(2)), per language: {"sv": {"happened": ..., ...}, ...}.
    people_message = models.JSONField(_("message to the people"), default=dict, blank=True)
    authority_notified_at = models.DateTimeField(
        _("authority notified"), null=True, blank=True, editable=False
    )
    late_reason = models.TextField(_("reason for the delay"), blank=True, editable=False)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("recorded"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("recorded by"),
    )

    class Meta:
        verbose_name = _("personal-data breach")
        verbose_name_plural = _("personal-data breaches")
        ordering = ["-aware_at"]
        permissions = [
            ("manage_breaches", _("Can record and handle personal-data breaches")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True)
                | Q(started_at__isnull=True)
                | Q(ended_at__gte=models.F("started_at")),
                name="breach_window_in_order",
            ),
        ]

    def __str__(self):
        return f"{self.reference} {self.title}"

    @property
    def deadline(self):
        """72 real hours after becoming aware, whatever the clocks do meanwhile. Added in UTC:
        Python adds to a local time by the wall clock, so across a change to summer time 72 hours
        of a Stockholm time would be only 71 real ones."""
        return self.aware_at.astimezone(UTC) + timedelta(hours=NOTIFICATION_HOURS)

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def notification_owed(self) -> bool:
        """Until the DPO finds a risk unlikely, the authority must be told (Art. 33(1))."""
        return self.authority_notified_at is None and self.risk != self.Risk.UNLIKELY

    @property
    def natures_display(self) -> list[str]:
        return [str(self.Nature(n).label) for n in self.natures if n in self.Nature.values]

    @property
    def categories_display(self) -> list[str]:
        return [str(Category(c).label) for c in self.data_categories if c in Category.values]

    def hours_left(self, now=None) -> float:
        return (self.deadline - (now or timezone.now())).total_seconds() / 3600


class BreachEvent(models.Model):
    """The breach's timeline: every fact recorded or corrected and every decision, with who and
    when. Append-only: never edited, never deleted (a trigger refuses both on PostgreSQL)."""

    breach = models.ForeignKey(
        Breach, on_delete=models.PROTECT, related_name="events", verbose_name=_("breach")
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
    # What a correction changed: {field: [before, after]}, the breach's own fields (no person's).
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("breach event")
        verbose_name_plural = _("breach events")
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"


class BreachScope(models.Model):
    """A scope the DPO described and recorded: who it reached, counted through the personal-data
    map at that moment. The people it found are stored (AffectedPerson), so that the counts can be
    shown again later, whoever is erased meanwhile."""

    breach = models.ForeignKey(
        Breach, on_delete=models.PROTECT, related_name="scopes", verbose_name=_("breach")
    )
    processor = models.ForeignKey(
        Processor,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("processor or recipient"),
    )
    system = models.CharField(_("system"), max_length=50, blank=True)
    data_categories = models.JSONField(_("data categories"), default=list)
    since = models.DateTimeField(_("data passed on from"), null=True, blank=True)
    until = models.DateTimeField(_("held by"), null=True, blank=True)
    addresses_supplied = models.PositiveIntegerField(_("addresses supplied"), null=True)
    addresses_found = models.PositiveIntegerField(_("of them in the register"), null=True)
    people = models.PositiveIntegerField(_("people found"))
    added = models.PositiveIntegerField(_("people added"))
    # {"categories": {category: records}, "records": {model label: records}}
    counts = models.JSONField(_("records"), default=dict)
    created_at = models.DateTimeField(_("recorded"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("by")
    )

    class Meta:
        verbose_name = _("breach scope")
        verbose_name_plural = _("breach scopes")
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.breach.reference}: {self.people}"


class AffectedPerson(models.Model):
    """One person a breach affected, and the Art. 34 message owed to them. The link goes when the
    person is erased; the row stays, so the breach still counts them, and no one can tell who."""

    class Notice(models.TextChoices):
        NOT_QUEUED = "not_queued", _("Not to be told (yet)")
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Being sent")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Not sent: erased before it went")
        FAILED = "failed", _("Failed")

    # A breach can reach a million people, stored in one INSERT, and everything paid per row
    # counts. The foreign keys have no index of their own (a person's rows are found through the
    # unique index, person first; a breach's whole set is read rarely, by the dashboard's counts)
    # and no constraint in the database: PostgreSQL checks each of the three for every row at the
    # commit, 27 of the 34 s of storing a million (measured). Django keeps what they promise:
    # breaches and scopes are never deleted (PROTECT, no delete anywhere), and erasure sets the
    # person to NULL itself (concerthouse/privacy/erasure.py follows every SET_NULL relation).
    breach = models.ForeignKey(
        Breach,
        on_delete=models.PROTECT,
        related_name="affected",
        verbose_name=_("breach"),
        db_index=False,
        db_constraint=False,
    )
    scope = models.ForeignKey(
        BreachScope,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("found by"),
        db_index=False,
        db_constraint=False,
    )
    person = models.ForeignKey(
        settings.PRIVACY_PERSON_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("person"),
        db_index=False,
        db_constraint=False,
    )
    notice = models.CharField(
        _("message"), max_length=16, choices=Notice.choices, default=Notice.NOT_QUEUED
    )
    claimed_at = models.DateTimeField(_("claimed for sending"), null=True, blank=True)
    sent_at = models.DateTimeField(_("message sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("person affected by a breach")
        verbose_name_plural = _("people affected by breaches")
        constraints = [
            # A person is in a breach's set once, so they are told once. Person first: it also
            # finds a person's rows (the access report, erasure unlinking them).
            models.UniqueConstraint(
                fields=["person", "breach"],
                condition=Q(person__isnull=False),
                name="affected_person_once",
            ),
        ]
        indexes = [
            # The sender's next batch: a breach's queued messages in primary-key order. Partial,
            # so that recording a set (whose messages are not queued) writes nothing to it.
            models.Index(
                fields=["breach", "id"],
                condition=Q(notice="queued"),
                name="affected_queued_idx",
            ),
        ]

    def __str__(self):
        return f"{self.breach.reference} → {self.person_id or '-'} ({self.get_notice_display()})"


class AuthorityNotification(models.Model):
    """What was sent to the supervisory authority (Art. 33(3)), in phases (Art. 33(4)): the first
    notification, then follow-ups with what was not known at first. The text is kept as sent."""

    breach = models.ForeignKey(
        Breach, on_delete=models.PROTECT, related_name="notifications", verbose_name=_("breach")
    )
    phase = models.PositiveSmallIntegerField(_("phase"))
    text = models.TextField(_("text sent"))
    sent_at = models.DateTimeField(_("sent"))
    authority_reference = models.CharField(
        _("the authority's reference"), max_length=100, blank=True
    )
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("by")
    )

    class Meta:
        verbose_name = _("notification to the authority")
        verbose_name_plural = _("notifications to the authority")
        ordering = ["phase"]
        constraints = [
            models.UniqueConstraint(
                fields=["breach", "phase"], name="authority_notification_phase"
            ),
        ]

    def __str__(self):
        return f"{self.breach.reference} #{self.phase}"
