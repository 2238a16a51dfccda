from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from concerthouse.privacy.map import (
    Category,
    Declaration,
    Erasure,
    Flow,
    LegalBasis,
    Processing,
    RecipientKind,
    Retention,
    Rule,
    Subject,
    days,
    in_words,
    months,
    register,
    years,
)
from concerthouse.privacy.person import (
    PersonAdapter,
    Right,
    on_right,
    register_person,
    register_subject,
    standing_consent,
)

from . import services
from .models import RESTRICTED, Customer, ticket_agent_code

register_person(
    PersonAdapter(
        with_email=lambda email: Customer.objects.with_email(email),
        restricted=lambda: RESTRICTED,
        restriction_grounds=lambda: Customer.RestrictionGround.choices,
        lift_notice_sent=lambda person: person.restriction_lift_notice_sent_at,
    )
)

# Who is a customer and who a prospect: the kind and the source say so. Newsletter readers are
# consent's to say, requesters the privacy requests'.
register_subject(Subject.CUSTOMER, lambda: Q(kind=Customer.Kind.CUSTOMER))
register_subject(
    Subject.PROSPECT, lambda: Q(kind=Customer.Kind.LEAD, source=Customer.Source.FAIR_OR_MEETING)
)


def _without_consent() -> Q:
    """A confirmed consent to hear from us is the person's wish to stay (Harmonien: "samtykke til
    videre lagring"): while one stands, the person is kept whatever the dates say. Which consents
    those are, the consent app says (consent/personal_data.py)."""
    return ~standing_consent()


def _lead_expired(now) -> Q:
    """Harmonien: deleted within three years of the last contact, unless a customer relationship
    is established or consent to further storage is given."""
    cutoff = now - relativedelta(years=settings.RETENTION_LEAD_YEARS)
    return Q(kind=Customer.Kind.LEAD, last_activity_at__lt=cutoff) & _without_consent()


def relationship_ended_long_enough(now, prefix: str = "") -> Q:
    """Customers (reached through `prefix`, e.g. "customer__") whose relationship ended more than
    the house's period ago, counted in the house's days."""
    today = timezone.localdate(now)
    cutoff = today - relativedelta(months=settings.RETENTION_ENDED_CUSTOMER_MONTHS)
    return Q(
        **{f"{prefix}kind": Customer.Kind.CUSTOMER, f"{prefix}relationship_ended_on__lt": cutoff}
    )


def _ended_customer_expired(now) -> Q:
    """The relationship ended more than the house's period ago. A standing marketing consent
    keeps the person and what the newsletter needs; their contracts go all the same (the
    subscriptions' own rule, subscriptions.ended_contracts)."""
    return relationship_ended_long_enough(now) & _without_consent()


def _lead_retention() -> str:
    return _(
        "Deleted %(period)s after the last contact, unless you become a customer or consent to "
        "hear from us."
    ) % {"period": years(settings.RETENTION_LEAD_YEARS)}


def _person_retention() -> str:
    return " ".join(
        [
            _(
                "Customers: deleted %(period)s after the last season subscription ends, except "
                "the accounting records the law makes us keep."
            )
            % {"period": months(settings.RETENTION_ENDED_CUSTOMER_MONTHS)},
            _("Prospects and others we have been in contact with: %(rule)s")
            % {"rule": _lead_retention()},
            _(
                "Someone who signed up for a newsletter, never confirmed it and is not otherwise "
                "known to us: deleted %(period)s after signing up."
            )
            % {"period": days(settings.RETENTION_UNCONFIRMED_SIGNUP_DAYS)},
            str(_("While a consent to hear from us stands, your contact details stay.")),
        ]
    )


register(
    Declaration(
        model=Customer,
        fields={
            "email": Category.CONTACT,
            "first_name": Category.CONTACT,
            "last_name": Category.CONTACT,
            "phone": Category.CONTACT,
            "street_address": Category.CONTACT,
            "postal_code": Category.CONTACT,
            "city": Category.CONTACT,
            "country": Category.CONTACT,
            "preferred_language": Category.CONTACT,
            "kind": Category.BEHAVIOURAL,
            "source": Category.BEHAVIOURAL,
            "source_detail": Category.BEHAVIOURAL,
            "relationship_started_on": Category.BEHAVIOURAL,
            "relationship_ended_on": Category.BEHAVIOURAL,
            "last_activity_at": Category.BEHAVIOURAL,
            "national_id": Category.IDENTITY,
            "bank_account": Category.FINANCIAL,
            "identifiers_purpose": Category.IDENTITY,
            "restricted_at": Category.BEHAVIOURAL,
            "restriction_ground": Category.BEHAVIOURAL,
            "restriction_lift_notice_sent_at": Category.BEHAVIOURAL,
            "marketing_objection_at": Category.BEHAVIOURAL,
            "marketing_objection_channel": Category.BEHAVIOURAL,
            "email_undeliverable_at": Category.CONTACT,
            "email_undeliverable_reason": Category.CONTACT,
            "created_at": Category.BEHAVIOURAL,
        },
        purpose=_("Keeping in touch with our audience"),
        legal_basis=LegalBasis.CONTRACT,
        owned_by=lambda people: Q(pk__in=people.values("pk")),
        person=(("pk", "pk"),),
        made_at="created_at",
        # A person a ticket agent's file brought in: the agent sold them the tickets, and holds
        # what it passed on.
        flows=(
            Flow(
                kind=RecipientKind.TICKET_AGENT,
                rows=Q(source=Customer.Source.TICKET_AGENT),
                at="created_at",
                code="source_detail",
                code_of=ticket_agent_code,
            ),
        ),
        erasure=Erasure.DELETE,
        # Contact details serve a purpose for each kind of person: the contract of a customer
        # (subscriptions adds it), each newsletter of a reader (consent adds it), and these two.
        processing=(
            Processing(
                purpose=_(
                    "Telling people who showed an interest in our concerts about the concerts "
                    "they may want to hear"
                ),
                legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
                applies_to=(Subject.PROSPECT,),
                categories=(Category.CONTACT, Category.BEHAVIOURAL),
                interest=_(
                    "Marketing our concerts to people we met at a fair or a meeting or who "
                    "wrote to us, who can expect to hear from us about them"
                ),
                retention=in_words(_lead_retention),
            ),
            Processing(
                purpose=_(
                    "Keeping a record of our contact with you, to answer questions about it and "
                    "to respect the choices you made, such as not to receive our newsletters"
                ),
                legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
                applies_to=(Subject.OTHER,),
                categories=(Category.CONTACT, Category.BEHAVIOURAL),
                interest=_(
                    "Answering for our contact with you and honouring your choices until the "
                    "record is deleted"
                ),
                retention=in_words(_lead_retention),
            ),
        ),
        retention=Retention(
            in_words(_person_retention),
            rules=(
                Rule(
                    code="customers.leads",
                    label=_("Leads with no customer relationship or consent"),
                    expired=_lead_expired,
                ),
                # customers.unconfirmed, for people only an unconfirmed newsletter signup brought
                # in, is added by newsletters/personal_data.py, which knows about signups.
                Rule(
                    code="customers.ended",
                    label=_("Customers whose relationship ended"),
                    expired=_ended_customer_expired,
                ),
            ),
        ),
        rectifiable=services.CONTACT_FIELDS,
        rectify=lambda customer, changes, actor: services.customer_update(
            customer=customer, actor=actor, **changes
        ),
        provided_by_person=frozenset(
            {
                "email",
                "first_name",
                "last_name",
                "phone",
                "street_address",
                "postal_code",
                "city",
                "country",
                "preferred_language",
                "national_id",
                "bank_account",
            }
        ),
    )
)


def _restrict(*, person, actor, ground, **details):
    services.customer_restrict(customer=person, actor=actor, ground=ground)


def _announce_lift(*, person, actor, **details):
    services.customer_announce_restriction_lift(customer=person, actor=actor)


def _lift_restriction(*, person, actor, **details):
    services.customer_lift_restriction(customer=person, actor=actor)


def _object(*, person, actor, channel=Customer.ObjectionChannel.PRIVACY_REQUEST, **details):
    services.customer_object_to_marketing(customer=person, actor=actor, channel=channel)


on_right(Right.RESTRICTION, _restrict)
on_right(Right.LIFT_NOTICE, _announce_lift)
on_right(Right.LIFT_RESTRICTION, _lift_restriction)
on_right(Right.OBJECTION, _object)
