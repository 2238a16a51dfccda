import re

import pytest
from django.core import mail
from django.test import TestCase

from concerthouse.models import AuditEntry
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


# --- Every consent the person holds, health data included (Art. 7(3), 9) -------------------------
@pytest.fixture
def seated(season):
    """Åse, a newsletter reader whose wheelchair place the box office recorded with her explicit
    consent."""
    from subscriptions.services import seating_needs_record

    person = subscribe(
        CustomerFactory(email="ase.odegard@example.no", first_name="Åse", last_name="Ødegård"),
        "news",
        language="nb",
    )
    seating_needs_record(
        customer=person,
        season=season,
        needs=["wheelchair", "companion"],
        notice=notice("accessibility", "nb"),
        channel="counter_or_phone",
    )
    return person


def seating_needs_of(person):
    from subscriptions.models import SeatingNeed

    return SeatingNeed.objects.filter(customer=person)


@pytest.mark.django_db
def test_the_preference_centre_lists_the_accessibility_consent_the_person_holds(client, seated):
    html = client.get(prefs(seated, "nb")).content.decode()
    assert "Opplysninger om tilrettelegging" in html
    assert re.search(rf'value="{notice("accessibility", "nb").pk}"[^>]*checked', html)


@pytest.mark.django_db
def test_unticking_accessibility_withdraws_it_and_deletes_the_seating_needs(client, seated):
    response = client.post(
        prefs(seated, "nb"), {"action": "save", "chosen": [notice("news", "nb").pk]}
    )
    html = response.content.decode()
    assert states(seated) == {"news": "confirmed", "accessibility": "withdrawn"}
    assert not seating_needs_of(seated).exists()
    event = seated.consent_events.get(purpose__code="accessibility", action="withdrawn")
    assert event.channel == "preference_centre"
    # The page says what changed, in her language, and the box is no longer there to tick.
    assert "Trukket tilbake: Opplysninger om tilrettelegging." in html
    assert "Plassbehovene som samtykket ditt om tilrettelegging lot oss lagre, er slettet." in html
    assert f'value="{notice("accessibility", "nb").pk}"' not in html


@pytest.mark.django_db
def test_the_accessibility_consent_cannot_be_given_in_the_preference_centre(client, news):
    person = subscribe(CustomerFactory(), "news")
    response = client.post(
        prefs(person), {"action": "save", "chosen": [notice("accessibility").pk]}
    )
    assert response.status_code == 200
    assert states(person) == {"news": "confirmed"}  # nothing written, not even a withdrawal
    assert b"no longer offered" in response.content


@pytest.mark.django_db
def test_withdrawing_everything_means_every_consent_on_the_page_and_says_which(client, seated):
    response = client.post(prefs(seated, "nb"), {"action": "withdraw_all"})
    html = response.content.decode()
    assert set(states(seated).values()) == {"withdrawn"}
    assert not seating_needs_of(seated).exists()
    assert "Trukket tilbake: Nyhetsbrev om konserter, Opplysninger om tilrettelegging." in html


@pytest.mark.django_db
def test_withdrawing_everything_when_nothing_is_held_says_that_nothing_changed(client, news):
    person = CustomerFactory()
    html = client.post(prefs(person), {"action": "withdraw_all"}).content.decode()
    assert "You held no consent to withdraw, so nothing changed." in html
    assert "Every consent is withdrawn" not in html
    assert not ConsentEvent.objects.exists()


@pytest.mark.django_db
def test_saving_the_same_choices_says_that_nothing_changed(client, news):
    person = subscribe(CustomerFactory(), "news")
    html = client.post(
        prefs(person), {"action": "save", "chosen": [notice("news").pk]}
    ).content.decode()
    assert "Nothing changed: these were already your choices." in html
    assert "Your choices are saved." not in html


# --- After an objection: marketing stopped, and the one way back (Art. 21(3)) --------------------
def confirm_link(message):
    return path_of(re.search(r"https?://\S+/newsletter/confirm/\S+/", message.body).group(0))


@pytest.mark.django_db
def test_after_an_objection_the_page_shows_marketing_stopped_and_offers_the_way_back(client, news):
    person = subscribe(CustomerFactory(), "news", "offers")
    html = client.post(prefs(person), {"action": "object"}).content.decode()
    assert "Your objection is recorded." in html
    assert "Withdrawn: Concert newsletter, Offers." in html
    assert "Marketing is stopped" in html
    # No box of a list to tick as if it would change anything; the way back instead.
    assert 'name="chosen"' not in html
    assert 'name="lists"' in html and 'value="opt_in"' in html
    assert 'value="object"' not in html


@pytest.mark.django_db
def test_ticking_a_list_after_an_objection_writes_nothing(client, news):
    person = subscribe(CustomerFactory(), "news")
    client.post(prefs(person), {"action": "object"})
    count = ConsentEvent.objects.count()
    response = client.post(prefs(person), {"action": "save", "chosen": [notice("news").pk]})
    assert response.status_code == 200
    assert ConsentEvent.objects.count() == count
    person.refresh_from_db()
    assert person.objects_to_marketing and states(person) == {"news": "withdrawn"}


@pytest.mark.django_db
def test_the_way_back_is_a_fresh_opt_in_confirmed_from_the_person_s_own_address(client, news):
    person = subscribe(CustomerFactory(email="marta@example.se", first_name="Märta"), "news")
    client.post(prefs(person), {"action": "object"})
    mail.outbox.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(prefs(person), {"action": "opt_in", "lists": [notice("news").pk]})
    assert "Nothing starts until you confirm from it" in response.content.decode()
    # Until the owner of the address confirms, the objection stands and nothing counts.
    person.refresh_from_db()
    assert person.objects_to_marketing
    assert states(person) == {"news": "pending"}
    assert person not in Customer.objects.marketable()
    (message,) = mail.outbox
    assert message.to == ["marta@example.se"]
    link = confirm_link(message)
    assert "lifts that objection" in client.get(link).content.decode()
    client.post(link)
    person.refresh_from_db()
    assert not person.objects_to_marketing
    assert states(person) == {"news": "confirmed"}
    assert not services.is_suppressed(person.email)
    confirmed = person.consent_events.filter(action="confirmed").latest("at")
    assert "lifts the objection" in confirmed.evidence
    assert AuditEntry.objects.filter(action="customer.marketing_objection_withdrawn").exists()
    assert "Marketing is stopped" not in client.get(prefs(person)).content.decode()


@pytest.mark.django_db
def test_the_way_back_needs_a_list_and_changes_nothing_without_one(client, news):
    person = subscribe(CustomerFactory(), "news")
    client.post(prefs(person), {"action": "object"})
    mail.outbox.clear()
    count = ConsentEvent.objects.count()
    response = client.post(prefs(person), {"action": "opt_in"})
    assert b"Choose at least one newsletter." in response.content
    assert ConsentEvent.objects.count() == count and not mail.outbox


@pytest.mark.django_db
def test_a_signup_confirmed_from_the_address_is_the_same_way_back(client, news):
    person = subscribe(CustomerFactory(email="ase.odegard@example.no"), "news")
    client.post(prefs(person), {"action": "object"})
    mail.outbox.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.newsletter_signup(
            email="Ase.Odegard@Example.no", language="nb", notices=[notice("news", "nb")]
        )
    person.refresh_from_db()
    assert person.objects_to_marketing  # a signup alone proves nothing
    client.post(confirm_link(mail.outbox[-1]))
    person.refresh_from_db()
    assert not person.objects_to_marketing and states(person) == {"news": "confirmed"}
