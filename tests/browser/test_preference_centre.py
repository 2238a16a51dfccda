"""The preference centre in Chromium: withdrawing the consent that keeps seating needs, and the
way back after an objection to direct marketing."""

import re
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.core import mail
from django.utils import timezone

from consent.models import NoticeVersion
from customers.models import Customer
from newsletters import links
from subscriptions.models import Season, SeatingNeed
from subscriptions.services import seating_needs_record
from tests.factories import CustomerFactory, subscribe

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def preferences_path(person, language):
    return urlparse(links.preferences_url(person, language=language)).path


def states(person):
    return dict(person.consents.values_list("purpose__code", "state"))


def test_unticking_accessibility_in_the_preference_centre_deletes_the_seating_needs(page):
    today = timezone.localdate()
    season = Season.objects.create(
        name="2026/27", starts_on=today - timedelta(days=30), ends_on=today + timedelta(days=200)
    )
    person = subscribe(
        CustomerFactory(email="marta.angstrom@example.se", first_name="Märta"),
        "news",
        language="sv",
    )
    seating_needs_record(
        customer=person,
        season=season,
        needs=["wheelchair"],
        notice=NoticeVersion.objects.get(purpose__code="accessibility", language="sv"),
        channel="counter_or_phone",
    )
    page.goto(preferences_path(person, "sv"))
    accessibility = "label:has-text('Uppgifter om tillgänglighet')"
    assert page.is_checked(accessibility)
    page.uncheck(accessibility)
    page.click("button:has-text('Spara mina val')")
    status = page.wait_for_selector("[role=status]:has-text('Återkallat')")
    assert "Uppgifter om tillgänglighet" in status.inner_text()
    assert "raderade" in status.inner_text()  # the needs, said to be deleted, and they are
    assert not SeatingNeed.objects.filter(customer=person).exists()
    assert states(person) == {"news": "confirmed", "accessibility": "withdrawn"}
    assert page.locator(accessibility).count() == 0  # not offered back as if it could be given


def test_after_an_objection_the_way_back_is_an_opt_in_confirmed_from_the_inbox(page):
    person = subscribe(
        CustomerFactory(email="ase.odegard@example.no", first_name="Åse", last_name="Ødegård"),
        "news",
        "offers",
        language="nb",
    )
    page.goto(preferences_path(person, "nb"))
    page.click("button:has-text('Protester mot direkte markedsføring')")
    page.wait_for_selector("h2:has-text('Markedsføringen er stoppet')")
    assert "Trukket tilbake: Nyhetsbrev om konserter, Tilbud." in page.inner_text("[role=status]")
    person.refresh_from_db()
    assert person.objects_to_marketing and set(states(person).values()) == {"withdrawn"}

    # The one way back: choose again, and confirm from the address's own inbox.
    mail.outbox.clear()
    page.check("section.opt-in-again label:has-text('Nyhetsbrev om konserter')")
    page.click("button:has-text('Send meg en lenke for å bekrefte')")
    page.wait_for_selector("[role=status]:has-text('Ingenting starter før du bekrefter')")
    person.refresh_from_db()
    assert person.objects_to_marketing  # not until confirmed
    (message,) = mail.outbox
    assert message.to == ["ase.odegard@example.no"]
    link = re.search(r"https?://\S+/newsletter/confirm/\S+/", message.body).group(0)
    page.goto(urlparse(link).path)
    page.click("button:has-text('Bekreft')")
    page.wait_for_selector("h1:has-text('Takk! Påmeldingen din er bekreftet')")
    person.refresh_from_db()
    assert not person.objects_to_marketing
    assert states(person) == {"news": "confirmed", "offers": "withdrawn"}
    assert person in Customer.objects.marketable()

    page.goto(preferences_path(person, "nb"))
    assert page.locator("h2:has-text('Markedsføringen er stoppet')").count() == 0
    assert page.is_checked("label:has-text('Nyhetsbrev om konserter')")
