"""The audience's side in a real browser, in each language: sign up, confirm, manage preferences."""

import re
from urllib.parse import urlparse

import pytest
from django.core import mail

from consent.models import Consent
from customers.models import Customer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXT = {
    "sv": {
        "sign_up": "Anmäl mig",
        "check_inbox": "Titta i din inkorg",
        "confirm": "Bekräfta",
        "confirmed": "Tack! Din prenumeration är bekräftad",
        "save": "Spara mina val",
        "saved": "Dina val är sparade.",
        "withdraw_all": "Återkalla alla samtycken",
        "news": "Nyhetsbrev om konserter",
        "offers": "Erbjudanden",
        "cookies": "bara funktionella kakor",
        "no_list": "Välj minst ett nyhetsbrev.",
    },
    "nb": {
        "sign_up": "Meld meg på",
        "check_inbox": "Sjekk innboksen din",
        "confirm": "Bekreft",
        "confirmed": "Takk! Påmeldingen din er bekreftet",
        "save": "Lagre valgene mine",
        "saved": "Valgene dine er lagret.",
        "withdraw_all": "Trekk tilbake alle samtykker",
        "news": "Nyhetsbrev om konserter",
        "offers": "Tilbud",
        "cookies": "bare funksjonelle informasjonskapsler",
        "no_list": "Velg minst ett nyhetsbrev.",
    },
    "en": {
        "sign_up": "Sign up",
        "check_inbox": "Check your inbox",
        "confirm": "Confirm",
        "confirmed": "Thank you: your subscription is confirmed",
        "save": "Save my choices",
        "saved": "Your choices are saved.",
        "withdraw_all": "Withdraw all consents",
        "news": "Concert newsletter",
        "offers": "Offers",
        "cookies": "only functional cookies",
        "no_list": "Choose at least one newsletter.",
    },
}


@pytest.fixture
def requests_made(page):
    """Every URL the browser fetches, to prove that no page reaches a third party."""
    urls = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def link_from_last_email(name):
    match = re.search(rf"https?://\S+/{name}/\S+/", mail.outbox[-1].body)
    assert match, mail.outbox[-1].body
    return urlparse(match.group(0)).path


def sign_up(page, language, email, first_name):
    text = TEXT[language]
    page.goto(f"/{language}/newsletter/")
    page.fill("#id_email", email)
    page.fill("#id_first_name", first_name)
    page.select_option("#id_language", language)
    page.check(f"label:has-text('{text['news']}')")
    page.click(f"button:has-text('{text['sign_up']}')")
    page.wait_for_selector(f"h1:has-text('{text['check_inbox']}')")


@pytest.mark.parametrize("language", ["sv", "nb", "en"])
def test_signing_up_asks_first_and_stores_a_pending_consent(
    page, live_server, requests_made, language
):
    text = TEXT[language]
    page.goto(f"/{language}/newsletter/")
    assert text["cookies"] in page.inner_text(".cookie-notice")
    assert page.locator("input[type=checkbox]:checked").count() == 0  # every box unticked
    # Nothing ticked: a clear error in the page's language, nothing stored.
    page.fill("#id_email", "marta@example.se")
    page.click(f"button:has-text('{text['sign_up']}')")
    page.wait_for_selector(f".errorlist:has-text('{text['no_list']}')")
    assert not Customer.objects.exists()

    sign_up(page, language, "Marta.Angstrom@Example.se", "Märta")
    person = Customer.objects.get()
    assert (person.email, person.first_name) == ("marta.angstrom@example.se", "Märta")
    assert Consent.objects.get(customer=person).state == "pending"
    assert f"/{language}/newsletter/confirm/" in mail.outbox[-1].body
    host = urlparse(live_server.url).netloc
    assert {urlparse(url).netloc for url in requests_made} == {host}


@pytest.mark.parametrize("language", ["sv", "nb", "en"])
def test_the_link_in_the_email_confirms_after_the_button_is_pressed(page, language):
    text = TEXT[language]
    sign_up(page, language, "ase.odegard@example.no", "Åse")
    page.goto(link_from_last_email("newsletter/confirm"))
    page.wait_for_selector(f"li:has-text('{text['news']}')")
    assert Consent.objects.get().state == "pending"  # opening the link is not enough
    page.click(f"button:has-text('{text['confirm']}')")
    page.wait_for_selector(f"h1:has-text('{text['confirmed']}')")
    assert Consent.objects.get().state == "confirmed"


@pytest.mark.parametrize("language", ["sv", "nb", "en"])
def test_the_preference_centre_changes_lists_and_withdraws_everything(page, language):
    text = TEXT[language]
    sign_up(page, language, "ase.odegard@example.no", "Åse")
    page.goto(link_from_last_email("newsletter/confirm"))
    page.click(f"button:has-text('{text['confirm']}')")
    page.wait_for_selector(f"h1:has-text('{text['confirmed']}')")
    page.goto(link_from_last_email("preferences"))
    assert page.is_checked(f"label:has-text('{text['news']}')")
    page.uncheck(f"label:has-text('{text['news']}')")
    page.check(f"label:has-text('{text['offers']}')")
    page.click(f"button:has-text('{text['save']}')")
    page.wait_for_selector(f"[role=status]:has-text('{text['saved']}')")
    person = Customer.objects.get()
    states = dict(person.consents.values_list("purpose__code", "state"))
    assert states == {"news": "withdrawn", "offers": "confirmed"}
    page.click(f"button:has-text('{text['withdraw_all']}')")
    page.wait_for_selector("[role=status]")
    assert set(person.consents.values_list("state", flat=True)) == {"withdrawn"}
    assert page.locator("input[type=checkbox]:checked").count() == 0
