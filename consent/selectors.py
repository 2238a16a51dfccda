from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import QuerySet

from customers.models import Customer

from .models import Consent, ConsentEvent, NoticeVersion, Purpose


def notice_current(*, purpose: Purpose, language: str) -> NoticeVersion | None:
    """The newest wording of a purpose in a language, else in the house's language, else any."""
    return notices_current(purposes=[purpose], language=language).get(purpose.pk)


def notices_current(*, purposes, language: str) -> dict[int, NoticeVersion]:
    """`notice_current` for several purposes, in one query."""
    by_purpose: dict[int, dict[str, NoticeVersion]] = {}
    for notice in NoticeVersion.objects.filter(purpose__in=purposes).order_by("version"):
        by_purpose.setdefault(notice.purpose_id, {})[notice.language] = notice  # newest wins
    result = {}
    for purpose_id, by_language in by_purpose.items():
        result[purpose_id] = (
            by_language.get(language)
            or by_language.get(settings.LANGUAGE_CODE)
            or next(iter(by_language.values()))
        )
    return result


def notice_kinds(pks: Iterable[int]) -> dict[int, str]:
    """The kind of purpose of each of these notice versions whose purpose is still offered, by id;
    ids of any other are left out. Any version counts: the page may have been loaded before staff
    published a newer wording, and the person consents to the one they read. (One query by
    primary key; whatever records the consent checks the offer again: newsletters.services.)"""
    return dict(
        NoticeVersion.objects.filter(pk__in=pks, purpose__is_active=True).values_list(
            "pk", "purpose__kind"
        )
    )


def purposes_offered(*, kinds) -> QuerySet:
    """Active purposes of these kinds that have a notice, in the order staff gave them."""
    return Purpose.objects.filter(kind__in=kinds, is_active=True, notices__isnull=False).distinct()


def people_consenting(*, purpose: Purpose | int) -> QuerySet:
    """People with confirmed consent to a purpose who may be marketed to at all: not restricted
    and not objecting. Consent never overrides restriction or an objection."""
    return Customer.objects.marketable().filter(
        consents__purpose=purpose, consents__state=Consent.State.CONFIRMED
    )


@dataclass(frozen=True)
class ConsentSnapshot:
    purpose: Purpose
    state: str  # a Consent.State value
    notice: NoticeVersion
    since: datetime


def consent_replay(*, customer: Customer, at: datetime) -> list[ConsentSnapshot]:
    """What the person had agreed to at a moment, and on which wording, from the ledger alone."""
    state_after = {
        ConsentEvent.Action.GIVEN: Consent.State.PENDING,
        ConsentEvent.Action.CONFIRMED: Consent.State.CONFIRMED,
        ConsentEvent.Action.WITHDRAWN: Consent.State.WITHDRAWN,
    }
    latest: dict[int, ConsentEvent] = {}
    events = customer.consent_events.filter(at__lte=at).select_related("purpose", "notice")
    for event in events.order_by("at", "id"):
        latest[event.purpose_id] = event
    return [
        ConsentSnapshot(
            purpose=event.purpose,
            state=state_after[event.action],
            notice=event.notice,
            since=event.at,
        )
        for event in latest.values()
    ]
