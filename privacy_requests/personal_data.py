from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from concerthouse.personal_data_map import (
    Category,
    Declaration,
    Erasure,
    LegalBasis,
    Retention,
    Rule,
    exempt,
    register,
)

from .models import AccessPackage, PrivacyRequest


def _requests_of(people) -> Q:
    return Q(customer__in=people.values("pk")) | Q(email__in=people.values("email"))


def _unverified_expired(now) -> Q:
    cutoff = now - relativedelta(days=settings.RETENTION_UNVERIFIED_REQUEST_DAYS)
    return Q(state=PrivacyRequest.State.UNVERIFIED, created_at__lt=cutoff)


def _open_request_keeps_person() -> Q:
    """A verified request not yet answered: its person is not purged before it is (an erasure
    request erases them itself, when it is carried out)."""
    open_requests = PrivacyRequest.objects.filter(state=PrivacyRequest.State.OPEN)
    return Q(Exists(open_requests.filter(customer=OuterRef("pk")))) | Q(
        Exists(open_requests.filter(email=OuterRef("email")))
    )


def _answered_expired(now) -> Q:
    return Q(closed_at__lt=now - relativedelta(years=settings.RETENTION_CLOSED_REQUEST_YEARS))


def _delete_package_files(packages) -> None:
    """The files go once their rows' deletion has committed: a batch that rolls back must not leave
    rows whose files are gone. A file that cannot be removed now, or whose removal is lost with
    its worker, is removed by the sweep (services.package_files_remove_orphans)."""
    from .executors import package_path
    from .services import package_files_remove

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
        owned_by=_requests_of,
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
        retention=Retention(
            _(
                "A request that was never confirmed from its email is deleted after 30 days; an "
                "answered one is kept for three years to show how we answered it."
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
            keeps_person=_open_request_keeps_person,
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
        # A copy of everything else: it goes with the person, file and all.
        owned_by=lambda people: Q(request__in=PrivacyRequest.objects.filter(_requests_of(people))),
        erasure=Erasure.DELETE,
        retention=Retention(
            _("Access and portability packages: deleted, file and all, when their time is up."),
            rules=(
                Rule(
                    code="privacy_requests.packages",
                    label=_("Access and portability packages"),
                    expired=lambda now: Q(expires_at__lt=now),
                ),
            ),
            before_delete=_delete_package_files,
        ),
    )
)
exempt(
    "privacy_requests.processor",
    reason="The register of processors and recipients: businesses, and the role address each "
    "gives for privacy matters, not members of the audience.",
)
