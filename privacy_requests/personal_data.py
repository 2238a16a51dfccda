from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
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
    days,
    exempt,
    in_words,
    register,
    years,
)
from concerthouse.privacy.person import register_subject
from concerthouse.privacy.recipients import RecipientRegister, register_recipients

from .models import AccessPackage, AffectedPerson, PrivacyRequest, Processor
from .packages import package_files_remove, package_path


def _requests_of(people) -> Q:
    return Q(customer__in=people.values("pk")) | Q(email__in=people.values("email"))


def _unverified_expired(now) -> Q:
    cutoff = now - relativedelta(days=settings.RETENTION_UNVERIFIED_REQUEST_DAYS)
    return Q(state=PrivacyRequest.State.UNVERIFIED, created_at__lt=cutoff)


def _people_of(requests) -> Q:
    """The people who made `requests`, as a filter on the person model."""
    return Q(Exists(requests.filter(customer=OuterRef("pk")))) | Q(
        Exists(requests.filter(email=OuterRef("email")))
    )


# Someone who asked about their data, by a request linked to them or made from their address.
register_subject(Subject.REQUESTER, lambda: _people_of(PrivacyRequest.objects.all()))


def _owed_an_answer(as_of) -> Q:
    """A request being handled, or handled and its answer not yet sent: its person is not purged
    before the answer has gone (an erasure request erases them itself, when carried out)."""
    State = PrivacyRequest.State
    return _people_of(
        PrivacyRequest.objects.filter(
            Q(state=State.OPEN)
            | Q(state__in=[State.COMPLETED, State.REJECTED], closing_notice_sent_at__isnull=True)
        )
    )


def _awaiting_download(as_of) -> Q:
    """The copy of their data a person asked for stays, and so does the person, until it
    expires: purging them would delete it before they could fetch it."""
    return _people_of(PrivacyRequest.objects.filter(packages__expires_at__gte=as_of))


def _answered_expired(now) -> Q:
    return Q(closed_at__lt=now - relativedelta(years=settings.RETENTION_CLOSED_REQUEST_YEARS))


def _delete_package_files(packages) -> None:
    """The files go once their rows' deletion has committed: a batch that rolls back must not leave
    rows whose files are gone. A file that cannot be removed now, or whose removal is lost with
    its worker, is removed by the sweep (packages.package_files_remove_orphans)."""
    paths = [package_path(package) for package in packages.only("file_name")]
    transaction.on_commit(lambda: package_files_remove(paths))


register(
    Declaration(
        model=PrivacyRequest,
        fields={
            "email": Category.CONTACT,
            "name": Category.CONTACT,
            "kind": Category.BEHAVIOURAL,
            "details": Category.BEHAVIOURAL,
            "wrong_data": Category.CONTACT,
            "correct_data": Category.CONTACT,
            "created_at": Category.BEHAVIOURAL,
            "received_at": Category.BEHAVIOURAL,
            "closed_at": Category.BEHAVIOURAL,
            "state": Category.BEHAVIOURAL,
        },
        purpose=_("Answering your requests about your personal data, and showing that we did"),
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        subjects=(Subject.REQUESTER,),
        owned_by=_requests_of,
        person=(("customer", "pk"), ("email", "email")),
        made_at="created_at",
        # The verification link and the answer went to the address through the mail processor.
        flows=(
            Flow(
                kind=RecipientKind.MAIL,
                rows=Q(verification_sent_at__isnull=False),
                at="verification_sent_at",
            ),
            Flow(
                kind=RecipientKind.MAIL,
                rows=Q(closing_notice_sent_at__isnull=False),
                at="closing_notice_sent_at",
            ),
        ),
        # The record that a request was answered stays; who made it does not.
        erasure=Erasure.ANONYMISE,
        anonymise={
            "email": "",
            "name": "",
            "details": "",
            "wrong_data": "",
            "correct_data": "",
            "identity_check": "",
        },
        # An erasure request keeps the address until its answer has gone (and then forgets it,
        # services.privacy_request_redact_if_answered); after a restore, requests made before the
        # erasure are found by the address's hash and anonymised again.
        erasure_spares=Q(kind=PrivacyRequest.Kind.ERASURE, closing_notice_sent_at__isnull=True),
        addressed=Addressed(address="email", made_at="created_at"),
        retention=Retention(
            in_words(
                lambda: (
                    _(
                        "A request that was never confirmed from its email is deleted after "
                        "%(unverified)s; an answered one is kept for %(answered)s to show how we "
                        "answered it."
                    )
                    % {
                        "unverified": days(settings.RETENTION_UNVERIFIED_REQUEST_DAYS),
                        "answered": years(settings.RETENTION_CLOSED_REQUEST_YEARS),
                    }
                )
            ),
            rules=(
                Rule(
                    code="privacy_requests.unverified",
                    label=_("Privacy requests never confirmed from their email"),
                    expired=_unverified_expired,
                ),
                Rule(
                    code="privacy_requests.answered",
                    label=_("Answered privacy requests"),
                    expired=_answered_expired,
                ),
            ),
            keeps_person=_owed_an_answer,
        ),
    )
)

exempt(
    "privacy_requests.requestevent",
    reason="The timeline of a request: what was done and by which member of staff, never the "
    "person's data; it reaches the person only through the request, which is declared.",
)
exempt(
    "privacy_requests.recipientnotice",
    reason="Which recipient was told of a correction or erasure, and when; no personal data.",
)
register(
    Declaration(
        model=AccessPackage,
        fields={
            "file_name": Category.BEHAVIOURAL,
            "created_at": Category.BEHAVIOURAL,
            "expires_at": Category.BEHAVIOURAL,
            "downloaded_at": Category.BEHAVIOURAL,
        },
        purpose=_(
            "Giving you the copy of your data you asked for (GDPR Art. 15 and 20), to download "
            "through a link that only you receive"
        ),
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        subjects=(Subject.REQUESTER,),
        # A copy of everything else: it goes with the person, file and all.
        owned_by=lambda people: Q(request__in=PrivacyRequest.objects.filter(_requests_of(people))),
        person=(("request__customer", "pk"), ("request__email", "email")),
        made_at="created_at",
        erasure=Erasure.DELETE,
        retention=Retention(
            in_words(
                lambda: (
                    _("Deleted, file and all, %(period)s after it was made.")
                    % {"period": days(settings.PRIVACY_PACKAGE_DAYS)}
                )
            ),
            rules=(
                Rule(
                    code="privacy_requests.packages",
                    label=_("Access and portability packages"),
                    expired=lambda now: Q(expires_at__lt=now),
                ),
            ),
            before_delete=_delete_package_files,
            keeps_person=_awaiting_download,
        ),
    )
)
exempt(
    "privacy_requests.processor",
    reason="The register of processors and recipients: businesses, and the role address each "
    "gives for privacy matters, not members of the audience.",
)

register(
    Declaration(
        model=AffectedPerson,
        fields={
            "breach": Category.BEHAVIOURAL,
            "notice": Category.BEHAVIOURAL,
            "sent_at": Category.BEHAVIOURAL,
        },
        export_related=("breach__reference",),
        purpose=_(
            "Telling you when a personal-data breach has affected your data (GDPR Art. 34), and "
            "documenting whom each breach affected (Art. 33(5))"
        ),
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        owned_by=lambda people: Q(person__in=people.values("pk")),
        person=(("person", "pk"),),
        made_at="scope__created_at",
        flows=(Flow(kind=RecipientKind.MAIL, rows=Q(sent_at__isnull=False), at="sent_at"),),
        # The breach keeps counting an erased person: only the link to them goes.
        erasure=Erasure.ANONYMISE,
        anonymise={"person": None},
        retention=Retention(
            _(
                "Kept with the register of breaches, which documents every breach for the "
                "supervisory authority; if you are erased, the link to you is removed and only "
                "the count remains."
            )
        ),
    )
)
for _label, _reason in (
    (
        "privacy_requests.breach",
        "The register of personal-data breaches (Art. 33(5)): facts, effects and decisions "
        "about an incident, never the data of a person.",
    ),
    (
        "privacy_requests.breachevent",
        "A breach's timeline: what was recorded or decided and by which member of staff.",
    ),
    (
        "privacy_requests.breachscope",
        "The scope of a breach and its counts, never who was affected.",
    ),
    (
        "privacy_requests.authoritynotification",
        "What was sent to the supervisory authority about a breach: counts and descriptions, "
        "never a person's data.",
    ),
):
    exempt(_label, reason=_reason)


def _registered(kind: str, code: str | None) -> bool:
    entries = Processor.objects.filter(is_active=True, kind=kind)
    if code:
        entries = entries.filter(recipient_code=code)
    return entries.exists()


# The apps below refuse to hand data to a recipient this register does not name (an audience
# export, a campaign): what the notice says about recipients is never contradicted.
register_recipients(RecipientRegister(registered=_registered))
