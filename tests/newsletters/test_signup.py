import re
import threading
from datetime import timedelta
from urllib.parse import urljoin

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, connections
from django.test import TestCase
from django.utils import timezone, translation

from concerthouse import signed_links
from consent.models import Consent, ConsentEvent, NoticeVersion
from consent.selectors import people_consenting
from customers.models import Customer
from newsletters import links, services
from newsletters.forms import SignupForm
from newsletters.models import Signup, SignupIntake
from newsletters.tasks import (
    process_signup_intakes_task,
    send_owed_confirmations_task,
    send_signup_confirmation_task,
)
from tests.factories import CustomerFactory, subscribe

SIGNUP = "/en/newsletter/"


def committed():
    """Run the on-commit callbacks (the queued tasks) as a real commit would."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def current_notice(code, language="en"):
    return NoticeVersion.objects.filter(purpose__code=code, language=language).latest("version")


def sign_up(client, email, *codes, tracking=False, language="en", **names):
    data = {
        "email": email,
        "language": language,
        "lists": [current_notice(code, language).pk for code in codes],
        **names,
    }
    if tracking:
        data["open_tracking"] = [current_notice("open-tracking", language).pk]
    with committed():
        return client.post(f"/{language}/newsletter/", data)


def link_in(message, name):
    match = re.search(rf"https?://\S+/{name}/\S+/", message.body)
    assert match, message.body
    return match.group(0).split("://", 1)[1].split("/", 1)[1].join(["/", ""])


@pytest.mark.django_db
def test_the_form_offers_every_list_unticked_and_open_tracking_separately(client, family_list):
    page = client.get(SIGNUP).content.decode()
    for code in ("news", "family", "offers", "surveys"):
        assert f'value="{current_notice(code).pk}"' in page
    assert 'name="open_tracking"' in page
    assert "checked" not in page


@pytest.mark.django_db
def test_a_signup_stores_pending_consent_and_mails_a_confirmation_link(client, news):
    response = sign_up(client, "Marta.Angstrom@Example.se", "news", first_name="Märta")
    assert (
        response.status_code == 302
        and urljoin("/en/newsletter/", response.url) == "/en/newsletter/thanks/"
    )
    person = Customer.objects.get()
    assert (person.email, person.first_name, person.source) == (
        "marta.angstrom@example.se",
        "Märta",
        "web_signup",
    )
    assert Consent.objects.get(customer=person).state == "pending"
    assert person not in people_consenting(purpose=news)
    (message,) = mail.outbox
    assert message.to == ["marta.angstrom@example.se"]
    assert "Concert newsletter" in message.body
    assert "/en/newsletter/confirm/" in message.body
    assert "/en/preferences/" in message.body  # every email links to the preference centre


@pytest.mark.django_db
def test_the_confirmation_link_confirms_only_when_its_button_is_pressed(client, news):
    sign_up(client, "ase@example.no", "news", tracking=True)
    confirm = link_in(mail.outbox[0], "newsletter/confirm")
    page = client.get(confirm)
    assert page.status_code == 200 and b"Concert newsletter" in page.content
    assert set(Consent.objects.values_list("state", flat=True)) == {"pending"}
    done = client.post(confirm)
    assert done.status_code == 200 and b"confirmed" in done.content
    assert set(Consent.objects.values_list("state", flat=True)) == {"confirmed"}
    assert client.post(confirm).status_code == 200  # a double click changes nothing more
    assert ConsentEvent.objects.filter(action="confirmed").count() == 2  # news and tracking


@pytest.mark.django_db
def test_new_pending_and_confirmed_addresses_get_the_same_answer(client, news):
    subscribe(CustomerFactory(email="known@example.se"), "news")
    sign_up(client, "pending@example.se", "news")
    answers = {
        email: sign_up(client, email, "news")
        for email in ("new@example.se", "pending@example.se", "KNOWN@example.se")
    }
    assert {(r.status_code, urljoin("/en/newsletter/", r.url)) for r in answers.values()} == {
        (302, "/en/newsletter/thanks/")
    }
    # The confirmed person keeps a single confirmed consent; nothing is demoted to pending.
    known = Customer.objects.with_email("known@example.se").get()
    assert list(known.consents.values_list("state", flat=True)) == ["confirmed"]


@pytest.mark.django_db
def test_a_repeated_signup_resends_the_link_rather_than_duplicating(client, news):
    sign_up(client, "ase@example.no", "news")
    sign_up(client, "ASE@example.no", "news")  # a double click: no second email yet
    assert len(mail.outbox) == 1
    Signup.objects.update(
        confirmation_requested_at=timezone.now() - timedelta(minutes=5),
        confirmation_sent_at=timezone.now() - timedelta(minutes=5),
    )
    sign_up(client, "ase@example.no", "news")
    assert len(mail.outbox) == 2
    assert Customer.objects.count() == 1 and Signup.objects.count() == 1
    assert ConsentEvent.objects.count() == 1
    # Both links lead to the same signup.
    signups = {
        signed_links.read(link_in(message, "newsletter/confirm").split("/")[-2], salt=links.CONFIRM)
        for message in mail.outbox
    }
    assert signups == {Signup.objects.get().public_id.hex}
    client.post(link_in(mail.outbox[1], "newsletter/confirm"))
    assert Consent.objects.get().state == "confirmed"


@pytest.mark.django_db
def test_names_typed_on_the_form_never_overwrite_the_register(client, news):
    person = CustomerFactory(email="ase@example.no", first_name="Åse", last_name="")
    sign_up(client, "ase@example.no", "news", first_name="Mallory", last_name="Ødegård")
    person.refresh_from_db()
    assert (person.first_name, person.last_name) == ("Åse", "")
    client.post(link_in(mail.outbox[0], "newsletter/confirm"))
    person.refresh_from_db()
    # Confirmed by the address's owner, a name fills a gap but does not replace one.
    assert (person.first_name, person.last_name) == ("Åse", "Ødegård")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Choose at least one newsletter."),
        ("sv", "Välj minst ett nyhetsbrev."),
        ("nb", "Velg minst ett nyhetsbrev."),
    ],
)
def test_a_signup_without_a_list_is_refused_in_the_page_language(client, news, language, message):
    response = sign_up(client, "ase@example.no", tracking=True, language=language)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Customer.objects.exists() and not ConsentEvent.objects.exists()
    assert mail.outbox == []


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["not-an-address", "", "a@b", "x" * 250 + "@example.se"])
def test_a_bad_address_is_refused_and_nothing_is_written(client, news, email):
    response = sign_up(client, email, "news")
    assert response.status_code == 200 and b"errorlist" in response.content
    assert not Customer.objects.exists() and not Signup.objects.exists()


@pytest.mark.django_db
def test_nothing_one_request_brings_to_the_form_shows_on_the_next(client, news):
    """What one request brings, its language, its values, its errors, must not show on the next,
    and no form instance adds to the fields of the next."""
    refused = sign_up(client, "<b>@example.se", "news", language="sv", first_name="Åse<script>")
    assert refused.status_code == 200 and refused.content.decode().count("errorlist") >= 2
    for language in ("nb", "en", "sv"):
        page = client.get(f"/{language}/newsletter/").content.decode()
        assert "errorlist" not in page and "Åse" not in page and "example.se" not in page
        assert re.search(rf'<option value="{language}" selected>', page), language
    validators = [len(field.validators) for field in SignupForm(language="en").fields.values()]
    SignupForm({"email": "a@example.se"}, language="sv").is_valid()
    assert [len(f.validators) for f in SignupForm(language="nb").fields.values()] == validators


@pytest.mark.django_db
def test_the_confirmation_email_is_in_the_language_chosen(client, news):
    sign_up(client, "ase@example.no", "news", language="nb")
    (message,) = mail.outbox
    with translation.override("nb"):
        assert "Bekreft" in message.subject
    assert "/nb/newsletter/confirm/" in message.body
    assert "Nyhetsbrev om konserter" in message.body


@pytest.mark.django_db
def test_an_expired_or_tampered_confirmation_link_confirms_nothing(client, news, settings):
    sign_up(client, "ase@example.no", "news")
    confirm = link_in(mail.outbox[0], "newsletter/confirm")
    tampered = confirm[:-3] + ("A" if confirm[-3] != "A" else "B") + confirm[-2:]
    assert client.post(tampered).status_code == 400
    settings.NEWSLETTER_CONFIRMATION_DAYS = 0
    response = client.post(confirm)
    assert response.status_code == 400 and b"expired" in response.content
    assert Consent.objects.get().state == "pending"


@pytest.mark.django_db
def test_the_confirmation_task_run_twice_sends_once(news):
    person = CustomerFactory()
    with committed():
        signup = services.newsletter_signup(
            email=person.email, language="en", notices=[current_notice("news")]
        )
    assert len(mail.outbox) == 1
    Signup.objects.filter(pk=signup.pk).update(confirmation_sent_at=None)
    assert send_signup_confirmation_task(signup.pk) is True
    assert send_signup_confirmation_task(signup.pk) is False
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_with_the_broker_down_the_signup_is_kept_and_the_sweep_records_it_and_sends_the_link(
    client, news, broker_down, caplog
):
    response = sign_up(client, "ase@example.no", "news", first_name="Åse")
    assert (
        response.status_code == 302
        and urljoin("/en/newsletter/", response.url) == "/en/newsletter/thanks/"
    )
    assert "could not queue newsletters.tasks.process_signup_intakes_task" in caplog.text
    assert "ase@example.no" not in caplog.text and "Åse" not in caplog.text
    assert SignupIntake.objects.count() == 1
    assert not Customer.objects.exists() and mail.outbox == []

    broker_down()  # the broker is back, and beat's sweep runs
    assert process_signup_intakes_task() == 1
    assert process_signup_intakes_task() == 0  # a sweep run twice does nothing more
    assert not SignupIntake.objects.exists()
    signup = Signup.objects.get()
    assert Consent.objects.get(customer=signup.customer).state == "pending"
    (message,) = mail.outbox
    assert message.to == ["ase@example.no"]
    assert send_owed_confirmations_task() == 0


@pytest.mark.django_db
def test_a_confirmation_the_recording_could_not_send_is_sent_by_the_sweep(client, news, settings):
    settings.EMAIL_BACKEND = "tests.newsletters.test_signup.RefusingBackend"
    sign_up(client, "marta@example.se", "news")
    signup = Signup.objects.get()  # recorded, and its email still owed
    assert signup.owes_confirmation_email and mail.outbox == []
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Signup.objects.update(confirmation_requested_at=timezone.now() - timedelta(minutes=2))
    assert send_owed_confirmations_task() == 1
    assert send_owed_confirmations_task() == 0
    assert len(mail.outbox) == 1


class RefusingBackend(BaseEmailBackend):
    """An SMTP server that is down."""

    def send_messages(self, messages):
        raise ConnectionRefusedError("the SMTP server is down")


@pytest.mark.django_db
def test_no_personal_data_reaches_the_url_or_the_logs(client, news, caplog):
    response = sign_up(client, "ase.odegard@example.no", "news", first_name="Åse")
    assert "ase" not in response.url
    assert "ase.odegard" not in caplog.text and "Åse" not in caplog.text
    for url in re.findall(r"https?://\S+", mail.outbox[0].body):
        assert "ase" not in url.lower() and "example.no" not in url


@pytest.mark.django_db
def test_only_the_owner_s_own_confirmation_lifts_a_suppression(client, news):
    person = subscribe(CustomerFactory(email="ase@example.no"), "news")
    services.preferences_withdraw_all(customer=person)
    sign_up(client, "ase@example.no", "news")
    assert services.is_suppressed("ase@example.no")  # a signup alone proves nothing
    client.post(link_in(mail.outbox[-1], "newsletter/confirm"))
    assert not services.is_suppressed("ase@example.no")
    assert person in people_consenting(purpose=news)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_double_click_racing_itself_makes_one_person_one_signup_and_one_email(news):
    if connection.vendor != "postgresql":
        pytest.skip("needs a server database with concurrent connections (PostgreSQL)")
    barrier = threading.Barrier(2)
    notice = current_notice("news")
    errors = []

    def click(email):
        try:
            barrier.wait()
            services.newsletter_signup(email=email, language="en", notices=[notice])
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=click, args=(email,))
        for email in ("ase.odegard@example.no", "ASE.Odegard@example.no")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Customer.objects.count() == 1 and Signup.objects.count() == 1
    assert ConsentEvent.objects.count() == 1
    assert len(mail.outbox) == 1
