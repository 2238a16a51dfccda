"""What a person is told before they ask (the privacy notice, Art. 13) and what the house keeps
for the authority (the record of processing, Art. 30): generated from the map, the register and
the settings, in Swedish, Norwegian and English, with nothing left untranslated."""

import re
from html.parser import HTMLParser

import polib
import pytest
from django.utils import translation

from concerthouse.privacy.map import RecipientKind
from privacy_requests.models import Processor
from tests.factories import make_staff

from .test_access_report import LOCALE, rich_report


class Text(HTMLParser):
    """The text a reader sees, one piece per text node, leaving out code and markup."""

    def __init__(self):
        super().__init__()
        self.pieces, self.skipping = [], 0

    def handle_starttag(self, tag, attrs):
        self.skipping += tag in ("code", "style", "script", "title")

    def handle_endtag(self, tag):
        self.skipping -= tag in ("code", "style", "script", "title")

    def handle_data(self, data):
        text = " ".join(data.split())
        if text and not self.skipping:
            self.pieces.append(text)


def text_of(html: str) -> list[str]:
    parser = Text()
    parser.feed(html)
    return parser.pieces


def main_of(html: str) -> str:
    return html[html.index("<main") : html.index("</main>")]


@pytest.fixture
def register(db, family_list):
    """A house with a second newsletter list and two entries in its processor register."""
    Processor.objects.create(
        name="Brevduvan AB",
        role=Processor.Role.PROCESSOR,
        kind=RecipientKind.MAIL,
        purposes={"sv": "Skickar nyhetsbrev.", "nb": "Sender nyhetsbrev.", "en": "Sends mail."},
        data_categories=["contact", "behavioural"],
        country="SE",
        transfer_basis=Processor.TransferBasis.NONE,
        erasure_contact="dataskydd@brevduvan.example",
    )
    Processor.objects.create(
        name="Kassaboken AS",
        role=Processor.Role.PROCESSOR,
        kind=RecipientKind.HOSTING,
        purposes={"sv": "Bokföring.", "nb": "Regnskap.", "en": "Accounting."},
        data_categories=["accounting"],
        country="NO",
        transfer_basis=Processor.TransferBasis.NONE,
        erasure_contact="personvern@kassaboken.example",
    )


@pytest.fixture
def dpo_client(client_for):
    return client_for(make_staff("ombud", is_superuser=True))


def notice(client, language="en"):
    return main_of(client.get(f"/{language}/privacy/").content.decode())


# --- The notice: per purpose, per kind of person, with its basis and its period -------------------
@pytest.mark.django_db
def test_the_notice_gives_each_purpose_its_legal_basis_and_the_people_it_concerns(client, register):
    page = notice(client)
    sections = {
        match.group(1): match.group(2)
        for match in re.finditer(r"<h3>(.*?)</h3>(.*?)</article>", page, re.S)
    }

    def section(start):
        (found,) = [body for heading, body in sections.items() if heading.startswith(start)]
        return found

    contract = section("Managing your season subscription")
    assert "Performance of a contract (GDPR Art. 6(1)(b))" in contract and "Customers" in contract
    newsletters = section("Sending you the newsletters, offers and surveys")
    assert "Consent (GDPR Art. 6(1)(a))" in newsletters and "Newsletter readers" in newsletters
    # Each list a consent of its own, by the name the reader knows it by.
    assert (
        "<li>Concert newsletter</li>" in newsletters and "<li>Family concerts</li>" in newsletters
    )
    seating = section("Giving you the right place in the hall")
    assert "Explicit consent (GDPR Art. 9(2)(a))" in seating
    accounts = section("Keeping the accounts the law requires")
    assert "Legal obligation (GDPR Art. 6(1)(c))" in accounts
    prospects = section("Telling people who showed an interest in our concerts")
    assert "Legitimate interests (GDPR Art. 6(1)(f))" in prospects
    assert "Prospects we met at fairs and meetings or in correspondence" in prospects
    assert "Our legitimate interest: Marketing our concerts to people we met at a fair" in prospects


@pytest.mark.django_db
def test_the_right_to_object_stands_on_its_own_naming_what_rests_on_legitimate_interests(
    client, register
):
    page = notice(client)
    objection = page[page.index('id="right-to-object"') :]
    objection = objection[: objection.index("</section>")]
    assert "<h2>Your right to object</h2>" in objection
    assert "direct marketing" in objection and "Art. 21(2)" in objection
    assert "Telling people who showed an interest in our concerts" in objection
    assert "Managing your season subscription" not in objection  # a contract, not an interest


@pytest.mark.django_db
def test_storage_periods_are_the_configured_ones_in_words(client, register, settings):
    settings.RETENTION_ENDED_CUSTOMER_MONTHS = 7
    settings.RETENTION_LEAD_YEARS = 2
    settings.RETENTION_DELIVERY_LOG_MONTHS = 1
    page = notice(client)
    assert "deleted 7 months after your last season subscription ends" in page
    assert "Deleted 2 years after the last contact" in page
    assert "deleted after 1 month." in page  # the delivery log, in the singular
    assert "7 years after the end of the financial year" in page  # Bokföringslagen
    assert "a set time" not in page
    assert "7 månader efter" in notice(client, "sv") and "2 år efter" in notice(client, "sv")
    assert "7 måneder etter" in notice(client, "nb")
    settings.HOUSE_COUNTRY = "NO"
    assert "5 years after the end of the financial year" in notice(client)


def test_no_catalogue_keeps_a_set_time():
    for language in ("sv", "nb"):
        catalogue = polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))
        assert not [e.msgid for e in catalogue if "a set time" in e.msgid]


@pytest.mark.django_db
def test_the_notice_names_the_controller_its_address_and_the_data_protection_officer(
    client, settings
):
    settings.HOUSE_NAME = "Musikkselskapet Harmonien"
    settings.HOUSE_ORGANISATION_NUMBER = "976 619 005"
    settings.HOUSE_ADDRESS = "Grieghallen, Edvard Griegs plass 1, 5015 Bergen"
    settings.DPO_NAME = "Åse Ødegård"
    settings.DPO_EMAIL = "personvern@harmonien.example"
    page = notice(client, "nb")
    for fact in (
        "Musikkselskapet Harmonien",
        "976 619 005",
        "Grieghallen, Edvard Griegs plass 1, 5015 Bergen",
        "Personvernombudet vårt er Åse Ødegård og nås på personvern@harmonien.example.",
    ):
        assert fact in page


# --- The record of processing (Art. 30(1)) ----------------------------------------------------------
@pytest.mark.django_db
def test_the_record_holds_every_item_of_article_30(dpo_client, register, settings):
    settings.HOUSE_ADDRESS = "Box 123, 701 42 Örebro"
    settings.DPO_NAME = "Märta Ångström"
    page = main_of(dpo_client.get("/dpo/record/?language=en").content.decode())
    # (a) the controller and the DPO
    assert "Box 123, 701 42 Örebro" in page and "Märta Ångström" in page
    # (b)-(c) purposes, kinds of person and of data, per activity
    assert "Managing your season subscription" in page
    assert "Prospects we met at fairs and meetings or in correspondence" in page
    assert "Health-related needs" in page and "Accounting records" in page
    # the fields by name, in the reader's language, beside the model's label
    assert "first name" in page and "<code>customers.customer</code>" in page
    # (d)-(e) recipients by the data they hold, with the country and the basis of a transfer
    (accounts,) = re.findall(r"<tr>\s*<td>Keeping the accounts.*?</tr>", page, re.S)
    assert "Kassaboken AS" in accounts and "Brevduvan AB" not in accounts
    (line,) = re.findall(r"<li><strong>Kassaboken AS</strong>.*?</li>", page, re.S)
    assert "Norway" in line and "No transfer outside the EU/EEA" in line
    # (f) time limits, (g) the security measures
    assert "13 months after your last season subscription ends" in page
    assert "Security measures" in page and "Audit log" in page


@pytest.mark.django_db
def test_the_security_measures_are_those_of_the_running_configuration(
    dpo_client, register, settings
):
    settings.STAFF_REQUIRE_SECOND_FACTOR = False
    settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS = False, 0
    page = main_of(dpo_client.get("/dpo/record/?language=en").content.decode())
    assert "the one-time code of a second factor is switched off" in page
    assert "does not itself require encrypted connections" in page
    assert "bank account, national identity number, seating needs." in page  # encrypted
    settings.STAFF_REQUIRE_SECOND_FACTOR = True
    settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS = True, 31536000
    settings.FIELD_ENCRYPTION_KEYS = []
    page = main_of(dpo_client.get("/dpo/record/?language=en").content.decode())
    assert "a one-time code from an authenticator app" in page
    assert "nothing else for 365 days (HSTS)" in page
    assert "No encryption keys are configured" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "title"),
    [
        ("sv", "Registerförteckning"),
        ("nb", "Protokoll over behandlingsaktiviteter"),
        ("en", "Record of processing activities (Art. 30)"),
    ],
)
def test_the_record_prints_in_the_language_chosen_on_the_page(
    dpo_client, register, language, title
):
    html = dpo_client.get(f"/dpo/record/?language={language}").content.decode()
    assert f'<html lang="{language}">' in html and title in html
    assert 'href="/static/css/print.css" media="print"' in html
    for code in ("sv", "nb", "en"):
        assert f'href="?language={code}"' in html


# --- No untranslated text on the notice, the record and the access report -------------------------
def _catalogue_english(language: str) -> set[str]:
    """The English of every sentence the house translates: none may show on a page in `language`."""
    catalogue = polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))
    return {
        " ".join(e.msgid.split())
        for e in catalogue
        if len(e.msgid.split()) >= 3 and e.msgstr and e.msgstr != e.msgid and "%(" not in e.msgid
    }


def _english_pieces(page: str, english_page: str, data: set[str]) -> list[str]:
    """Pieces of text that read the same as on the English page: untranslated, unless they are
    data (names, addresses, what staff typed)."""
    english = set(text_of(english_page))
    return [
        piece
        for piece in text_of(page)
        if piece in english
        and len(re.findall(r"[A-Za-z]{2,}", piece)) >= 3
        and "@" not in piece  # an address
        and not any(value in piece or piece in value for value in data)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["sv", "nb"])
def test_the_notice_the_record_and_the_access_report_leave_nothing_untranslated(
    client, dpo_client, register, language, dpo
):
    data = {
        "Demo Konserthus",
        "Integritetsskyddsmyndigheten (IMY)",
        "Brevduvan AB",
        "Kassaboken AS",
        "Bokföringslagen (1999:1078)",
    }
    pages = {
        "notice": {code: notice(client, code) for code in (language, "en")},
        "record": {
            code: main_of(dpo_client.get(f"/dpo/record/?language={code}").content.decode())
            for code in (language, "en")
        },
        "report": {code: rich_report(code, dpo) for code in (language, "en")},
    }
    # The wordings the person agreed to stay in the language she read them in.
    from consent.models import NoticeVersion

    for label, text in NoticeVersion.objects.values_list("label", "text"):
        data |= {label, " ".join(text.split())}
    # An accounting record reads as it was written, whatever the reader's language.
    from subscriptions.models import Order

    for description, address in Order.objects.values_list("description", "buyer_address"):
        data |= {description, address}
    english = _catalogue_english(language)
    for name, by_language in pages.items():
        page = by_language[language]
        with translation.override(language):
            assert _english_pieces(page, by_language["en"], data) == [], name
        shown = " ".join(text_of(page))
        assert [text for text in english if text in shown] == [], name
