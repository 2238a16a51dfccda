from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from concerthouse.personal_data_map import (
    Category,
    Declaration,
    Erasure,
    LegalBasis,
    Retention,
    Right,
    on_right,
    register,
)

from .models import Channel, Consent, ConsentEvent
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
        erasure=Erasure.DELETE,
        retention=_KEPT_WITH_PERSON,
        provided_by_person=frozenset({"purpose", "state", "confirmed_at"}),
    )
)


def _withdraw_marketing(*, person, actor, **details):
    # Art. 21(3): after an objection no marketing at all, so no consent to it may stand either.
    consents_withdraw_marketing(customer=person, channel=Channel.PRIVACY_REQUEST, actor=actor)


on_right(Right.OBJECTION, _withdraw_marketing)
