from dateutil.relativedelta import relativedelta
from django.conf import settings
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

from . import services
from .models import Customer


def _customer_expired(now) -> Q:
    """Leads three years after the last contact (Harmonien's promise); customers a configurable
    time after the relationship ended. Consent to further storage is checked by the purge."""
    lead_cutoff = now - relativedelta(years=settings.RETENTION_LEAD_YEARS)
    ended_cutoff = (now - relativedelta(months=settings.RETENTION_ENDED_CUSTOMER_MONTHS)).date()
    return Q(kind=Customer.Kind.LEAD, last_activity_at__lt=lead_cutoff) | Q(
        kind=Customer.Kind.CUSTOMER, relationship_ended_on__lt=ended_cutoff
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
            "marketing_objection_at": Category.BEHAVIOURAL,
            "marketing_objection_channel": Category.BEHAVIOURAL,
            "created_at": Category.BEHAVIOURAL,
        },
        purpose=_(
            "Keeping in touch with our audience: managing season subscriptions and bookings, "
            "sending the newsletters you asked for, and answering your questions"
        ),
        legal_basis=LegalBasis.CONTRACT,
        owned_by=lambda people: Q(pk__in=people.values("pk")),
        erasure=Erasure.DELETE,
        retention=Retention(
            _(
                "Prospects we met at fairs, meetings or by correspondence: deleted three years "
                "after the last contact unless you become a customer or consent to further "
                "storage. Customers: deleted a set time after the customer relationship ends, "
                "except accounting records the law obliges us to keep."
            ),
            expired=_customer_expired,
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
