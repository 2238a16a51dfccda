"""Consent: what a person agreed to, on which wording, when and how (GDPR Art. 7(1)).

`ConsentEvent` is the ledger: append-only, one row per given, confirmed or withdrawn consent, each
pointing at the exact `NoticeVersion` the person was shown. `Consent` is the current state derived
from it, one row per person and purpose, written in the same transaction as the event so that the
audience of a campaign is one indexed join instead of a replay of the ledger.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from concerthouse.models import TimeStampedModel


class Purpose(TimeStampedModel):
    """One thing a person can consent to: a newsletter list, offers, surveys, and so on."""

    class Kind(models.TextChoices):
        NEWSLETTER = "newsletter", _("Newsletter list")
        OFFERS = "offers", _("Offers")
        SURVEYS = "surveys", _("Surveys")
        AD_MATCHING = "ad_matching", _("Ad-audience matching")
        OPEN_TRACKING = "open_tracking", _("Email open tracking")
        ACCESSIBILITY = "accessibility", _("Accessibility data")

    code = models.SlugField(_("code"), max_length=50, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    name = models.CharField(
        _("name"), max_length=100, help_text=_("For staff; people see the notice text.")
    )
    is_active = models.BooleanField(
        _("offered on the public forms"),
        default=True,
        help_text=_("An inactive purpose keeps its consents but is offered to nobody new."),
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("consent purpose")
        verbose_name_plural = _("consent purposes")
        ordering = ["position", "name"]
        constraints = [
            # Every kind but newsletter lists exists once: "offers" is one consent, not several.
            models.UniqueConstraint(
                fields=["kind"], condition=~Q(kind="newsletter"), name="purpose_single_kind"
            ),
        ]

    def __str__(self):
        return self.name


# Purposes whose email a campaign may send, and which an objection to direct marketing (Art. 21(2))
# ends together with ad matching and open tracking. Accessibility data serves the contract, not
# marketing, and is withdrawn on its own.
EMAIL_KINDS = (Purpose.Kind.NEWSLETTER, Purpose.Kind.OFFERS, Purpose.Kind.SURVEYS)
MARKETING_KINDS = (*EMAIL_KINDS, Purpose.Kind.AD_MATCHING, Purpose.Kind.OPEN_TRACKING)


class NoticeVersion(models.Model):
    """The wording a person is shown for a purpose, in one language. Never edited: a change of
    wording is a new version, so that the ledger always points at what the person actually read."""

    purpose = models.ForeignKey(
        Purpose, on_delete=models.PROTECT, related_name="notices", verbose_name=_("purpose")
    )
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    version = models.PositiveIntegerField(_("version"))
    label = models.CharField(
        _("checkbox text"), max_length=200, help_text=_("The text beside the box people tick.")
    )
    text = models.TextField(
        _("notice text"), help_text=_("What the consent covers, shown beside the box.")
    )
    published_at = models.DateTimeField(_("published"), default=timezone.now)

    class Meta:
        verbose_name = _("notice version")
        verbose_name_plural = _("notice versions")
        ordering = ["purpose", "language", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["purpose", "language", "version"], name="notice_version_unique"
            ),
        ]

    def __str__(self):
        return f"{self.purpose} ({self.language}) v{self.version}"


class Channel(models.TextChoices):
    WEB_SIGNUP = "web_signup", _("Newsletter signup form")
    PREFERENCE_CENTRE = "preference_centre", _("Preference centre")
    ONE_CLICK_UNSUBSCRIBE = "one_click_unsubscribe", _("One-click unsubscribe")
    BOOKING_FORM = "booking_form", _("Season subscription form")
    COUNTER_OR_PHONE = "counter_or_phone", _("At the counter or by phone")
    PRIVACY_REQUEST = "privacy_request", _("Privacy request")
    MARKETING_OBJECTION = "marketing_objection", _("Objection to direct marketing")
    # Mail that comes back (newsletters/inbound.py): a mail to the List-Unsubscribe mailto, and a
    # spam complaint forwarded by the person's mailbox provider (ARF), an unsubscribe by the person.
    MAIL_UNSUBSCRIBE = "mail_unsubscribe", _("Unsubscribe by email")
    SPAM_COMPLAINT = "spam_complaint", _("Spam complaint through the mailbox provider")


class Consent(models.Model):
    """The current state of one person's consent to one purpose, kept in step with the ledger."""

    class State(models.TextChoices):
        PENDING = "pending", _("Given, waiting for confirmation")
        CONFIRMED = "confirmed", _("Confirmed")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="consents",
        verbose_name=_("customer"),
    )
    purpose = models.ForeignKey(
        Purpose, on_delete=models.PROTECT, related_name="consents", verbose_name=_("purpose")
    )
    state = models.CharField(_("state"), max_length=16, choices=State.choices)
    notice = models.ForeignKey(
        NoticeVersion, on_delete=models.PROTECT, related_name="+", verbose_name=_("notice shown")
    )
    changed_at = models.DateTimeField(_("changed"))
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        constraints = [
            models.UniqueConstraint(fields=["customer", "purpose"], name="consent_one_per_purpose"),
        ]
        indexes = [
            # A campaign's audience: the people with confirmed consent to one purpose.
            models.Index(
                fields=["purpose", "customer"],
                condition=Q(state="confirmed"),
                name="consent_confirmed_idx",
            ),
        ]

    def __str__(self):
        return f"{self.purpose}: {self.get_state_display()}"


class ConsentEvent(models.Model):
    """One entry of the append-only consent ledger (Art. 7(1): the house must be able to show
    that the person consented, to what, on which wording)."""

    class Action(models.TextChoices):
        GIVEN = "given", _("Given")
        CONFIRMED = "confirmed", _("Confirmed")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="consent_events",
        verbose_name=_("customer"),
    )
    purpose = models.ForeignKey(
        Purpose, on_delete=models.PROTECT, related_name="+", verbose_name=_("purpose")
    )
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    notice = models.ForeignKey(
        NoticeVersion, on_delete=models.PROTECT, related_name="+", verbose_name=_("notice shown")
    )
    channel = models.CharField(_("channel"), max_length=32, choices=Channel.choices)
    at = models.DateTimeField(_("time"), default=timezone.now)
    evidence = models.CharField(
        _("evidence"),
        max_length=200,
        blank=True,
        help_text=_("What proves it, such as the confirmation link's reference; never a password."),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty when the person acted themselves."),
    )

    class Meta:
        verbose_name = _("consent event")
        verbose_name_plural = _("consent ledger")
        ordering = ["at", "id"]
        indexes = [
            # Replaying one person's history, in order.
            models.Index(fields=["customer", "at"], name="consent_event_history_idx"),
            # The ledger's changelist: its order (Meta.ordering) and its year filter.
            models.Index(fields=["at", "id"], name="consent_event_at_idx"),
        ]

    def __str__(self):
        return f"{self.purpose}: {self.get_action_display()} ({self.at:%Y-%m-%d %H:%M})"
