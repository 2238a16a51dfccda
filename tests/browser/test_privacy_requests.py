"""Privacy requests in a real browser: the public form and its verification, the DPO answering an
access and an erasure request from the dashboard, and box office registering a call."""

import io
import json
import re
import zipfile
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.core import mail
from django.utils import timezone

from concerthouse.models import AuditEntry
from consent.models import Consent, ConsentEvent
from customers.models import Customer
from newsletters.services import is_suppressed
from privacy_requests import services
from privacy_requests.models import AccessPackage, PrivacyRequest
from tests.browser import log_in
from tests.factories import CustomerFactory, subscribe

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KNOWN = "ase.odegard@example.no"
UNKNOWN = "nobody.here@example.se"


@pytest.fixture
def requests_made(page):
    """Every URL the browser fetches, to prove that no page reaches a third party."""
    urls = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


@pytest.fixture
def ase(db):
    """A customer in the register, with nothing else recorded about her."""
    return CustomerFactory(email=KNOWN, first_name="Åse", last_name="Ødegård", country="NO")


def link_in_email(message, name):
    match = re.search(rf"https?://\S+/{name}/\S+/", message.body)
    assert match, message.body
    return urlparse(match.group(0)).path


def emails_to(address):
    return [message for message in mail.outbox if message.to == [address]]


def submit_access_request(page, language, email):
    page.goto(f"/{language}/privacy/request/")
    assert page.get_attribute("html", "lang") == language
    page.check("input[name=kind][value=access]")
    page.fill("#id_email", email)
    page.click("form[method=post] button[type=submit]")
    page.wait_for_url(f"**/{language}/privacy/request/sent/")
    assert page.get_attribute("html", "lang") == language
    return page.inner_text("main")


def open_request(page, privacy_request):
    page.goto("/dpo/")
    page.click(f"table.queue a:has-text('{str(privacy_request.public_id)[:8]}')")
    page.wait_for_selector(f"h1:has-text('{privacy_request.public_id}')")


def press_and_wait(page, button):
    page.click(f"section.actions button:has-text('{button}')")
    page.wait_for_selector(".messages [role=status]")


@pytest.mark.parametrize("language", ["sv", "nb", "en"])
def test_the_public_form_says_the_same_for_every_address_and_verifies_after_the_button(
    page, live_server, requests_made, ase, language
):
    known_page = submit_access_request(page, language, KNOWN)
    unknown_page = submit_access_request(page, language, UNKNOWN)

    # The same page for a customer and a stranger: it must not tell who is in the register.
    assert known_page == unknown_page
    if language == "en":
        assert "Check your inbox" in known_page
    for about_her in ("Åse", "Ødegård", KNOWN):
        assert about_her not in known_page
    requests = {r.email: r for r in PrivacyRequest.objects.all()}
    assert set(requests) == {KNOWN, UNKNOWN}
    for privacy_request in requests.values():
        assert (privacy_request.kind, privacy_request.state) == ("access", "unverified")
        assert privacy_request.channel == "web"
        assert privacy_request.language == language
        assert privacy_request.customer is None  # not even looked up yet
        assert privacy_request.due_on is None

    confirmed_pages = {}
    for email in (KNOWN, UNKNOWN):
        (verification,) = emails_to(email)
        link = link_in_email(verification, "privacy/verify")
        assert link.startswith(f"/{language}/privacy/verify/")
        page.goto(link)
        page.wait_for_selector("main form[method=post] button[type=submit]")
        if language == "en":
            assert page.is_visible("button:has-text('Confirm the request')")
        # Opening the link (as a mail scanner would) verifies nothing.
        assert PrivacyRequest.objects.get(email=email).state == "unverified"
        page.click("main form[method=post] button[type=submit]")
        page.wait_for_selector("main [role=status]")
        assert page.get_attribute("html", "lang") == language
        confirmed_pages[email] = page.inner_text("main")

    assert confirmed_pages[KNOWN] == confirmed_pages[UNKNOWN]
    for about_her in ("Åse", "Ødegård", KNOWN):
        assert about_her not in confirmed_pages[KNOWN]
    for email, customer in ((KNOWN, ase), (UNKNOWN, None)):
        privacy_request = PrivacyRequest.objects.get(email=email)
        assert privacy_request.state == "open"
        assert privacy_request.received_at is not None
        assert privacy_request.due_on > timezone.localdate()
        assert privacy_request.customer == customer
    host = urlparse(live_server.url).netloc
    assert {urlparse(url).netloc for url in requests_made} == {host}


def test_the_dpo_answers_an_access_request_with_a_package_the_person_can_download(
    page, live_server, dpo, ase
):
    subscribe(ase, "news")
    privacy_request = services.privacy_request_submit(kind="access", email=KNOWN, language="en")
    privacy_request = services.privacy_request_verify(request=privacy_request)
    assert privacy_request.customer == ase

    log_in(page, "dpo")
    page.goto("/dpo/")
    row = page.locator(f"table.queue tr:has(a:has-text('{str(privacy_request.public_id)[:8]}'))")
    assert row.locator("td.days").inner_text() == str(privacy_request.days_left())
    assert "Access to my data" in row.inner_text()
    open_request(page, privacy_request)
    facts = page.inner_text("dl.facts")
    assert KNOWN in facts
    assert f"{privacy_request.days_left()} days left" in facts

    page.select_option("select[name=assignee]", label="dpo")
    press_and_wait(page, "Assign")
    privacy_request.refresh_from_db()
    assert privacy_request.assigned_to == dpo
    assert page.inner_text("dt:has-text('Assigned to') + dd") == "dpo"

    mail.outbox.clear()
    press_and_wait(page, "Create the package and answer")
    assert page.inner_text("dd.state") == "Completed"
    privacy_request.refresh_from_db()
    assert privacy_request.state == "completed"
    assert privacy_request.closed_at is not None
    assert AccessPackage.objects.filter(request=privacy_request).count() == 1

    (answer,) = emails_to(KNOWN)
    assert answer.subject.startswith("Our answer to your request")
    link = link_in_email(answer, "privacy/download")
    assert link.startswith("/en/privacy/download/")
    # The dashboard links the same package.
    assert page.is_visible("dl.facts a:has-text('Download')")

    response = page.request.get(live_server.url + link)
    assert response.status == 200
    assert "my-data.zip" in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.body())) as archive:
        assert {"data.json", "report.html"} <= set(archive.namelist())
        data = json.loads(archive.read("data.json"))
        report = archive.read("report.html").decode()
    assert KNOWN in json.dumps(data, ensure_ascii=False)
    assert "Your personal data" in report
    assert AccessPackage.objects.get(request=privacy_request).downloaded_at is not None


def test_the_dpo_erases_a_person_who_then_stays_off_every_list(page, dpo, aase):
    subscribe(aase, "news")  # aase already has an audit trail: finance recorded her identifiers
    person_id, public_id = aase.pk, aase.public_id
    assert ConsentEvent.objects.filter(customer_id=person_id).exists()
    assert AuditEntry.objects.filter(target_id=public_id).exists()
    erasure = services.privacy_request_register(
        actor=dpo,
        kind="erasure",
        channel="email_or_letter",
        email=KNOWN,
        language="en",
        identity_check="Wrote from the address in the register.",
    )
    overdue = services.privacy_request_register(
        actor=dpo,
        kind="access",
        channel="phone",
        email=UNKNOWN,
        language="en",
        identity_check="Gave the booking reference.",
    )
    PrivacyRequest.objects.filter(pk=overdue.pk).update(
        due_on=timezone.localdate() - timedelta(days=3)
    )

    log_in(page, "dpo")
    page.goto("/dpo/")
    first_row = page.locator("table.queue tbody tr").first
    assert first_row.get_attribute("class") == "overdue"
    assert str(overdue.public_id)[:8] in first_row.inner_text()
    assert first_row.locator("td.days").inner_text() == "-3"
    assert page.is_visible("h1 .overdue")
    second_row = page.locator("table.queue tbody tr").nth(1)
    assert str(erasure.public_id)[:8] in second_row.inner_text()
    assert second_row.get_attribute("class") != "overdue"

    open_request(page, erasure)
    mail.outbox.clear()
    press_and_wait(page, "Erase and answer")
    assert page.inner_text("dd.state") == "Completed"
    assert "Erased" in page.inner_text("dl.facts")

    assert not Customer.objects.filter(pk=person_id).exists()
    assert not ConsentEvent.objects.filter(customer_id=person_id).exists()
    assert not Consent.objects.filter(customer_id=person_id).exists()
    assert not AuditEntry.objects.filter(target_id=public_id).exists()
    assert is_suppressed(KNOWN)
    erasure.refresh_from_db()
    assert erasure.state == "completed"
    assert erasure.customer is None
    (answer,) = emails_to(KNOWN)
    assert answer.subject.startswith("Our answer to your request")
    assert "We have erased your personal data" in answer.body


def test_box_office_registers_a_request_received_by_phone_but_cannot_open_the_queue(
    page, box_office
):
    log_in(page, "boxoffice")
    page.goto("/dpo/requests/register/")
    page.check("input[name=kind][value=erasure]")
    page.fill("#id_email", "Marta.Angstrom@Example.se")
    page.fill("#id_name", "Märta Ångström")
    page.select_option("#id_channel", "phone")
    page.select_option("#id_language", "sv")
    page.get_by_label("How did you check who the person is?").fill(
        "Asked for the booking reference and the postal address."
    )
    page.click("main form button[type=submit]")
    page.wait_for_selector(".messages [role=status]:has-text('The request is registered')")

    registered = PrivacyRequest.objects.get()
    assert (registered.kind, registered.channel, registered.state) == ("erasure", "phone", "open")
    assert registered.registered_by == box_office
    assert registered.email == "marta.angstrom@example.se"
    assert registered.language == "sv"
    assert registered.identity_check == "Asked for the booking reference and the postal address."
    assert registered.due_on is not None
    assert registered.due_on.isoformat() in page.inner_text(".messages")

    response = page.goto("/dpo/")
    assert response.status == 403
    response = page.goto(f"/dpo/requests/{registered.public_id}/")
    assert response.status == 403
