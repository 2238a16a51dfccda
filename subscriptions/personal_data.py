from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db.models import Q, Value
from django.db.models.functions import Left, StrIndex
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from concerthouse.audit import audit_record
from concerthouse.privacy.map import (
    Category,
    Declaration,
    Erasure,
    Flow,
    LegalBasis,
    LegalHold,
    Processing,
    RecipientKind,
    Retention,
    Rule,
    Subject,
    add_processing,
    exempt,
    in_words,
    months,
    register,
)
from consent.models import Purpose
from consent.services import on_withdrawal
from customers.models import Customer
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
    The customer rule erases a former customer the house's period after their last subscription ends;
    one whose newsletter consent still stands keeps their contact details and consent, not their
    contracts."""
    return relationship_ended_long_enough(now, prefix="customer__")


# The contract: what a customer's contact details and subscriptions are for (Art. 6(1)(b)).
_CONTRACT_PURPOSE = _(
    "Managing your season subscription: your seats, the concerts, changes and cancellations, "
    "and the practical information we send before each concert"
)


def _contract_retention() -> str:
    return _(
        "Kept while you are a customer, and deleted %(period)s after your last season "
        "subscription ends, even if you still receive our newsletter."
    ) % {"period": months(settings.RETENTION_ENDED_CUSTOMER_MONTHS)}


add_processing(
    Customer,
    Processing(
        purpose=_CONTRACT_PURPOSE,
        legal_basis=LegalBasis.CONTRACT,
        applies_to=(Subject.CUSTOMER,),
        retention=in_words(_contract_retention),
    ),
)

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
        words={"series": "series__name"},
        natural_keys={"series": "series__code"},
        purpose=_CONTRACT_PURPOSE,
        legal_basis=LegalBasis.CONTRACT,
        subjects=(Subject.CUSTOMER,),
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
            in_words(_contract_retention),
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


def _needs_in_words(value: str) -> str:
    labels = dict(SeatingNeed.Need.choices)
    return ", ".join(str(labels.get(code, code)) for code in value.split(",") if code)


register(
    Declaration(
        model=SeatingNeed,
        fields={"needs": Category.HEALTH, "season": Category.HEALTH},
        export_related=("season__name",),
        words={"season": "season__name"},
        natural_keys={"season": "season__name"},
        describe={"needs": _needs_in_words},
        purpose=_(
            "Giving you the right place in the hall, such as a wheelchair place or a companion "
            "seat, for safety; only with your explicit consent, seen only by the box office and "
            "the data protection officer"
        ),
        legal_basis=LegalBasis.EXPLICIT_CONSENT,
        subjects=(Subject.CUSTOMER,),
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


def _accounting_retention() -> str:
    return _(
        "Orders and payments are accounting records: we keep them %(period)s, and then delete "
        "them. Only your name and postal address stay on them; everything else about you can be "
        "erased before."
    ) % {"period": accounting.hold_in_words(settings.HOUSE_COUNTRY)}


_ACCOUNTING_RETENTION = in_words(_accounting_retention)


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
        subjects=(Subject.CUSTOMER,),
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
        subjects=(Subject.CUSTOMER,),
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
        words={"concert": "concert__title"},
        purpose=_("Sending the practical information before each concert only once"),
        legal_basis=LegalBasis.CONTRACT,
        subjects=(Subject.CUSTOMER,),
        owned_by=_of,
        made_at="created_at",
        flows=(Flow(kind=_MAILED, rows=Q(sent_at__isnull=False), at="sent_at"),),
        erasure=Erasure.DELETE,
        retention=Retention(
            in_words(
                lambda: (
                    _("Which information emails we sent you: deleted after %(period)s.")
                    % {"period": months(settings.RETENTION_DELIVERY_LOG_MONTHS)}
                )
            ),
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
        subjects=(Subject.CUSTOMER,),
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


def _delete_seating_needs(*, customer, actor=None, **details):
    """Art. 7(3), 9(2)(a): the needs exist only under the explicit consent; withdrawn, whatever
    the path (the preference centre, the counter, a privacy request), they go in its transaction."""
    deleted, _rows = SeatingNeed.objects.filter(customer=customer).delete()
    if deleted:
        audit_record(
            action="subscription.seating_needs_deleted",
            actor=actor,
            target=customer,
            detail={"fields": ["needs"], "rows": deleted},
        )


on_withdrawal(Purpose.Kind.ACCESSIBILITY, _delete_seating_needs)
