import pytest
from django.test import TestCase

from concerthouse.privacy.map import RecipientKind
from privacy_requests import services
from privacy_requests.models import Processor


def texts(english: str) -> dict[str, str]:
    """A register text in every language (the tests read the English)."""
    return {"en": english, "sv": f"(sv) {english}", "nb": f"(nb) {english}"}


def committed():
    """Run on-commit callbacks (the queued emails) as a real commit would."""
    return TestCase.captureOnCommitCallbacks(execute=True)


@pytest.fixture
def open_request(db):
    """An open request as if verified from the public form."""

    def make(kind, email, *, language="en", **fields):
        with committed():
            request = services.privacy_request_submit(
                kind=kind, email=email, language=language, **fields
            )
            request = services.privacy_request_verify(request=request)
        return request

    return make


@pytest.fixture
def processors(db):
    return {
        "mailer": Processor.objects.create(
            name="Mailer AS",
            role=Processor.Role.PROCESSOR,
            kind=RecipientKind.MAIL,
            purposes=texts("Sends our email."),
            data_categories=["contact", "behavioural"],
            country="NO",
            erasure_contact="privacy@mailer.example",
            breach_contact="security@mailer.example",
            breach_reporting_hours=24,
        ),
        "meta": Processor.objects.create(
            name="Meta",
            role=Processor.Role.JOINT_CONTROLLER,
            kind=RecipientKind.AD_PLATFORM,
            purposes=texts("Custom audiences."),
            data_categories=["contact"],
            country="IE",
            third_country="US",
            transfer_basis=Processor.TransferBasis.DPF,
            erasure_contact="privacy@meta.example",
            recipient_code="meta",
        ),
        "accountant": Processor.objects.create(
            name="Accountant AB",
            role=Processor.Role.PROCESSOR,
            kind=RecipientKind.HOSTING,
            purposes=texts("Bookkeeping."),
            data_categories=["accounting"],
            country="SE",
            erasure_contact="privacy@accountant.example",
        ),
    }


def execute(request, actor, **options):
    with committed():
        return services.privacy_request_execute(request=request, actor=actor, **options)
