import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from redis.exceptions import RedisError

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


# The notice versions on offer, in the cache: read on every public signup's POST, changed only
# when staff publish a wording or change a purpose (consent/apps.py forgets it then).
OFFERED_NOTICES_KEY = "consent:offered-notices"
# In case a change bypasses the models (a raw UPDATE in a shell): forgotten within the hour anyway.
OFFERED_NOTICES_SECONDS = 60 * 60


def notice_kinds(pks: Iterable[int]) -> dict[int, str]:
    """The kind of purpose of each of these notice versions whose purpose is still offered, by id;
    ids of any other are left out. Any version counts: the page may have been loaded before staff
    published a newer wording, and the person consents to the one they read. Whatever records the
    consent checks the offer again (newsletters.services)."""
    offered = _offered_notice_kinds()
    return {pk: offered[pk] for pk in pks if pk in offered}


def _offered_notice_kinds() -> dict[int, str]:
    try:
        offered = cache.get(OFFERED_NOTICES_KEY)
    except RedisError:
        offered = None  # the cache is down: the database answers, as it does on a miss
    if offered is None:
        offered = dict(
            NoticeVersion.objects.filter(purpose__is_active=True).values_list("pk", "purpose__kind")
        )
        with contextlib.suppress(RedisError):
            cache.set(OFFERED_NOTICES_KEY, offered, timeout=OFFERED_NOTICES_SECONDS)
    return offered


def offered_notices_changed() -> None:
    """A purpose or a wording changed: the next signup reads the offer from the database."""
    with contextlib.suppress(RedisError):
        cache.delete(OFFERED_NOTICES_KEY)


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
