from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from concerthouse.privacy.map import (
    Addressed,
    Category,
    Declaration,
    Erasure,
    Flow,
    LegalBasis,
    RecipientKind,
    Retention,
    Rule,
    Subject,
    add_rules,
    days,
    in_words,
    months,
    register,
)
from concerthouse.privacy.person import Right, on_right
from consent.models import ConsentEvent
from customers.models import Customer

from .models import (
    AudienceExport,
    AudienceExportMember,
    Delivery,
    Signup,
    SignupIntake,
    Suppression,
)


def _of(people) -> Q:
    return Q(customer__in=people.values("pk"))


def _sha256_of_address(email: str) -> str:
    # As the platforms received it (audience.normalised_hashes): the same for Meta and Google.
    from .audience import normalised_hashes

    return normalised_hashes(email=email, phone="", recipient="meta")[0]


def _unconfirmed_signup_expired(now) -> Q:
    # From the last time a link was asked for: signing up again starts the period again.
    cutoff = now - relativedelta(days=settings.RETENTION_UNCONFIRMED_SIGNUP_DAYS)
    return Q(confirmed_at__isnull=True, confirmation_requested_at__lt=cutoff)


def _person_of_unconfirmed_signup_expired(now) -> Q:
    """Someone known only from a newsletter signup they never confirmed: they gave no consent, so
    nothing allows keeping them beyond the signup's own 30 days. A person who confirmed once (and
    perhaps unsubscribed since) is a lead like any other; signing up again counts as contact
    (newsletter_signup moves `last_activity_at`), so it starts the 30 days again."""
    cutoff = now - relativedelta(days=settings.RETENTION_UNCONFIRMED_SIGNUP_DAYS)
    events = ConsentEvent.objects.filter(customer=OuterRef("pk"))
    return Q(
        ~Q(Exists(events.filter(action=ConsentEvent.Action.CONFIRMED))),
        ~Q(Exists(events.filter(at__gte=cutoff))),
        kind=Customer.Kind.LEAD,
        source=Customer.Source.WEB_SIGNUP,
        last_activity_at__lt=cutoff,
    )


# A rule on the people themselves, declared here where signups are known: such a person is erased
# whole, as every rule on the person model does.
add_rules(
    Customer,
    Rule(
        code="customers.unconfirmed",
        label=_("People who signed up on the website and never confirmed"),
        expired=_person_of_unconfirmed_signup_expired,
    ),
)


def _delivery_log_expired(now) -> Q:
    return Q(created_at__lt=now - relativedelta(months=settings.RETENTION_DELIVERY_LOG_MONTHS))


register(
    Declaration(
        model=Signup,
        fields={
            "first_name": Category.CONTACT,
            "last_name": Category.CONTACT,
            "language": Category.CONTACT,
            "created_at": Category.CONSENT_EVIDENCE,
            "confirmation_sent_at": Category.CONSENT_EVIDENCE,
            "confirmed_at": Category.CONSENT_EVIDENCE,
        },
        purpose=_("Confirming that the owner of an address asked for our newsletters"),
        legal_basis=LegalBasis.CONSENT,
        subjects=(Subject.READER, Subject.OTHER),
        owned_by=_of,
        made_at="created_at",
        # The confirmation email went through the mail processor.
        flows=(
            Flow(
                kind=RecipientKind.MAIL,
                rows=Q(confirmation_sent_at__isnull=False),
                at="confirmation_sent_at",
            ),
        ),
        erasure=Erasure.DELETE,
        retention=Retention(
            in_words(
                lambda: (
                    _(
                        "An unconfirmed signup is deleted %(period)s after it was made; a confirmed "
                        "one is kept as evidence of your consent while we hold your other data."
                    )
                    % {"period": days(settings.RETENTION_UNCONFIRMED_SIGNUP_DAYS)}
                )
            ),
            rules=(
                Rule(
                    code="newsletters.unconfirmed_signups",
                    label=_("Unconfirmed newsletter signups"),
                    expired=_unconfirmed_signup_expired,
                ),
            ),
        ),
        provided_by_person=frozenset({"first_name", "last_name", "language"}),
    )
)


def _intakes_of(people) -> Q:
    # Not yet linked to anybody: the address is all an intake has (stored normalised, as people's).
    return Q(email__in=people.values("email"))


def _intake_expired(now) -> Q:
    # Processed within seconds and then deleted; one that keeps failing goes as an unconfirmed
    # signup would.
    cutoff = now - relativedelta(days=settings.RETENTION_UNCONFIRMED_SIGNUP_DAYS)
    return Q(received_at__lt=cutoff)


register(
    Declaration(
        model=SignupIntake,
        fields={
            "email": Category.CONTACT,
            "first_name": Category.CONTACT,
            "last_name": Category.CONTACT,
            "language": Category.CONTACT,
            "received_at": Category.CONSENT_EVIDENCE,
            "notice_ids": Category.CONSENT_EVIDENCE,
        },
        purpose=_(
            "Receiving a newsletter signup from the form, for the seconds until it is recorded as "
            "a signup waiting for its confirmation"
        ),
        legal_basis=LegalBasis.CONSENT,
        subjects=(Subject.READER,),
        owned_by=_intakes_of,
        person=(("email", "email"),),
        made_at="received_at",
        erasure=Erasure.DELETE,
        retention=Retention(
            in_words(
                lambda: (
                    _(
                        "Deleted as soon as the signup is recorded, normally within seconds, and at "
                        "the latest after %(period)s."
                    )
                    % {"period": days(settings.RETENTION_UNCONFIRMED_SIGNUP_DAYS)}
                )
            ),
            rules=(
                Rule(
                    code="newsletters.signup_intakes",
                    label=_("Newsletter signups received but not recorded"),
                    expired=_intake_expired,
                ),
            ),
        ),
        provided_by_person=frozenset({"email", "first_name", "last_name", "language"}),
        # Restored from a backup with an erased address, it would sign the person up again.
        addressed=Addressed(address="email", made_at="received_at"),
    )
)

register(
    Declaration(
        model=Delivery,
        fields={
            "campaign": Category.BEHAVIOURAL,
            "status": Category.BEHAVIOURAL,
            "sent_at": Category.BEHAVIOURAL,
            "tracked": Category.BEHAVIOURAL,
            "first_opened_at": Category.BEHAVIOURAL,
            "open_count": Category.BEHAVIOURAL,
        },
        export_related=("campaign__name",),
        words={"campaign": "campaign__name"},
        purpose=_(
            "Sending newsletters only once to each person and, if you allowed it, counting the "
            "date and number of times you opened them"
        ),
        legal_basis=LegalBasis.CONSENT,
        subjects=(Subject.READER, Subject.OTHER),
        owned_by=_of,
        made_at="created_at",
        flows=(Flow(kind=RecipientKind.MAIL, rows=Q(sent_at__isnull=False), at="sent_at"),),
        erasure=Erasure.DELETE,
        retention=Retention(
            in_words(
                lambda: (
                    _("Which newsletters we sent you, and opens: deleted after %(period)s.")
                    % {"period": months(settings.RETENTION_DELIVERY_LOG_MONTHS)}
                )
            ),
            rules=(
                Rule(
                    code="newsletters.delivery_log",
                    label=_("Newsletter delivery and open log"),
                    expired=_delivery_log_expired,
                ),
            ),
        ),
    )
)


def _ad_matching_in_words(rows) -> str:
    """The one profiling the house takes part in (Art. 15(1)(h)), as it happened to a person."""
    if rows is None:
        return _(
            "If you consent to ads on social media, we hand Meta or Google one-way hashes of your "
            "email address and phone number, so that the platform can show you our ads; it "
            "compares them with its own users' and tells us nothing about you."
        )
    labels = dict(AudienceExport.Recipient.choices)
    zone = timezone.get_current_timezone()
    handed = sorted(
        {
            f"{labels.get(row['export__recipient'], row['export__recipient'])} "
            f"({timezone.localtime(row['export__created_at'], zone):%Y-%m-%d})"
            for row in rows
        }
    )
    return _(
        "On your consent to ads on social media, one-way hashes of your email address and phone "
        "number were handed to %(platforms)s, so that the platform could show you our ads. It "
        "compares them with its own users' and tells us nothing about you."
    ) % {"platforms": ", ".join(handed)}


register(
    Declaration(
        model=AudienceExportMember,
        fields={"export": Category.BEHAVIOURAL},
        export_related=("export__recipient", "export__created_at"),
        words={"export": "export__recipient"},
        profiling=_ad_matching_in_words,
        disclosures=lambda rows: rows.values_list("export__recipient", "export__created_at"),
        purpose=_(
            "Showing our advertisements to you on ad platforms (Meta, Google), only with your "
            "consent: we hand over one-way hashes of your email address and phone number"
        ),
        legal_basis=LegalBasis.CONSENT,
        subjects=(Subject.READER, Subject.CUSTOMER, Subject.OTHER),
        owned_by=_of,
        made_at="export__created_at",
        # One-way hashes of the address and phone went to the export's platform.
        flows=(
            Flow(
                kind=RecipientKind.AD_PLATFORM,
                at="export__created_at",
                code="export__recipient",
                hashed=True,
                identifier=lambda email: _sha256_of_address(email),
            ),
        ),
        erasure=Erasure.DELETE,
        retention=Retention(
            _("The record of which audience lists you were in is kept while we hold your data.")
        ),
    )
)


def _suppression_of(people) -> Q:
    from .services import suppression_hash

    hashes = [suppression_hash(email) for email in people.values_list("email", flat=True)]
    return Q(email_hash__in=hashes)


register(
    Declaration(
        model=Suppression,
        fields={"email_hash": Category.CONTACT, "reason": Category.CONSENT_EVIDENCE},
        purpose=_(
            "Never writing again to an address whose owner unsubscribed, objected or had their "
            "data erased, even if it reaches us again through a ticket agent"
        ),
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        subjects=(Subject.OTHER,),
        owned_by=_suppression_of,
        # A keyed hash: nobody can be found through it, not even for a breach's count.
        person=(),
        made_at="created_at",
        erasure=Erasure.KEEP,
        retention=Retention(
            _(
                "Kept as a one-way keyed hash, from which your address cannot be read, for as "
                "long as we send newsletters."
            )
        ),
    )
)


def _suppress(reason):
    def handler(*, person, **details):
        from .services import suppression_add

        suppression_add(email=person.email, reason=reason)

    return handler


# An erased or objecting person's address must never be mailed or re-imported (Art. 17, 21(3)).
on_right(Right.ERASURE, _suppress(Suppression.Reason.ERASED))
on_right(Right.OBJECTION, _suppress(Suppression.Reason.OBJECTED))
