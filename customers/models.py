import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from concerthouse.encryption import EncryptedTextField, blind_index
from concerthouse.models import TimeStampedModel

from . import validators


def house_country() -> str:
    return settings.HOUSE_COUNTRY


def house_language() -> str:
    return settings.LANGUAGE_CODE


def ticket_agent_code(name: str) -> str:
    """The code of a ticket agent from its name as an import records it: what the processor
    register matches, and what an imported order's reference starts with."""
    return slugify(name)[:20] or "agent"


# Art. 18: a person whose processing is restricted; their data is only stored.
RESTRICTED = Q(restricted_at__isnull=False)
# Mail to the address bounces for good (newsletters/inbound.py): nothing is sent there but answers to
# privacy requests, which go to the request's own address.
UNDELIVERABLE = Q(email_undeliverable_at__isnull=False)


class CustomerQuerySet(models.QuerySet):
    """Where the rules about whom the house may process live, so that every caller obeys them."""

    def processable(self):
        """People whose data may be used at all: not restricted (Art. 18: storage only)."""
        return self.exclude(RESTRICTED)

    def restricted(self):
        """People whose data may only be stored (Art. 18): not used, and not purged by retention."""
        return self.filter(RESTRICTED)

    def marketable(self):
        """People who may receive direct marketing as far as their own record goes: not restricted
        and not objecting (Art. 21(2), absolute). Consent to a given list is checked on top."""
        return self.processable().filter(marketing_objection_at__isnull=True)

    def deliverable(self):
        """People whose address still takes mail: every sender of email to a person filters by it,
        except the answers to privacy requests (they go to the request's own address)."""
        return self.exclude(UNDELIVERABLE)

    def with_email(self, email: str):
        """The person with this address, given as it is stored: normalised where it entered
        (`concerthouse.email_address.normalise_email`), so compared exactly, on the unique index."""
        return self.filter(email=email)

    def with_national_id(self, value: str, *, country: str):
        normalised = validators.normalise_national_id(value, country=country)
        return self.filter(national_id_index=blind_index(normalised, purpose="national_id"))

    def with_bank_account(self, value: str):
        normalised = validators.normalise_bank_account(value)
        return self.filter(bank_account_index=blind_index(normalised, purpose="bank_account"))


class Customer(TimeStampedModel):
    class Kind(models.TextChoices):
        LEAD = "lead", _("Lead (no customer relationship)")
        CUSTOMER = "customer", _("Customer")

    class Source(models.TextChoices):
        WEB_SIGNUP = "web_signup", _("Newsletter signup on the website")
        SUBSCRIPTION_FORM = "subscription_form", _("Season subscription form")
        BOX_OFFICE = "box_office", _("Box office or customer service")
        TICKET_AGENT = "ticket_agent", _("Ticket agent import")
        FAIR_OR_MEETING = "fair_or_meeting", _("Fair, meeting or correspondence")

    class Country(models.TextChoices):
        SWEDEN = "SE", _("Sweden")
        NORWAY = "NO", _("Norway")
        DENMARK = "DK", _("Denmark")
        FINLAND = "FI", _("Finland")
        ICELAND = "IS", _("Iceland")
        GERMANY = "DE", _("Germany")
        UNITED_KINGDOM = "GB", _("United Kingdom")
        OTHER = "ZZ", _("Other country")

    class IdentifiersPurpose(models.TextChoices):
        REFUNDS = "refunds", _("Refunds of cancelled purchases")
        INVOICING = "invoicing", _("Invoicing and payment by instalments")

    class UndeliverableReason(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", _("The receiving server refused the address for good")
        SOFT_BOUNCES = "soft_bounces", _("Mail to the address failed again and again")

    class RestrictionGround(models.TextChoices):
        # GDPR Art. 18(1)(a)-(d)
        ACCURACY_CONTESTED = "accuracy_contested", _("Accuracy contested (Art. 18(1)(a))")
        UNLAWFUL_PROCESSING = "unlawful_processing", _("Unlawful processing (Art. 18(1)(b))")
        LEGAL_CLAIMS = "legal_claims", _("Needed for legal claims (Art. 18(1)(c))")
        OBJECTION_PENDING = "objection_pending", _("Objection being verified (Art. 18(1)(d))")

    class ObjectionChannel(models.TextChoices):
        PREFERENCE_CENTRE = "preference_centre", _("Preference centre")
        PRIVACY_REQUEST = "privacy_request", _("Privacy request")
        EMAIL_OR_LETTER = "email_or_letter", _("Email or letter")
        COUNTER_OR_PHONE = "counter_or_phone", _("At the counter or by phone")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    # Contact
    email = models.EmailField(_("email address"), max_length=254)
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    phone = models.CharField(
        _("phone number"), max_length=20, blank=True, help_text=_("Stored in E.164 form.")
    )
    street_address = models.CharField(_("street address"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(
        _("country"), max_length=2, choices=Country.choices, default=house_country
    )
    preferred_language = models.CharField(
        _("preferred language"), max_length=8, choices=settings.LANGUAGES, default=house_language
    )

    # Relationship: the dates the retention rules count from.
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.LEAD)
    source = models.CharField(_("source"), max_length=32, choices=Source.choices)
    source_detail = models.CharField(
        _("source detail"),
        max_length=100,
        blank=True,
        help_text=_("Which ticket agent, fair or meeting, as told to the person (Art. 14)."),
    )
    relationship_started_on = models.DateField(_("relationship started"), null=True, blank=True)
    relationship_ended_on = models.DateField(_("relationship ended"), null=True, blank=True)
    last_activity_at = models.DateTimeField(_("last activity"), default=timezone.now)

    # The address bounces (newsletters/inbound.py). Not a withdrawal of consent and not a
    # suppression: the person's own new confirmed signup clears it.
    email_undeliverable_at = models.DateTimeField(
        _("email undeliverable since"), null=True, blank=True
    )
    email_undeliverable_reason = models.CharField(
        _("why the email is undeliverable"),
        max_length=16,
        choices=UndeliverableReason.choices,
        blank=True,
        default="",
        # Also in the database: set-wise INSERTs of people name only the columns they fill.
        db_default="",
    )

    # Identifiers: optional, only with a documented purpose, encrypted, found through blind indexes.
    national_id = EncryptedTextField(_("national identity number"), blank=True, default="")
    national_id_index = models.CharField(max_length=64, blank=True, default="", editable=False)
    bank_account = EncryptedTextField(_("bank account"), blank=True, default="")
    bank_account_index = models.CharField(max_length=64, blank=True, default="", editable=False)
    identifiers_purpose = models.CharField(
        _("purpose of the identifiers"),
        max_length=32,
        choices=IdentifiersPurpose.choices,
        blank=True,
    )

    # Restriction of processing (Art. 18): who, when, why.
    restricted_at = models.DateTimeField(_("restricted"), null=True, blank=True)
    restricted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("restricted by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    restriction_ground = models.CharField(
        _("restriction ground"), max_length=32, choices=RestrictionGround.choices, blank=True
    )
    # Art. 18(3): before a restriction is lifted the person is told. Staff ask for the notice
    # (announced), a task sends it (sent); the lifting waits for the second. A sweep sends any
    # notice announced and never sent.
    restriction_lift_announced_at = models.DateTimeField(
        _("lifting of the restriction announced"), null=True, blank=True
    )
    restriction_lift_notice_sent_at = models.DateTimeField(
        _("told that the restriction will be lifted"), null=True, blank=True
    )

    # Objection to direct marketing (Art. 21(2)): absolute, no reason needed; we keep how it came.
    marketing_objection_at = models.DateTimeField(_("objected to marketing"), null=True, blank=True)
    marketing_objection_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("objection recorded by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty when the person recorded it themselves."),
    )
    marketing_objection_channel = models.CharField(
        _("objection received through"),
        max_length=32,
        choices=ObjectionChannel.choices,
        blank=True,
    )

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["last_name", "first_name", "id"]
        permissions = [
            (
                "reveal_identifiers",
                _("Can see national ID and bank account masked and reveal them"),
            ),
            ("change_identifiers", _("Can set or remove national ID and bank account")),
            ("view_health_data", _("Can see accessibility and other health-related needs")),
            ("restrict_processing", _("Can restrict processing and record objections")),
        ]
        constraints = [
            # In the database, so that two concurrent signups cannot create twins. The address is
            # stored normalised (trimmed, NFC, lower-case: every service and form normalises it),
            # so "Åse@Example.no" and "åse@example.no" are one value here. Its index serves every
            # look-up by address (`with_email`).
            models.UniqueConstraint(
                fields=["email"],
                name="customer_email_unique",
                violation_error_code="duplicate_email",
                violation_error_message=_(
                    "A person with this email address is already registered."
                ),
            ),
            models.UniqueConstraint(
                fields=["national_id_index"],
                condition=~Q(national_id_index=""),
                name="customer_national_id_unique",
                violation_error_message=_("Another person has this national identity number."),
            ),
            models.CheckConstraint(
                condition=(Q(national_id_index="") & Q(bank_account_index=""))
                | ~Q(identifiers_purpose=""),
                name="customer_identifiers_have_purpose",
                violation_error_message=_("A national ID or bank account needs a purpose."),
            ),
            models.CheckConstraint(
                condition=Q(restricted_at__isnull=True) | ~Q(restriction_ground=""),
                name="customer_restriction_has_ground",
            ),
            models.CheckConstraint(
                condition=Q(email_undeliverable_at__isnull=True)
                | ~Q(email_undeliverable_reason=""),
                name="customer_undeliverable_has_reason",
            ),
        ]
        indexes = [
            # Exact look-up of a bank account by finance (refunds).
            models.Index(
                fields=["bank_account_index"],
                condition=~Q(bank_account_index=""),
                name="customer_bank_account_idx",
            ),
            # The retention rules: leads by last contact, customers by the end of the relationship.
            models.Index(fields=["kind", "last_activity_at"], name="customer_kind_activity_idx"),
            models.Index(
                fields=["relationship_ended_on"],
                condition=Q(relationship_ended_on__isnull=False),
                name="customer_relationship_end_idx",
            ),
            # The admin changelist's order (Meta.ordering) and the counter's list of names: a page
            # is read off the index instead of sorting the whole table.
            models.Index(fields=["last_name", "first_name", "id"], name="customer_name_order_idx"),
            # A phone number typed at the counter or in the admin search, matched whole (E.164).
            models.Index(fields=["phone"], name="customer_phone_idx"),
            # The admin's "rights exercised" filter: a few people among a million.
            models.Index(
                fields=["restricted_at"],
                condition=Q(restricted_at__isnull=False),
                name="customer_restricted_idx",
            ),
            models.Index(
                fields=["marketing_objection_at"],
                condition=Q(marketing_objection_at__isnull=False),
                name="customer_objecting_idx",
            ),
            # On PostgreSQL, the admin's substring searches (email, names, postal code) have
            # trigram indexes on UPPER(column), made by migration 0003 only there.
        ]

    def __str__(self):
        return self.full_name or self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_restricted(self) -> bool:
        return self.restricted_at is not None

    @property
    def email_undeliverable(self) -> bool:
        return self.email_undeliverable_at is not None

    @property
    def objects_to_marketing(self) -> bool:
        return self.marketing_objection_at is not None
