"""Seasons, series and concerts; season subscriptions (abonnemang: a contract, not a newsletter);
seating needs under explicit consent; orders and payments as accounting records; ticket-agent imports.
"""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from concerthouse.encryption import EncryptedTextField
from concerthouse.models import TimeStampedModel

from . import accounting


def house_country() -> str:
    return settings.HOUSE_COUNTRY


def house_currency() -> str:
    return accounting.CURRENCIES.get(settings.HOUSE_COUNTRY, "EUR")


class Season(models.Model):
    name = models.CharField(_("name"), max_length=100, help_text=_("For example 2026/27."))
    starts_on = models.DateField(_("starts"))
    ends_on = models.DateField(
        _("ends"), help_text=_("Seating needs recorded for the season are deleted after this day.")
    )

    class Meta:
        verbose_name = _("season")
        verbose_name_plural = _("seasons")
        ordering = ["-starts_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")), name="season_ends_after_start"
            )
        ]

    def __str__(self):
        return self.name


class Series(models.Model):
    """A set of concerts sold together as one subscription, such as the Thursday series."""

    season = models.ForeignKey(
        Season, on_delete=models.PROTECT, related_name="series", verbose_name=_("season")
    )
    code = models.SlugField(
        _("code"),
        max_length=50,
        unique=True,
        help_text=_("The code ticket agents' files use for this series."),
    )
    name = models.CharField(_("name"), max_length=100)
    price_per_seat = models.DecimalField(_("price per seat"), max_digits=10, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default=house_currency)
    capacity = models.PositiveIntegerField(
        _("seats for subscribers"), help_text=_("Booking stops when they are taken.")
    )
    on_sale = models.BooleanField(_("on sale on the website"), default=True)

    class Meta:
        verbose_name = _("series")
        verbose_name_plural = pgettext_lazy("plural", "series")
        ordering = ["season", "name"]

    def __str__(self):
        return f"{self.name} {self.season}"


class Concert(models.Model):
    series = models.ForeignKey(
        Series, on_delete=models.PROTECT, related_name="concerts", verbose_name=_("series")
    )
    title = models.CharField(_("title"), max_length=200)
    venue = models.CharField(_("venue"), max_length=200)
    starts_at = models.DateTimeField(_("starts"))
    information = models.TextField(
        _("practical information"),
        blank=True,
        help_text=_("Doors, cloakroom, transport: sent to subscribers a few days before."),
    )

    class Meta:
        verbose_name = _("concert")
        verbose_name_plural = _("concerts")
        ordering = ["starts_at"]
        indexes = [
            # The pre-concert mail: concerts starting in the next few days.
            models.Index(fields=["starts_at"], name="concert_starts_idx"),
        ]

    def __str__(self):
        return f"{self.title} ({self.starts_at:%Y-%m-%d})"


class Order(models.Model):
    """An accounting record (a verifikation / bilag): kept under the bookkeeping hold.

    The buyer as the record needs them (the counterparty: name and postal address) is copied onto
    the order, so that erasing the person removes their customer record and everything else while
    the accounting record stays complete; the link to the person is set to NULL.
    """

    class Channel(models.TextChoices):
        WEB = "web", _("Website")
        BOX_OFFICE = "box_office", _("Box office")
        TICKET_AGENT = "ticket_agent", _("Ticket agent")

    reference = models.CharField(_("reference"), max_length=64, unique=True)
    customer = models.ForeignKey(
        "customers.Customer",
        # The bookkeeping hold outlives the person's record (Bokföringslagen, bokføringsloven).
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name=_("customer"),
    )
    # A first and a last name of a customer (150 characters each) and the space between.
    buyer_name = models.CharField(_("buyer"), max_length=301)
    buyer_address = models.CharField(_("buyer's address"), max_length=400, blank=True)
    description = models.CharField(_("description"), max_length=300)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    ordered_on = models.DateField(_("order date"))
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    # Which statute keeps it, and until when, are fixed when the record is made.
    country = models.CharField(_("house country"), max_length=2, default=house_country)
    financial_year_ends_on = models.DateField(_("end of the financial year"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-ordered_on", "-id"]
        indexes = [
            # The retention purge: records whose hold has ended.
            models.Index(fields=["country", "financial_year_ends_on"], name="order_hold_idx"),
            # The changelist's order (Meta.ordering) and its year filter; its currency filter
            # (concerthouse.admin.IndexedValuesFilter). On PostgreSQL the search by reference and
            # buyer has trigram indexes too, made by migration 0003 only there.
            models.Index(fields=["ordered_on", "id"], name="order_date_idx"),
            models.Index(fields=["currency", "ordered_on"], name="order_currency_idx"),
        ]

    def __str__(self):
        return self.reference

    @property
    def held_until(self):
        """The last day the order must be kept: its own financial year's hold, or a later
        payment's (a refund in the next year is a record of that year, and refers to the order)."""
        own = accounting.held_until(
            country=self.country, financial_year_ends_on=self.financial_year_ends_on
        )
        return max([own, *(payment.held_until for payment in self.payments.all())])


class Payment(models.Model):
    class Method(models.TextChoices):
        CARD = "card", _("Card")
        CASH = "cash", _("Cash")
        INVOICE = "invoice", _("Invoice")
        MOBILE = "mobile", _("Swish or Vipps")
        TICKET_AGENT = "ticket_agent", _("Paid to the ticket agent")

    class Kind(models.TextChoices):
        PAYMENT = "payment", _("Payment")
        REFUND = "refund", _("Refund")

    order = models.ForeignKey(
        # Part of the same accounting record, under the same hold: they go together.
        Order,
        on_delete=models.CASCADE,
        related_name="payments",
        verbose_name=_("order"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.PAYMENT)
    method = models.CharField(_("method"), max_length=16, choices=Method.choices)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    paid_on = models.DateField(_("date"))
    # A payment is a record of the financial year it was made in, which may be later than its
    # order's (a refund in January): fixed when it is made, as on the order.
    financial_year_ends_on = models.DateField(_("end of the financial year"))
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["paid_on", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive")
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount} {self.currency} ({self.paid_on})"

    @property
    def held_until(self):
        return accounting.held_until(
            country=self.order.country, financial_year_ends_on=self.financial_year_ends_on
        )


class SeasonSubscription(TimeStampedModel):
    """A season subscription: the contract that makes a person a customer."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        CANCELLED = "cancelled", pgettext_lazy("subscription", "Cancelled")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    reference = models.CharField(_("booking reference"), max_length=16, unique=True)
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="season_subscriptions",
        verbose_name=_("customer"),
    )
    series = models.ForeignKey(
        Series, on_delete=models.PROTECT, related_name="subscriptions", verbose_name=_("series")
    )
    seats = models.PositiveSmallIntegerField(
        _("seats"), validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    price = models.DecimalField(_("price"), max_digits=10, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Order.Channel.choices)
    booked_at = models.DateTimeField(_("booked"))
    ends_on = models.DateField(_("ends"), help_text=_("The last day of the season."))
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    order = models.ForeignKey(
        Order,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("order"),
    )
    confirmation_sent_at = models.DateTimeField(_("confirmation sent"), null=True, blank=True)
    # The form's one-time key: a double click or a resent POST books once.
    booking_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("booked by"),
        help_text=_("Empty when the person booked on the website or through a ticket agent."),
    )

    class Meta:
        verbose_name = _("season subscription")
        verbose_name_plural = _("season subscriptions")
        ordering = ["-booked_at"]
        permissions = [("book_at_counter", _("Can book and cancel subscriptions at the counter"))]
        indexes = [
            # The pre-concert mail and the seat count: a series' active subscriptions.
            models.Index(
                fields=["series", "customer"],
                condition=Q(status="active"),
                name="subscription_active_idx",
            ),
            # The changelist's order (Meta.ordering, then the primary key the admin adds).
            models.Index(fields=["booked_at", "id"], name="subscription_booked_idx"),
        ]

    def __str__(self):
        return self.reference


class SeatingNeed(TimeStampedModel):
    """Accessibility needs for one season (Art. 9: health data), stored only with the explicit
    consent that allowed it (Art. 9(2)(a)); deleted with that consent and after the season."""

    class Need(models.TextChoices):
        # A short fixed list: the seat the house must arrange, never a diagnosis or free text.
        WHEELCHAIR = "wheelchair", _("Wheelchair place")
        COMPANION = "companion", _("Companion seat")
        STEP_FREE = "step_free", _("Step-free seat, no stairs")
        AISLE = "aisle", _("Aisle seat")
        HEARING_LOOP = "hearing_loop", _("Seat in the hearing-loop area")

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="seating_needs",
        verbose_name=_("customer"),
    )
    season = models.ForeignKey(
        Season, on_delete=models.PROTECT, related_name="+", verbose_name=_("season")
    )
    # The codes of Need, comma-separated, encrypted.
    needs = EncryptedTextField(_("needs"))
    # The explicit consent this row exists under: without it the row cannot be saved, and when the
    # ledger entry goes (erasure) the needs go with it.
    consent_event = models.ForeignKey(
        "consent.ConsentEvent",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("explicit consent"),
    )

    class Meta:
        verbose_name = _("seating need")
        verbose_name_plural = _("seating needs")
        constraints = [
            models.UniqueConstraint(fields=["customer", "season"], name="seating_need_per_season")
        ]

    def __str__(self):
        return f"{self.season}"

    @property
    def need_codes(self) -> list[str]:
        return [code for code in self.needs.split(",") if code]

    def get_needs_display(self) -> str:
        labels = dict(self.Need.choices)
        return ", ".join(str(labels.get(code, code)) for code in self.need_codes)


class PreConcertMail(models.Model):
    """One pre-concert information email per person and concert: the row is what makes a second
    run of the task send nothing."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")

    concert = models.ForeignKey(
        Concert, on_delete=models.CASCADE, related_name="mails", verbose_name=_("concert")
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="pre_concert_mails",
        verbose_name=_("customer"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("pre-concert email")
        verbose_name_plural = _("pre-concert emails")
        constraints = [
            models.UniqueConstraint(fields=["concert", "customer"], name="pre_concert_mail_once")
        ]
        indexes = [models.Index(fields=["concert", "status"], name="pre_concert_mail_queue_idx")]

    def __str__(self):
        return f"{self.concert}: {self.get_status_display()}"


class TicketAgentImport(models.Model):
    """A file a ticket agent sent, its progress and its outcome (counts only, no personal data)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agent = models.CharField(_("ticket agent"), max_length=100)
    file_name = models.CharField(_("file"), max_length=200)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    # Rows handled so far, committed with each batch: a killed import resumes after them.
    rows_done = models.PositiveIntegerField(_("rows read"), default=0)
    created_count = models.PositiveIntegerField(_("new people"), default=0)
    matched_count = models.PositiveIntegerField(_("people already known"), default=0)
    booked_count = models.PositiveIntegerField(_("subscriptions booked"), default=0)
    rejected_count = models.PositiveIntegerField(_("rows rejected"), default=0)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    failure = models.CharField(_("failure"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("ticket-agent import")
        verbose_name_plural = _("ticket-agent imports")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.agent} {self.created_at:%Y-%m-%d %H:%M}"


class ImportRowError(models.Model):
    """Why a row was rejected: its number and a reason, never the values in it."""

    class Reason(models.TextChoices):
        MISSING = "missing", _("A required column is empty")
        BAD_EMAIL = "bad_email", _("The email address is not valid")
        BAD_PHONE = "bad_phone", _("The phone number is not valid")
        BAD_NUMBER = "bad_number", _("Seats or amount is not a number")
        BAD_DATE = "bad_date", _("The purchase date is not a date")
        UNKNOWN_SERIES = "unknown_series", _("No series has this code")
        TOO_LONG = "too_long", _("A value is longer than allowed")
        DUPLICATE_ORDER = "duplicate_order", _("This order was imported before")
        SUPPRESSED = (
            "suppressed",
            _("The address is on the suppression list (erased or objected): not imported"),
        )
        RESTRICTED = "restricted", _("The person's processing is restricted: not changed")
        INVALID = "invalid", _("The person's details are not valid")

    run = models.ForeignKey(
        TicketAgentImport, on_delete=models.CASCADE, related_name="errors", verbose_name=_("import")
    )
    row = models.PositiveIntegerField(_("row"))
    column = models.CharField(_("column"), max_length=50, blank=True)
    reason = models.CharField(_("reason"), max_length=32, choices=Reason.choices)

    class Meta:
        verbose_name = _("rejected row")
        verbose_name_plural = _("rejected rows")
        ordering = ["run", "row"]

    def __str__(self):
        return f"{self.row}: {self.get_reason_display()}"


class SourceNotice(models.Model):
    """The Art. 14 notice owed to a person whose data came from a third party: sent within the
    month (Art. 14(3)(a)); the row is the proof, and what the sweep re-sends if a task was lost."""

    customer = models.OneToOneField(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="source_notice",
        verbose_name=_("customer"),
    )
    run = models.ForeignKey(
        TicketAgentImport,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("import"),
    )
    source = models.CharField(_("obtained from"), max_length=100)
    created_at = models.DateTimeField(_("owed since"), auto_now_add=True)
    # Set before sending, so that two senders never both send it; a claim that never became a
    # send (a worker killed mid-batch) is taken again after an hour.
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("Art. 14 notice")
        verbose_name_plural = _("Art. 14 notices")
        indexes = [
            models.Index(
                fields=["created_at"], condition=Q(sent_at__isnull=True), name="source_notice_owed"
            ),
            # The changelist's filter by source (concerthouse.admin.IndexedValuesFilter).
            models.Index(fields=["source"], name="source_notice_source_idx"),
        ]

    def __str__(self):
        return f"{self.source}: {self.sent_at or '-'}"
