import pytest
from django.test import Client

from consent.models import Consent
from newsletters import links, services
from tests.factories import CustomerFactory, subscribe


def unsubscribe_path(customer, purpose):
    url = links.unsubscribe_url(customer, purpose)
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


@pytest.fixture
def mail_client():
    """What a mail provider's one-click POST looks like: no cookies, no CSRF token."""
    return Client(enforce_csrf_checks=True)


def one_click(client, path):
    return client.post(
        path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )


@pytest.mark.django_db
def test_one_click_post_without_cookies_unsubscribes_and_answers_200(mail_client, news):
    person = subscribe(CustomerFactory(preferred_language="sv"), "news")
    path = unsubscribe_path(person, news)
    assert path.startswith("/sv/unsubscribe/")
    response = one_click(mail_client, path)
    assert response.status_code == 200
    assert "Location" not in response
    assert not response.cookies  # no session, no CSRF cookie, no notice cookie
    assert Consent.objects.get(customer=person).state == "withdrawn"
    assert person.consent_events.last().channel == "one_click_unsubscribe"


@pytest.mark.django_db
def test_one_click_post_is_idempotent(mail_client, news):
    person = subscribe(CustomerFactory(), "news")
    path = unsubscribe_path(person, news)
    for _ in range(3):
        assert one_click(mail_client, path).status_code == 200
    assert person.consent_events.filter(action="withdrawn").count() == 1


@pytest.mark.django_db
def test_get_shows_a_confirmation_page_and_changes_nothing(client, news):
    person = subscribe(CustomerFactory(), "news")
    response = client.get(unsubscribe_path(person, news))
    assert response.status_code == 200
    assert b"Concert newsletter" in response.content and b'method="post"' in response.content
    assert Consent.objects.get(customer=person).state == "confirmed"


@pytest.mark.django_db
def test_unsubscribing_from_one_list_keeps_the_others(mail_client, news, family_list):
    person = subscribe(CustomerFactory(), "news", "family")
    one_click(mail_client, unsubscribe_path(person, news))
    assert dict(person.consents.values_list("purpose__code", "state")) == {
        "news": "withdrawn",
        "family": "confirmed",
    }
    assert not services.is_suppressed(person.email)
    one_click(mail_client, unsubscribe_path(person, family_list))
    assert services.is_suppressed(person.email)


@pytest.mark.django_db
def test_an_old_link_still_unsubscribes(mail_client, news, settings):
    # Withdrawing must stay as easy as giving, from however old an email (Art. 7(3)).
    settings.NEWSLETTER_PREFERENCE_LINK_DAYS = 0
    settings.NEWSLETTER_CONFIRMATION_DAYS = 0
    person = subscribe(CustomerFactory(), "news")
    assert one_click(mail_client, unsubscribe_path(person, news)).status_code == 200
    assert Consent.objects.get(customer=person).state == "withdrawn"


@pytest.mark.django_db
def test_a_forged_link_changes_nothing(mail_client, news):
    person = subscribe(CustomerFactory(), "news")
    path = unsubscribe_path(person, news)
    forged = path[:-5] + ("x" if path[-5] != "x" else "y") + path[-4:]
    assert one_click(mail_client, forged).status_code == 400
    assert Consent.objects.get(customer=person).state == "confirmed"


@pytest.mark.django_db
def test_an_erased_person_gets_the_same_answer(mail_client, news):
    person = subscribe(CustomerFactory(), "news")
    path = unsubscribe_path(person, news)
    person.delete()
    assert one_click(mail_client, path).status_code == 200
