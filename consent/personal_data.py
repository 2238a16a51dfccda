from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from concerthouse.privacy.map import (
    Category,
    Declaration,
    Erasure,
    LegalBasis,
    Processing,
    Retention,
    Subject,
    add_processing,
    days,
    in_words,
    register,
)
from concerthouse.privacy.person import (
    Right,
    on_right,
    person_model,
    register_standing_consent,
    register_subject,
)

from .models import EMAIL_KINDS, MARKETING_KINDS, Channel, Consent, ConsentEvent
from .selectors import notices_current, purposes_offered
from .services import consents_withdraw_marketing


def _of(people) -> Q:
    return Q(customer__in=people.values("pk"))


_KEPT_WITH_PERSON = Retention(
    _(
        "Kept as long as we hold your other data, so that we can show what you agreed to; "
        "deleted with it."
    )
)

register(
    Declaration(
        model=ConsentEvent,
        fields={
            "purpose": Category.CONSENT_EVIDENCE,
            "action": Category.CONSENT_EVIDENCE,
            "notice": Category.CONSENT_EVIDENCE,
            "channel": Category.CONSENT_EVIDENCE,
            "at": Category.CONSENT_EVIDENCE,
            "evidence": Category.CONSENT_EVIDENCE,
        },
        purpose=_("Proving which consents you gave or withdrew, when, and on which wording"),
        # The wording itself, so that the access report can show what the person agreed to.
        export_related=(
            "purpose__code",
            "notice__language",
            "notice__version",
            "notice__label",
            "notice__text",
        ),
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        subjects=(Subject.READER, Subject.CUSTOMER, Subject.OTHER),
        owned_by=_of,
        made_at="at",
        erasure=Erasure.DELETE,
        retention=_KEPT_WITH_PERSON,
        words={"purpose": "notice__label", "notice": "notice__version"},
    )
)

register(
    Declaration(
        model=Consent,
        fields={
            "purpose": Category.CONSENT_EVIDENCE,
            "state": Category.CONSENT_EVIDENCE,
            "notice": Category.CONSENT_EVIDENCE,
            "changed_at": Category.CONSENT_EVIDENCE,
            "confirmed_at": Category.CONSENT_EVIDENCE,
        },
        purpose=_("Sending you only what you asked for, and nothing after you withdraw"),
        export_related=("purpose__code",),
        legal_basis=LegalBasis.CONSENT,
        subjects=(Subject.READER, Subject.CUSTOMER, Subject.OTHER),
        owned_by=_of,
        made_at="changed_at",
        erasure=Erasure.DELETE,
        retention=_KEPT_WITH_PERSON,
        provided_by_person=frozenset({"purpose", "state", "confirmed_at"}),
        words={"purpose": "notice__label", "notice": "notice__version"},
        natural_keys={"purpose": "purpose__code"},
    )
)


# --- Newsletter readers and their consents, one by one -------------------------------------------
def _reading() -> Q:
    """A newsletter reader: someone who gave (and perhaps has yet to confirm) a consent to one of
    our emails."""
    holds = Consent.objects.filter(
        customer=OuterRef("pk"),
        purpose__kind__in=EMAIL_KINDS,
        state__in=[Consent.State.PENDING, Consent.State.CONFIRMED],
    )
    return Q(Exists(holds))


register_subject(Subject.READER, _reading)


def _email_consents(person) -> list[str]:
    """Each email consent in words: for the notice, every one on offer; for a person, theirs with
    its state and date. Each is a consent of its own (Art. 6(1)(a)), withdrawn on its own."""
    language = get_language() or settings.LANGUAGE_CODE
    if person is None:
        purposes = list(purposes_offered(kinds=EMAIL_KINDS))
        notices = notices_current(purposes=purposes, language=language)
        return [notices[p.pk].label for p in purposes if p.pk in notices]
    consents = (
        Consent.objects.filter(customer=person, purpose__kind__in=EMAIL_KINDS)
        .select_related("purpose", "notice")
        .order_by("purpose__position", "purpose__name")
    )
    zone = timezone.get_current_timezone()
    return [
        f"{c.notice.label}: {c.get_state_display()} "
        f"({timezone.localtime(c.changed_at, zone):%Y-%m-%d})"
        for c in consents
    ]


def _reader_retention() -> str:
    return _(
        "As long as your consent stands. A signup never confirmed is deleted %(period)s after "
        "it was made."
    ) % {"period": days(settings.RETENTION_UNCONFIRMED_SIGNUP_DAYS)}


# The contact details a newsletter is sent to serve that newsletter, on its own consent.
add_processing(
    person_model(),
    Processing(
        purpose=_("Sending you the newsletters, offers and surveys you asked for, each by email"),
        legal_basis=LegalBasis.CONSENT,
        applies_to=(Subject.READER,),
        categories=(Category.CONTACT,),
        retention=in_words(_reader_retention),
        items=_email_consents,
    ),
)


def _withdraw_marketing(*, person, actor, channel="", **details):
    # Art. 21(3): after an objection no marketing at all, so no consent to it may stand either.
    consents_withdraw_marketing(
        customer=person,
        channel=Channel.MARKETING_OBJECTION,
        evidence=f"objection received through {channel}" if channel else "objection",
        actor=actor,
    )


on_right(Right.OBJECTION, _withdraw_marketing)


def _confirmed_marketing_consent() -> Q:
    """A confirmed consent to hear from us is the person's wish to stay (Harmonien: "samtykke til
    videre lagring"): while one stands, no retention rule of the person's own deletes them. The
    Art. 9 consent for seating needs is not one: it serves a season, and goes with it."""
    confirmed = Consent.objects.filter(
        customer=OuterRef("pk"),
        state=Consent.State.CONFIRMED,
        purpose__kind__in=MARKETING_KINDS,
    )
    return Q(Exists(confirmed))


register_standing_consent(_confirmed_marketing_consent)
