from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db.models import Q, Value
from django.db.models.functions import Left, StrIndex
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from concerthouse.privacy.map import (
    Category,
    Declaration,
    Erasure,
    Flow,
    LegalBasis,
    LegalHold,
    RecipientKind,
    Retention,
    Rule,
    exempt,
    register,
)
from customers.personal_data import relationship_ended_long_enough

from . import accounting
from .models import (
    Order,
    Payment,
    PreConcertMail,
    SeasonSubscription,
    SeatingNeed,
    SourceNotice,
)


def _of(people) -> Q:
    return Q(customer__in=people.values("pk"))


def _agent_of(reference: str):
    """The ticket agent's code that an imported order's reference starts with ("eventim:1234",
    subscriptions/imports.py), as an expression the database computes."""
    return Left(reference, StrIndex(reference, Value(":")) - 1)


_MAILED = RecipientKind.MAIL


def _ended_contract_expired(now) -> Q:
    """Harmonien: "Alle personlig identifiserbare data slettes dersom kundeforholdet opphører".
    The customer rule erases a former customer a set time after their last subscription ends;
    one whose newsletter consent still stands keeps their contact details and consent, not their
    contracts."""
    return relationship_ended_long_enough(now, prefix="customer__")


register(
    Declaration(
        model=SeasonSubscription,
        fields={
            "reference": Category.BEHAVIOURAL,
            "series": Category.BEHAVIOURAL,
            "seats": Category.BEHAVIOURAL,
            "price": Category.BEHAVIOURAL,
            "currency": Category.BEHAVIOURAL,
            "status": Category.BEHAVIOURAL,
            "channel": Category.BEHAVIOURAL,
            "booked_at": Category.BEHAVIOURAL,
            "ends_on": Category.BEHAVIOURAL,
            "cancelled_at": Category.BEHAVIOURAL,
        },
        export_related=("series__name", "series__season__name"),
        purpose=_(
            "Managing your season subscription: your seats, the concerts, changes and "
            "cancellations, and the practical information we send before each concert"
        ),
        legal_basis=LegalBasis.CONTRACT,
        owned_by=_of,
        made_at="created_at",
        flows=(
            # The confirmation of a booking on the website or at the counter (an agent's
            # customers hear from the agent, and are sent nothing).
            Flow(
                kind=_MAILED,
                rows=Q(confirmation_sent_at__isnull=False) & ~Q(channel=Order.Channel.TICKET_AGENT),
                at="confirmation_sent_at",
            ),
            Flow(
                kind=RecipientKind.TICKET_AGENT,
                rows=Q(channel=Order.Channel.TICKET_AGENT, order__isnull=False),
                at="booked_at",
                code=_agent_of("order__reference"),
                categories=(Category.CONTACT, Category.BEHAVIOURAL),
            ),
        ),
        erasure=Erasure.DELETE,
        retention=Retention(
            _(
                "Kept while you are a customer, and deleted a set time after your last "
                "subscription ends, even if you still receive our newsletter."
            ),
            rules=(
                Rule(
                    code="subscriptions.ended_contracts",
                    label=_("Subscriptions of customers whose relationship ended"),
                    expired=_ended_contract_expired,
                ),
            ),
        ),
        provided_by_person=frozenset({"series", "seats"}),
    )
)

register(
    Declaration(
        model=SeatingNeed,
        fields={"needs": Category.HEALTH, "season": Category.HEALTH},
        export_related=("season__name",),
        purpose=_(
            "Giving you the right place in the hall, such as a wheelchair place or a companion "
            "seat, for safety; only with your explicit consent, seen only by the box office and "
            "the data protection officer"
        ),
        legal_basis=LegalBasis.EXPLICIT_CONSENT,
        owned_by=_of,
        made_at="created_at",
        erasure=Erasure.DELETE,
        retention=Retention(
            _("Deleted when the season it was recorded for ends, or when you withdraw consent."),
            rules=(
                Rule(
                    code="subscriptions.seating_needs",
                    label=_("Seating needs of seasons that have ended"),
                    expired=lambda now: Q(season__ends_on__lt=timezone.localdate(now)),
                ),
            ),
        ),
        provided_by_person=frozenset({"needs", "season"}),
    )
)


def _order_held_until(order: Order):
    return order.held_until


def _payment_held_until(payment: Payment):
    # Deleted with its order, so kept as long as the order is.
    return payment.order.held_until


_ACCOUNTING_RETENTION = _(
    "Orders and payments are accounting records: kept until the end of the seventh year after "
    "the financial year in Sweden (Bokföringslagen 7 kap. 2 §), five years after the financial "
    "year in Norway (bokføringsloven § 13), and then deleted. Only your name and postal address "
    "stay on them; everything else about you can be erased before."
)


# The house's statute, looked up when shown, in the reader's language.
_ACCOUNTING_STATUTE = lazy(lambda: str(accounting.statute(settings.HOUSE_COUNTRY)), str)()


register(
    Declaration(
        model=Order,
        fields={
            "reference": Category.ACCOUNTING,
            "buyer_name": Category.ACCOUNTING,
            "buyer_address": Category.ACCOUNTING,
            "description": Category.ACCOUNTING,
            "amount": Category.ACCOUNTING,
            "currency": Category.ACCOUNTING,
            "ordered_on": Category.ACCOUNTING,
            "channel": Category.ACCOUNTING,
        },
        purpose=_("Keeping the accounts the law requires for what you bought and paid"),
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        owned_by=_of,
        made_at="created_at",
        flows=(
            Flow(
                kind=RecipientKind.TICKET_AGENT,
                rows=Q(channel=Order.Channel.TICKET_AGENT),
                at="created_at",
                code=_agent_of("reference"),
                categories=(Category.ACCOUNTING,),
            ),
        ),
        erasure=Erasure.HOLD,
        legal_hold=LegalHold(
            statute=_ACCOUNTING_STATUTE,
            held_until=_order_held_until,
        ),
        retention=Retention(
            _ACCOUNTING_RETENTION,
            rules=(
                Rule(
                    code="subscriptions.accounting",
                    label=_("Orders and payments past the bookkeeping period"),
                    expired=lambda now: accounting.order_expired(timezone.localdate(now)),
                ),
            ),
        ),
    )
)

register(
    Declaration(
        model=Payment,
        fields={
            "kind": Category.ACCOUNTING,
            "method": Category.ACCOUNTING,
            "amount": Category.ACCOUNTING,
            "currency": Category.ACCOUNTING,
            "paid_on": Category.ACCOUNTING,
            "reference": Category.ACCOUNTING,
        },
        export_related=("order__reference",),
        purpose=_("Keeping the accounts the law requires for what you bought and paid"),
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        owned_by=lambda people: Q(order__customer__in=people.values("pk")),
        person=(("order__customer", "pk"),),
        made_at="created_at",
        erasure=Erasure.HOLD,
        legal_hold=LegalHold(
            statute=_ACCOUNTING_STATUTE,
            held_until=_payment_held_until,
        ),
        # Deleted with their order, by the order's rule.
        retention=Retention(_ACCOUNTING_RETENTION),
    )
)

register(
    Declaration(
        model=PreConcertMail,
        fields={
            "concert": Category.BEHAVIOURAL,
            "status": Category.BEHAVIOURAL,
            "sent_at": Category.BEHAVIOURAL,
        },
        export_related=("concert__title",),
        purpose=_("Sending the practical information before each concert only once"),
        legal_basis=LegalBasis.CONTRACT,
        owned_by=_of,
        made_at="created_at",
        flows=(Flow(kind=_MAILED, rows=Q(sent_at__isnull=False), at="sent_at"),),
        erasure=Erasure.DELETE,
        retention=Retention(
            _("Which information emails we sent you: deleted after 24 months."),
            rules=(
                Rule(
                    code="subscriptions.pre_concert_log",
                    label=_("Pre-concert email log"),
                    expired=lambda now: Q(
                        created_at__lt=now
                        - relativedelta(months=settings.RETENTION_DELIVERY_LOG_MONTHS)
                    ),
                ),
            ),
        ),
    )
)

register(
    Declaration(
        model=SourceNotice,
        fields={
            "source": Category.BEHAVIOURAL,
            "created_at": Category.BEHAVIOURAL,
            "sent_at": Category.BEHAVIOURAL,
        },
        purpose=_(
            "Telling you, when a ticket agent passed your details to us, what we received and "
            "what we do with it (GDPR Art. 14), and showing that we did"
        ),
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        owned_by=_of,
        made_at="created_at",
        flows=(Flow(kind=_MAILED, rows=Q(sent_at__isnull=False), at="sent_at"),),
        erasure=Erasure.DELETE,
        # What it proves concerns the data the agent passed on, which stays while you are known.
        retention=Retention(
            _("Kept as long as we hold the details the agent passed to us, and deleted with them.")
        ),
    )
)

exempt(
    "subscriptions.ticketagentimport",
    reason="The record of a ticket-agent file: who uploaded it, when, and counts. The file itself "
    "is deleted as soon as it has been read.",
)
exempt(
    "subscriptions.importrowerror",
    reason="Why a row of an import was rejected: its number and a reason, never its values.",
)
