"""The breach register in a real browser: the DPO records a breach a ticket agent reported,
reviews whom it affected before saving, notifies the authority and tells the people."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from concerthouse.privacy.map import RecipientKind
from privacy_requests.models import AffectedPerson, Breach, Processor
from subscriptions import imports
from tests.browser import log_in
from tests.factories import CustomerFactory, mailed, subscribe

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LINES = [
    "order_id;email;first_name;last_name;series;seats;amount;purchased_on;phone;language",
    "E-1;marta@example.se;Märta;Ångström;thu;2;2900.00;2026-09-01;;sv",
    "E-2;ase@example.no;Åse;Ødegård;thu;1;1450.00;2026-09-02;;nb",
    "E-3;jens@example.com;Jens;Olsen;thu;1;1450.00;2026-09-03;;en",
]


def texts(english):
    return {"en": english, "sv": f"{english} (sv)", "nb": f"{english} (nb)"}


@pytest.fixture
def register(db):
    Processor.objects.create(
        name="Eventim",
        role=Processor.Role.RECIPIENT,
        kind=RecipientKind.TICKET_AGENT,
        recipient_code="eventim",
        purposes=texts("Sells our tickets."),
        data_categories=["contact", "accounting"],
        country="SE",
        erasure_contact="privacy@eventim.example",
        breach_contact="security@eventim.example",
        breach_reporting_hours=48,
    )
    Processor.objects.create(
        name="Mail service",
        role=Processor.Role.PROCESSOR,
        kind=RecipientKind.MAIL,
        purposes=texts("Sends our email."),
        data_categories=["contact"],
        country="SE",
        erasure_contact="privacy@mail.example",
    )


@pytest.fixture
def eventim_customers(register, box_office, thursdays):
    imports.import_create(
        agent="Eventim",
        upload=SimpleUploadedFile("export.csv", "\n".join(LINES).encode()),
        actor=box_office,
    )
    # Someone whose data never went to Eventim.
    mailed(subscribe(CustomerFactory(email="web@example.se"), "news"))


def submit(page, button):
    page.click(f"button:has-text('{button}')")
    page.wait_for_load_state()


def test_the_dpo_records_a_breach_reviews_who_is_affected_and_tells_them(
    page, live_server, dpo, eventim_customers
):
    log_in(page, "dpo")
    page.goto("/dpo/breaches/")
    page.click("text=Record a breach")
    page.fill("#id_title", "Eventim's customer list was read by an intruder")
    page.fill("#id_description", "An attacker read the ticket agent's customer database.")
    aware = timezone.localtime() - timedelta(hours=3)
    page.fill("#id_aware_at", aware.strftime("%Y-%m-%dT%H:%M"))
    page.select_option("#id_discovered", "processor")
    page.check("input[name=natures][value=confidentiality]")
    page.select_option("#id_processor", label="Eventim")
    page.check("input[name=data_categories][value=contact]")
    page.check("input[name=data_categories][value=accounting]")
    page.fill("#id_consequences", "Phishing emails in our name.")
    page.fill("#id_measures_taken", "The agent closed the hole and changed its passwords.")
    submit(page, "Record the breach")
    breach = Breach.objects.get()
    page.wait_for_selector(f"h1:has-text('{breach.reference}')")
    clock = page.inner_text("dd.clock")
    assert "h left" in clock and "overdue" not in clock

    # Who is affected: counted first, nothing saved, then recorded.
    page.click("text=Describe the scope and count the people affected")
    assert page.input_value("#id_processor") == str(breach.processor_id)
    submit(page, "Count the people affected")
    assert page.inner_text("p.people-count") == "3 people"
    counts = page.inner_text("section.affected table")
    assert "Contact details" in counts and "Accounting records" in counts
    assert not AffectedPerson.objects.exists()
    submit(page, "Record these people as affected")
    page.wait_for_selector("p.people-total")
    assert page.inner_text("p.people-total").startswith("3 people recorded")
    assert set(AffectedPerson.objects.values_list("person__email", flat=True)) == {
        "marta@example.se",
        "ase@example.no",
        "jens@example.com",
    }

    # The notification to the authority, generated from the entry.
    page.click("text=Prepare the notification")
    text = page.input_value("#id_text")
    assert "(a)" in text and "(d)" in text and "3" in text
    submit(page, "Record as sent")
    page.wait_for_selector("dd.clock:has-text('notified')")

    # The decision and the message, then the messages.
    page.check("input[name=risk][value=high]")
    page.fill(".risk-form textarea[name=reasoning]", "Names and addresses with a sender we use.")
    submit(page, "Record the assessment")
    page.check("input[name=decision][value=tell]")
    page.fill(".people-form textarea[name=reason]", "A high risk of phishing.")
    submit(page, "Record the decision")
    for language in ("sv", "nb", "en"):
        page.fill(f"#id_happened_{language}", f"[{language}] Someone read the agent's list.")
        page.fill(f"#id_consequences_{language}", f"[{language}] You may get false emails.")
        page.fill(f"#id_measures_{language}", f"[{language}] Do not click unknown links.")
    submit(page, "Save the message")
    mail.outbox.clear()
    submit(page, "Send the message to the people affected")
    page.wait_for_selector("p.messages-state")
    assert "sent 3" in page.inner_text("p.messages-state")
    sent = {message.to[0]: message.body for message in mail.outbox}
    assert set(sent) == {"marta@example.se", "ase@example.no", "jens@example.com"}
    assert "[nb] Someone read" in sent["ase@example.no"]
    timeline = page.inner_text("ol.timeline")
    for action in ("recorded", "scope_recorded", "authority_notified", "messages_queued"):
        assert action in timeline
