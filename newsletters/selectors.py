"""Reads that the campaign pages, the dashboard and the audit need."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q

from consent.models import ConsentEvent

from .campaigns import campaign_audience
from .models import Campaign, Delivery

_SENT = Q(status=Delivery.Status.SENT)


@dataclass(frozen=True)
class CampaignFigures:
    """What became of a campaign's messages. `sent` were handed to the mail server; of those,
    `hard_bounced` and `soft_bounced` came back, `delivered` did not; `failed` adds the messages the
    server refused outright; `unsubscribed` counts recipients who withdrew from the campaign's list
    after it reached them, by any means; `opened` only people with open-tracking consent."""

    campaign_id: int
    sent: int = 0
    failed_to_send: int = 0
    hard_bounced: int = 0
    soft_bounced: int = 0
    complained: int = 0
    unsubscribed: int = 0
    opened: int = 0

    @property
    def bounced(self) -> int:
        return self.hard_bounced + self.soft_bounced

    @property
    def delivered(self) -> int:
        return self.sent - self.bounced

    @property
    def failed(self) -> int:
        return self.failed_to_send + self.bounced

    def _rate(self, count: int) -> float:
        return count / self.sent if self.sent else 0.0

    @property
    def bounce_rate(self) -> float:
        return self._rate(self.bounced)

    @property
    def hard_bounce_rate(self) -> float:
        return self._rate(self.hard_bounced)

    @property
    def complaint_rate(self) -> float:
        return self._rate(self.complained)

    @property
    def bounce_percent(self) -> float:
        return round(100 * self.bounce_rate, 2)

    @property
    def hard_bounce_percent(self) -> float:
        return round(100 * self.hard_bounce_rate, 2)

    @property
    def complaint_percent(self) -> float:
        return round(100 * self.complaint_rate, 2)

    @property
    def complaint_warning(self) -> bool:
        return self.complaint_rate > settings.NEWSLETTER_COMPLAINT_RATE_WARNING

    @property
    def hard_bounce_warning(self) -> bool:
        return self.hard_bounce_rate > settings.NEWSLETTER_HARD_BOUNCE_RATE_WARNING


def warning_limits() -> dict[str, float]:
    """The warning thresholds, in per cent, for the pages that show them."""
    return {
        "complaint": round(100 * settings.NEWSLETTER_COMPLAINT_RATE_WARNING, 2),
        "hard_bounce": round(100 * settings.NEWSLETTER_HARD_BOUNCE_RATE_WARNING, 2),
    }


def campaigns_figures(campaign_ids) -> dict[int, CampaignFigures]:
    """The figures of several campaigns in one grouped query over their deliveries."""
    withdrew = ConsentEvent.objects.filter(
        customer=OuterRef("customer_id"),
        purpose=OuterRef("campaign__purpose_id"),
        action=ConsentEvent.Action.WITHDRAWN,
        at__gte=OuterRef("sent_at"),
    )
    rows = (
        Delivery.objects.filter(campaign__in=list(campaign_ids))
        .values("campaign")
        .order_by("campaign")
        .annotate(
            sent=Count("pk", filter=_SENT),
            failed_to_send=Count("pk", filter=Q(status=Delivery.Status.FAILED)),
            hard_bounced=Count("pk", filter=_SENT & Q(bounce=Delivery.Bounce.HARD)),
            soft_bounced=Count("pk", filter=_SENT & Q(bounce=Delivery.Bounce.SOFT)),
            complained=Count("pk", filter=Q(complained_at__isnull=False)),
            unsubscribed=Count("pk", filter=_SENT & Q(Exists(withdrew))),
            opened=Count("pk", filter=Q(first_opened_at__isnull=False)),
        )
    )
    figures = {pk: CampaignFigures(campaign_id=pk) for pk in campaign_ids}
    for row in rows:
        pk = row.pop("campaign")
        figures[pk] = CampaignFigures(campaign_id=pk, **row)
    return figures


def campaign_figures(campaign: Campaign) -> CampaignFigures:
    return campaigns_figures([campaign.pk])[campaign.pk]


def campaigns_recent(limit: int = 10):
    """The dashboard's campaigns: the last ones that went out."""
    return Campaign.objects.filter(
        status__in=[Campaign.Status.SENDING, Campaign.Status.SENT]
    ).order_by("-scheduled_at", "-pk")[:limit]


@dataclass(frozen=True)
class LanguageCount:
    language: str  # the recipients' language
    label: str
    people: int
    text_language: str  # the text they get: their own, or the house's where none is written
    text_label: str


def campaign_audience_by_language(campaign: Campaign) -> list[LanguageCount]:
    """How many people the audience holds now, per language, and which text each group gets."""
    counts = dict(
        campaign_audience(campaign)
        .order_by()
        .values_list("preferred_language")
        .annotate(n=Count("pk", distinct=True))
    )
    written = set(campaign.texts.values_list("language", flat=True))
    labels = dict(settings.LANGUAGES)
    result = []
    for code, label in settings.LANGUAGES:
        text_language = code if code in written else settings.LANGUAGE_CODE
        result.append(
            LanguageCount(
                language=code,
                label=str(label),
                people=counts.get(code, 0),
                text_language=text_language,
                text_label=str(labels[text_language]),
            )
        )
    return result
