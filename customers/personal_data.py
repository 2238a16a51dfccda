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
    RecipientKind,
    Retention,
    Rule,
    register,
)
from concerthouse.privacy.person import (
    PersonAdapter,
    Right,
    on_right,
    register_person,
    standing_consent,
)

from . import services
from .models import RESTRICTED, Customer, ticket_agent_code

register_person(
    PersonAdapter(
        with_email=lambda email: Customer.objects.with_email(email),
        restricted=lambda: RESTRICTED,
        restriction_grounds=lambda: Customer.RestrictionGround.choices,
    )
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
            "marketing_objection_at": Category.BEHAVIOURAL,
            "marketing_objection_channel": Category.BEHAVIOURAL,
            "email_undeliverable_at": Category.CONTACT,
            "email_undeliverable_reason": Category.CONTACT,
            "created_at": Category.BEHAVIOURAL,
        },
        purpose=_(
            "Keeping in touch with our audience: managing season subscriptions and bookings, "
            "sending the newsletters you asked for, and answering your questions"
        ),
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
        retention=Retention(
            _(
                "Prospects we met at fairs, meetings or by correspondence: deleted three years "
                "after the last contact unless you become a customer or consent to further "
                "storage. Customers: deleted a set time after the customer relationship ends, "
                "except accounting records the law obliges us to keep. If you signed up for a "
                "newsletter and never confirmed it, and are not otherwise known to us: deleted 30 "
                "days after signing up."
            ),
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


def _lift_restriction(*, person, actor, **details):
    services.customer_lift_restriction(customer=person, actor=actor)


def _object(*, person, actor, **details):
    services.customer_object_to_marketing(
        customer=person, actor=actor, channel=Customer.ObjectionChannel.PRIVACY_REQUEST
    )


on_right(Right.RESTRICTION, _restrict)
on_right(Right.LIFT_RESTRICTION, _lift_restriction)
on_right(Right.OBJECTION, _object)
