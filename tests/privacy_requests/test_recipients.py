"""Who holds whose data (Art. 15(1)(c), 19): the recipients told of an erasure, named in the access
report, and refused when the register does not name them, all from the flows the personal-data
map declares next to the data."""

import hashlib

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from concerthouse.privacy.map import RecipientKind
from consent.models import Channel, Purpose
from consent.selectors import notice_current
from newsletters import campaigns
from newsletters import services as newsletters
from newsletters.audience import audience_export
from newsletters.models import AudienceExport, Campaign, CampaignText
from privacy_requests.executors import recipients_of
from privacy_requests.models import Processor, RecipientNotice
from subscriptions import imports
from subscriptions.services import seating_needs_record
from tests.factories import CustomerFactory, mailed, subscribe

from .conftest import committed, execute, texts

COLUMNS = "order_id;email;first_name;last_name;series;seats;amount;purchased_on;phone;language"


def entry(name, kind, *, code="", categories=("contact",)):
    return Processor.objects.create(
        name=name,
        role=Processor.Role.PROCESSOR,
        kind=kind,
        recipient_code=code,
        purposes=texts(f"{name}."),
        data_categories=list(categories),
        country="SE",
        erasure_contact=f"privacy@{name.lower().replace(' ', '-')}.example",
    )


@pytest.fixture
def register(db):
    """A register with one entry of every kind that holds a person's data, and one beside each
    that does not."""
    return {
        "Eventim": entry("Eventim", RecipientKind.TICKET_AGENT, code="eventim"),
        "Ticketmaster": entry("Ticketmaster", RecipientKind.TICKET_AGENT, code="ticketmaster"),
        "Mail service": entry("Mail service", RecipientKind.MAIL),
        "Meta": entry("Meta", RecipientKind.AD_PLATFORM, code="meta"),
        "Google": entry("Google", RecipientKind.AD_PLATFORM, code="google"),
        "Accountant": entry("Accountant", RecipientKind.HOSTING, categories=["accounting"]),
        "Seating host": entry("Seating host", RecipientKind.HOSTING, categories=["health"]),
        "Identity vault": entry(
            "Identity vault", RecipientKind.HOSTING, categories=["identity", "financial"]
        ),
    }


def agent_import(actor, *lines, agent="Eventim"):
    content = "\n".join([COLUMNS, *lines]).encode()
    from django.core.files.uploadedfile import SimpleUploadedFile

    with committed():
        imports.import_create(
            agent=agent, upload=SimpleUploadedFile("export.csv", content), actor=actor
        )


@pytest.fixture
def everywhere(register, box_office, marketing, thursdays, settings):
    """Märta, with data in every app: imported from Eventim (customer, order, payment,
    subscription, the Art. 14 notice mailed to her), newsletters and ad matching, a campaign
    sent, an audience exported to Meta, seating needs, a privacy request."""
    settings.AUDIENCE_EXPORT_MINIMUM = 1
    agent_import(
        box_office, "E-1;marta@example.se;Märta;Ångström;thu;2;2900.00;2026-09-01;0701234567;sv"
    )
    from customers.models import Customer

    person = Customer.objects.get(email="marta@example.se")
    subscribe(person, "news", "ad-matching", language="sv")
    mailed(person)
    audience_export(actor=marketing, recipient="meta")
    purpose = Purpose.objects.get(kind=Purpose.Kind.ACCESSIBILITY)
    seating_needs_record(
        customer=person,
        season=thursdays.season,
        needs=["wheelchair"],
        notice=notice_current(purpose=purpose, language="sv"),
        channel=Channel.COUNTER_OR_PHONE,
        actor=box_office,
    )
    return Customer.objects.get(pk=person.pk)


@pytest.fixture
def web_only(register, news):
    """Åse, who only signed up on the website and confirmed: her confirmation email is all that
    ever left the house."""
    with committed():
        signup = newsletters.newsletter_signup(
            email="ase@example.no", language="nb", notices=[news.notices.get(language="nb")]
        )
    newsletters.signup_confirm(signup=signup)
    return signup.customer


def told_on_erasure(open_request, dpo, person) -> set[str]:
    RecipientNotice.objects.all().delete()
    request = open_request("erasure", person.email)
    execute(request, dpo)
    return set(RecipientNotice.objects.values_list("processor__name", flat=True))


@pytest.mark.django_db
def test_each_recipient_is_told_of_an_erasure_exactly_when_the_person_s_data_flowed_to_it(
    everywhere, register, open_request, dpo
):
    # What Märta's data flows say: the agent she bought from, the mail service (the Art. 14
    # notice and a newsletter), the platform of the export she was in, the hosts of the
    # categories she has rows of (accounting records, seating needs).
    flows = {"Eventim", "Mail service", "Meta", "Accountant", "Seating host"}
    assert {p.name for p in recipients_of(everywhere)} == flows
    told = told_on_erasure(open_request, dpo, everywhere)
    for name in register:
        assert (name in told) == (name in flows), name


@pytest.mark.django_db
def test_an_erasure_of_a_web_only_subscriber_tells_only_the_mail_service(
    web_only, open_request, dpo
):
    assert told_on_erasure(open_request, dpo, web_only) == {"Mail service"}
    (notice,) = [m for m in mail.outbox if m.to == ["privacy@mail-service.example"]]
    assert "ase@example.no" in notice.body


@pytest.mark.django_db
def test_a_person_never_mailed_is_not_named_to_the_mail_service(register, open_request, dpo):
    person = CustomerFactory(email="quiet@example.se", source="box_office")
    assert recipients_of(person) == []
    assert told_on_erasure(open_request, dpo, person) == set()


@pytest.mark.django_db
def test_another_agent_s_customer_is_not_told_to_this_agent(register, box_office, thursdays):
    agent_import(
        box_office,
        "T-1;olle@example.se;Olle;Berg;thu;1;1450.00;2026-09-01;;sv",
        agent="Ticketmaster",
    )
    from customers.models import Customer

    olle = Customer.objects.get(email="olle@example.se")
    names = {p.name for p in recipients_of(olle)}
    assert "Ticketmaster" in names and "Eventim" not in names


@pytest.mark.django_db
def test_an_ad_platform_is_told_only_the_hash_it_received(everywhere, open_request, dpo):
    mail.outbox.clear()
    told_on_erasure(open_request, dpo, everywhere)
    (to_meta,) = [m for m in mail.outbox if m.to == ["privacy@meta.example"]]
    assert hashlib.sha256(b"marta@example.se").hexdigest() in to_meta.body
    assert "marta@example.se" not in to_meta.body
    (to_accountant,) = [m for m in mail.outbox if m.to == ["privacy@accountant.example"]]
    assert "marta@example.se" not in to_accountant.body  # it holds orders, not her address
    (to_agent,) = [m for m in mail.outbox if m.to == ["privacy@eventim.example"]]
    assert "marta@example.se" in to_agent.body


@pytest.mark.django_db
def test_a_correction_is_not_sent_to_a_platform_that_holds_only_hashes(
    everywhere, open_request, dpo
):
    request = open_request(
        "rectification", "marta@example.se", wrong_data="Street", correct_data="Storgatan 9"
    )
    mail.outbox.clear()
    execute(request, dpo, changes={"street_address": "Storgatan 9"})
    (to_meta,) = [m for m in mail.outbox if m.to == ["privacy@meta.example"]]
    assert "Storgatan 9" not in to_meta.body and "delete the entry" in to_meta.body
    (to_agent,) = [m for m in mail.outbox if m.to == ["privacy@eventim.example"]]
    assert "Storgatan 9" in to_agent.body


@pytest.mark.django_db
def test_the_access_report_names_the_same_recipients_as_the_art_19_notices(
    everywhere, open_request, dpo
):
    import zipfile

    from privacy_requests import packages
    from privacy_requests.models import AccessPackage

    request = open_request("access", "marta@example.se", language="sv")
    execute(request, dpo)
    package = AccessPackage.objects.get(request=request)
    report = zipfile.ZipFile(packages.package_path(package)).read("report.html").decode()
    section = report.split("(c)</h2>", 1)[1].split("<h2>", 1)[0]
    for name in ("Eventim", "Mail service", "Meta", "Accountant", "Seating host"):
        assert name in section, name
    for name in ("Ticketmaster", "Google", "Identity vault"):
        assert name not in section, name


# --- Recipients are never contradicted ------------------------------------------------------------
@pytest.mark.django_db
def test_an_export_to_a_platform_not_in_the_register_is_refused_naming_what_to_register(
    marketing, settings
):
    settings.AUDIENCE_EXPORT_MINIMUM = 1
    subscribe(CustomerFactory(email="a@example.se"), "ad-matching")
    with pytest.raises(ValidationError) as refused:
        audience_export(actor=marketing, recipient="google")
    assert "Google Ads" in refused.value.messages[0] and "google" in refused.value.messages[0]
    assert "Processor register" in refused.value.messages[0]
    assert not AudienceExport.objects.exists()


@pytest.mark.django_db
def test_a_campaign_cannot_be_scheduled_until_a_mail_service_is_registered(news, marketing):
    subscribe(CustomerFactory(email="a@example.se"), "news")
    campaign = Campaign.objects.create(name="Autumn", purpose=news)
    CampaignText.objects.create(campaign=campaign, language="sv", subject="S", body="B")
    CampaignText.objects.create(campaign=campaign, language="en", subject="S", body="B")
    with pytest.raises(ValidationError, match="Sends our email"):
        campaigns.campaign_schedule(campaign=campaign, actor=marketing)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["sv", "nb", "en"])
def test_a_fresh_install_neither_describes_ad_exports_nor_contradicts_itself(client, language):
    page = client.get(f"/{language}/privacy/").content.decode()
    assert "Meta" not in page and "Google" not in page
    Processor.objects.create(
        name="Meta Platforms",
        role=Processor.Role.JOINT_CONTROLLER,
        kind=RecipientKind.AD_PLATFORM,
        recipient_code="meta",
        purposes=texts("Matches hashed lists."),
        data_categories=["contact"],
        country="IE",
        erasure_contact="privacy@meta.example",
    )
    page = client.get(f"/{language}/privacy/").content.decode()
    assert "Meta Platforms" in page and "(Meta, Google)" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "country", "basis", "english"),
    [
        ("sv", "Irland", "Ramverket för dataskydd mellan EU och USA", "Ireland"),
        ("nb", "Irland", "Rammeverket for personvern mellom EU og USA", "Ireland"),
    ],
)
def test_the_register_speaks_the_page_s_language(client, language, country, basis, english):
    Processor.objects.create(
        name="Meta Platforms",
        role=Processor.Role.JOINT_CONTROLLER,
        kind=RecipientKind.AD_PLATFORM,
        recipient_code="meta",
        purposes={"en": "Matches lists.", "sv": "Matchar listor.", "nb": "Matcher lister."},
        data_categories=["contact"],
        country="IE",
        third_country="US",
        transfer_basis=Processor.TransferBasis.DPF,
        erasure_contact="privacy@meta.example",
    )
    page = client.get(f"/{language}/privacy/").content.decode()
    assert country in page and basis in page
    assert {"sv": "Matchar listor.", "nb": "Matcher lister."}[language] in page
    for text in (english, "Matches lists.", "Data Privacy Framework", "Joint controller"):
        assert text not in page, text


@pytest.mark.django_db
def test_the_record_lists_each_activity_s_recipients(client_for, dpo, register):
    page = client_for(dpo).get("/dpo/record/").content.decode()
    row = page.split("newsletters.audienceexportmember", 1)[1].split("</tr>", 1)[0]
    assert "Meta" in row and "Google" in row and "Eventim" not in row


@pytest.mark.django_db
def test_the_dpo_registers_an_entry_with_its_purposes_in_every_language(client_for, dpo):
    client = client_for(dpo)
    fields = {
        "name": "Meta Platforms",
        "role": "joint_controller",
        "kind": "ad_platform",
        "recipient_code": "meta",
        "data_categories": ["contact"],
        "country": "IE",
        "third_country": "US",
        "transfer_basis": "eea",
        "erasure_contact": "privacy@meta.example",
        "breach_contact": "security@meta.example",
        "breach_reporting_hours": "24",
        "is_active": "on",
        "purposes_sv": "Matchar listor.",
        "purposes_nb": "Matcher lister.",
        "purposes_en": "",
    }
    page = client.post("/admin/privacy_requests/processor/add/", fields).content.decode()
    assert "choose the basis of the transfer" in page and "This field is required" in page
    assert not Processor.objects.exists()
    fields |= {"transfer_basis": "dpf", "purposes_en": "Matches lists."}
    response = client.post("/admin/privacy_requests/processor/add/", fields)
    assert response.status_code == 302
    entry = Processor.objects.get()
    assert entry.purposes == {
        "sv": "Matchar listor.",
        "nb": "Matcher lister.",
        "en": "Matches lists.",
    }
    assert (entry.breach_contact, entry.breach_reporting_hours) == ("security@meta.example", 24)


@pytest.mark.django_db
def test_the_set_wise_answer_agrees_with_the_per_person_one_for_every_entry(
    everywhere, web_only, register, box_office
):
    from concerthouse.privacy.recipients import people_reached

    quiet = CustomerFactory(email="quiet@example.se", source="box_office")
    for entry in register.values():
        reached = set(
            people_reached(
                kind=entry.kind,
                code=entry.recipient_code or None,
                hosted=entry.data_categories,
            )
        )
        for person in (everywhere, web_only, quiet):
            assert (person.pk in reached) == (entry in recipients_of(person)), (entry, person)
