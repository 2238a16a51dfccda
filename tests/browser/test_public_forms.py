"""In a real browser: the honeypot of every public form is hidden from people, by the stylesheet."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FORMS = ["/sv/newsletter/", "/nb/preferences/", "/en/privacy/request/", "/sv/subscriptions/"]


def test_no_person_sees_or_tabs_into_the_honeypot(page, live_server):
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from subscriptions.models import Season, Series

    today = timezone.localdate()
    season = Season.objects.create(
        name="2026/27", starts_on=today - timedelta(days=60), ends_on=today + timedelta(days=200)
    )
    Series.objects.create(
        season=season,
        code="thu",
        name="Torsdagsserien",
        price_per_seat=Decimal("1450.00"),
        currency="SEK",
        capacity=100,
    )
    for url in FORMS:
        page.goto(url)
        honeypot = page.locator("input[name=website]")
        assert honeypot.count() == 1, url
        assert honeypot.is_hidden(), url
        assert page.locator("label[for=id_website]").is_hidden(), url
