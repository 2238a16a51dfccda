import re

import pytest
from django.core import mail
from django.test import TestCase

from consent.models import Consent, ConsentEvent, NoticeVersion
from customers.models import Customer
from newsletters import links, services
from newsletters.models import Suppression
from tests.factories import CustomerFactory, subscribe


def path_of(url):
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def prefs(customer, language="en"):
    return path_of(links.preferences_url(customer, language=language))


def notice(code, language="en"):
    return NoticeVersion.objects.filter(purpose__code=code, language=language).latest("version")


def states(customer):
    return dict(customer.consents.values_list("purpose__code", "state"))


@pytest.mark.django_db
def test_the_preference_centre_opens_from_the_link_without_a_login(client, news):
    person = subscribe(CustomerFactory(first_name="Åse"), "news")
    page = client.get(prefs(person))
    assert page.status_code == 200
    html = page.content.decode()
    assert re.search(rf'value="{notice("news").pk}"[^>]*checked', html)
    assert not re.search(rf'value="{notice("offers").pk}"[^>]*checked', html)
    assert person.email not in html  # nothing shown to whoever holds a forwarded link


@pytest.mark.django_db
def test_changing_lists_confirms_what_is_ticked_and_withdraws_the_rest(client, news):
    person = subscribe(CustomerFactory(), "news")
    response = client.post(
        prefs(person), {"action": "save", "chosen": [notice("offers").pk, notice("ad-matching").pk]}
    )
    assert response.status_code == 200 and b"saved" in response.content
    assert states(person) == {
        "news": "withdrawn",
        "offers": "confirmed",
        "ad-matching": "confirmed",
    }
    channels = set(person.consent_events.values_list("channel", flat=True))
    assert channels == {"preference_centre"}
    # Saving the same choice again writes nothing.
    count = ConsentEvent.objects.count()
    client.post(
        prefs(person), {"action": "save", "chosen": [notice("offers").pk, notice("ad-matching").pk]}
    )
    assert ConsentEvent.objects.count() == count


@pytest.mark.django_db
def test_withdrawing_everything_is_one_click_and_suppresses_the_address(client, news):
    person = subscribe(CustomerFactory(email="ase@example.no"), "news", "offers", "open-tracking")
    response = client.post(prefs(person), {"action": "withdraw_all"})
    assert response.status_code == 200
    assert set(states(person).values()) == {"withdrawn"}
    assert services.is_suppressed("ASE@example.no")


@pytest.mark.django_db
def test_an_objection_is_absolute(client, news):
    person = subscribe(CustomerFactory(), "news", "ad-matching", "accessibility")
    client.post(prefs(person), {"action": "object"})
    person.refresh_from_db()
    assert person.objects_to_marketing
    assert person.marketing_objection_channel == "preference_centre"
    assert states(person) == {
        "news": "withdrawn",
        "ad-matching": "withdrawn",
        "accessibility": "confirmed",  # serves the season subscription, not marketing
    }
    assert Suppression.objects.get().reason == "objected"
    assert person not in Customer.objects.marketable()


@pytest.mark.django_db
def test_opting_in_again_from_the_preference_centre_lifts_the_suppression(client, news):
    person = subscribe(CustomerFactory(), "news")
    client.post(prefs(person), {"action": "withdraw_all"})
    client.post(prefs(person), {"action": "save", "chosen": [notice("news").pk]})
    assert not services.is_suppressed(person.email)
    assert states(person)["news"] == "confirmed"


@pytest.mark.django_db
def test_an_expired_or_forged_link_offers_a_fresh_one(client, news, settings):
    person = subscribe(CustomerFactory(), "news")
    url = prefs(person)
    settings.NEWSLETTER_PREFERENCE_LINK_DAYS = 0
    forged = (
        url[:-6] + ("X" if url[-6] != "X" else "Y") + url[-5:]
    )  # one character of the signature
    for target in (url, forged):
        response = client.post(target, {"action": "withdraw_all"})
        assert response.status_code == 400
        assert b"/en/preferences/" in response.content
    assert states(person) == {"news": "confirmed"}


@pytest.mark.django_db
def test_asking_for_a_link_answers_the_same_for_known_and_unknown_addresses(client, news):
    CustomerFactory(email="known@example.se")
    answers = []
    for email in ("Known@Example.se", "unknown@example.se"):
        with TestCase.captureOnCommitCallbacks(execute=True):
            response = client.post("/sv/preferences/", {"email": email})
        answers.append((response.status_code, response.content))
    assert answers[0] == answers[1]
    (message,) = mail.outbox
    assert message.to == ["known@example.se"] and "/sv/preferences/" in message.body


@pytest.mark.django_db
def test_a_link_for_an_erased_person_leads_nowhere(client, news):
    person = subscribe(CustomerFactory(), "news")
    url = prefs(person)
    person.delete()
    assert client.get(url).status_code == 400


@pytest.mark.django_db
def test_a_purpose_withdrawn_from_offer_still_shows_to_those_who_hold_it(client, news):
    holder = subscribe(CustomerFactory(), "news")
    news.is_active = False
    news.save()
    assert f'value="{notice("news").pk}"'.encode() in client.get(prefs(holder)).content
    newcomer = CustomerFactory()
    assert f'value="{notice("news").pk}"'.encode() not in client.get(prefs(newcomer)).content
    response = client.post(prefs(newcomer), {"action": "save", "chosen": [notice("news").pk]})
    assert response.status_code == 200
    assert not Consent.objects.filter(customer=newcomer).exists()
