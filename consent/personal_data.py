from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from concerthouse.privacy.map import (
    Category,
    Declaration,
    Erasure,
    LegalBasis,
    Retention,
    register,
)
from concerthouse.privacy.person import Right, on_right, register_standing_consent

from .models import MARKETING_KINDS, Channel, Consent, ConsentEvent
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
        owned_by=_of,
        made_at="at",
        erasure=Erasure.DELETE,
        retention=_KEPT_WITH_PERSON,
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
        owned_by=_of,
        made_at="changed_at",
        erasure=Erasure.DELETE,
        retention=_KEPT_WITH_PERSON,
        provided_by_person=frozenset({"purpose", "state", "confirmed_at"}),
    )
)


def _withdraw_marketing(*, person, actor, **details):
    # Art. 21(3): after an objection no marketing at all, so no consent to it may stand either.
    consents_withdraw_marketing(customer=person, channel=Channel.PRIVACY_REQUEST, actor=actor)


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
