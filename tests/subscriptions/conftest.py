from datetime import date, datetime, time, timedelta

import pytest
from django.test import TestCase
from django.utils import timezone

from consent.models import Purpose
from consent.selectors import notice_current
from subscriptions.models import Concert
from subscriptions.services import Buyer


def committed():
    """Run on-commit callbacks (the queued emails) as a real commit would."""
    return TestCase.captureOnCommitCallbacks(execute=True)


@pytest.fixture
def concert_in(thursdays):
    """A concert of the Thursday series that starts in `days` days."""

    def make(days: float, title="Sibelius 5"):
        return Concert.objects.create(
            series=thursdays,
            title=title,
            venue="Stora salen",
            starts_at=timezone.now() + timedelta(days=days),
            information="Dörrarna öppnar 18.00.",
        )

    return make


@pytest.fixture
def seating_notice(db):
    purpose = Purpose.objects.get(kind=Purpose.Kind.ACCESSIBILITY)
    return notice_current(purpose=purpose, language="sv")


def buyer(email="marta.angstrom@example.se", **changes) -> Buyer:
    fields = {
        "email": email,
        "first_name": "Märta",
        "last_name": "Ångström",
        "phone": "070-123 45 67",
        "street_address": "Storgatan 1",
        "postal_code": "702 10",
        "city": "Örebro",
        "country": "SE",
        "preferred_language": "sv",
    }
    return Buyer(**{**fields, **changes})


def booking_post(series, *, key, **changes) -> dict:
    """The public form as a person fills it in, every optional box unticked."""
    data = {
        "booking_key": str(key),
        "series": series.pk,
        "seats": "2",
        "first_name": "Åse",
        "last_name": "Ødegård",
        "email": "Ase.Odegard@Example.no",
        "phone": "+47 912 34 567",
        "street_address": "Kongens gate 2",
        "postal_code": "0153",
        "city": "Oslo",
        "country": "NO",
        "language": "nb",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def at_noon(day: date):
    return timezone.make_aware(datetime.combine(day, time(12)))
