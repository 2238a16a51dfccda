import pytest
from django.test import TestCase

from privacy_requests import services
from privacy_requests.models import Processor


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
            purposes="Sends newsletters.",
            data_categories=["contact", "behavioural"],
            country="Norway",
            transfer_basis="Within the EU/EEA",
            erasure_contact="privacy@mailer.example",
        ),
        "meta": Processor.objects.create(
            name="Meta",
            role=Processor.Role.JOINT_CONTROLLER,
            purposes="Custom audiences.",
            data_categories=[],
            country="Ireland",
            transfer_basis="Data Privacy Framework",
            erasure_contact="privacy@meta.example",
            recipient_code="meta",
        ),
        "accountant": Processor.objects.create(
            name="Accountant AB",
            role=Processor.Role.PROCESSOR,
            purposes="Bookkeeping.",
            data_categories=["accounting"],
            country="Sweden",
            transfer_basis="Within the EU/EEA",
            erasure_contact="privacy@accountant.example",
        ),
    }


def execute(request, actor, **options):
    with committed():
        return services.privacy_request_execute(request=request, actor=actor, **options)
