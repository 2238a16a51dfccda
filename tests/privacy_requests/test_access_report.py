"""The access report (Art. 15) as the person reads it, and the portability export (Art. 20): for a
person built as a new one would be, through the public forms and the admin."""

import json
import re
import uuid
import zipfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from concerthouse.privacy.map import RecipientKind
from consent.models import NoticeVersion, Purpose
from customers.models import Customer
from newsletters import links
from newsletters.audience import audience_export
from privacy_requests import packages, services
from privacy_requests.models import AccessPackage, Processor
from subscriptions.models import Season, Series
from tests.factories import make_staff, sign_in
from tests.subscriptions.conftest import booking_post

from .conftest import committed, execute

LOCALE = Path(__file__).resolve().parent.parent.parent / "locale"
MARTA = "marta.angstrom@example.se"
ASE = "ase.odegard@example.no"


def open_request(email: str, kind: str, language: str):
    """A request sent from the public form and verified from the address."""
    with committed():
        request = services.privacy_request_submit(kind=kind, email=email, language=language)
        return services.privacy_request_verify(request=request)


def _staff(username, role):
    from concerthouse.roles import Role

    user = Customer._meta.apps.get_model("auth", "User").objects.filter(username=username).first()
    return user or make_staff(username, getattr(Role, role))


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def _register_recipients() -> None:
    """The house's processor register names its mail service and Meta: without them the booking's
    mail and the audience export would be refused (concerthouse/privacy/recipients.py)."""
    for name, kind, code in (
        ("Mail service", RecipientKind.MAIL, ""),
        ("Meta", RecipientKind.AD_PLATFORM, "meta"),
    ):
        Processor.objects.get_or_create(
            name=name,
            defaults={
                "role": Processor.Role.PROCESSOR,
                "kind": kind,
                "recipient_code": code,
                "purposes": {"en": f"{name}.", "sv": f"{name}.", "nb": f"{name}."},
                "data_categories": ["contact"],
                "country": "SE",
                "erasure_contact": f"privacy@{code or 'mail'}.example",
            },
        )


def marta_booked_on_the_website() -> Customer:
    """Märta books a season subscription on the public form with a wheelchair place, then
    chooses the family concerts and ads on social media in the preference centre. Marketing
    exports the ad audience; box office opens her record."""
    existing = Customer.objects.filter(email=MARTA).first()
    if existing is not None:
        return existing
    _register_recipients()
    today = timezone.localdate()
    season = Season.objects.create(
        name="2026/27", starts_on=today - timedelta(days=30), ends_on=today + timedelta(days=200)
    )
    series = Series.objects.create(
        season=season,
        code="tors",
        name="Torsdagsserien",
        price_per_seat=Decimal("1450.00"),
        currency="SEK",
        capacity=100,
    )
    if not Purpose.objects.filter(code="family").exists():
        family = Purpose.objects.create(code="family", kind="newsletter", name="Family")
        for language, label in (("sv", "Familjekonserter"), ("en", "Family concerts")):
            NoticeVersion.objects.create(
                purpose=family, language=language, version=1, label=label, text=label + "."
            )
    seating = NoticeVersion.objects.filter(purpose__kind="accessibility", language="sv").first()
    public = Client()
    with committed():
        booked = public.post(
            reverse("subscriptions:book").replace("/en/", "/sv/"),
            booking_post(
                series,
                key=uuid.uuid4(),
                first_name="Märta",
                last_name="Ångström",
                email="Marta.Angstrom@Example.se",
                phone="070-123 45 67",
                street_address="Storgatan 1",
                postal_code="702 10",
                city="Örebro",
                country="SE",
                language="sv",
                seating_needs=["wheelchair", "companion"],
                seating_consent=str(seating.pk),
            ),
        )
    assert booked.status_code in (200, 302), booked.content[:500]
    person = Customer.objects.get(email=MARTA)
    chosen = [
        NoticeVersion.objects.filter(purpose__code=code, language="sv").latest("version").pk
        for code in ("family", "ad-matching")
    ]
    # The accessibility box she keeps ticked, as her consent stands.
    chosen.append(seating.pk)
    public.post(
        _path(links.preferences_url(person, language="sv")), {"action": "save", "chosen": chosen}
    )
    audience_export(actor=_staff("marknad", "MARKETING"), recipient="meta")
    box_office = sign_in(Client(), _staff("kassa", "BOX_OFFICE"))
    box_office.get(reverse("admin:customers_customer_change", args=[person.pk]))
    return Customer.objects.get(pk=person.pk)


def ase_met_at_a_fair() -> Customer:
    """Marketing enters Åse in the admin after meeting her at a fair: a prospect, no consent."""
    existing = Customer.objects.filter(email=ASE).first()
    if existing is not None:
        return existing
    marketing = sign_in(Client(), _staff("marknad", "MARKETING"))
    response = marketing.post(
        reverse("admin:customers_customer_add"),
        {
            "email": "Ase.Odegard@Example.no",
            "first_name": "Åse",
            "last_name": "Ødegård",
            "phone": "",
            "preferred_language": "nb",
            "street_address": "",
            "postal_code": "",
            "city": "Bergen",
            "country": "NO",
            "kind": "lead",
            "source": "fair_or_meeting",
            "source_detail": "Vestlandsmessen",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    return Customer.objects.get(email=ASE)


def report_of(email: str, language: str, dpo) -> str:
    request = open_request(email, "access", language)
    execute(request, dpo)
    package = AccessPackage.objects.filter(request=request).get()
    return zipfile.ZipFile(packages.package_path(package)).read("report.html").decode()


def rich_report(language: str, dpo) -> str:
    """Märta's access report in `language`."""
    with override_settings(AUDIENCE_EXPORT_MINIMUM=1):
        marta_booked_on_the_website()
    return report_of(MARTA, language, dpo)


@pytest.fixture
def marta(db, settings):
    settings.AUDIENCE_EXPORT_MINIMUM = 1
    return marta_booked_on_the_website()


@pytest.fixture
def ase(db):
    return ase_met_at_a_fair()


def section(report: str, heading_start: str) -> str:
    """The text under an h2 whose heading starts so, to the next h2."""
    start = report.index("<h2>" + heading_start)
    end = report.find("<h2>", start + 4)
    return report[start : end if end != -1 else None]


# --- Purposes and bases, the person's own --------------------------------------------------------
@pytest.mark.django_db
def test_a_customer_is_told_the_basis_of_each_purpose_that_concerns_her(marta, dpo):
    report = section(report_of(MARTA, "sv", dpo), "Varför vi behandlar")
    # The contract, with the contact details and the subscription that serve it.
    assert "Att hantera ditt abonnemang" in report
    assert "Fullgörande av avtal (GDPR Art. 6(1)(b))" in report
    # Each consent on its own, by its name, its state and its date.
    assert "Samtycke (GDPR Art. 6(1)(a))" in report
    assert re.search(r"<li>Familjekonserter: Bekräftat \(\d{4}-\d\d-\d\d\)</li>", report)
    assert "Uttryckligt samtycke (GDPR Art. 9(2)(a))" in report  # the seating needs
    assert "Rättslig förpliktelse (GDPR Art. 6(1)(c))" in report  # the accounts
    assert "7 år efter räkenskapsårets slut" in report
    # Not what concerns prospects met at fairs: she is none.
    assert "Berättigat intresse" not in report
    # Data categories she has, and only those: no national ID or bank account was recorded.
    assert "Hälsorelaterade behov" in report and "Räkenskapsinformation" in report
    assert "Personnummer" not in report and "Bankkonto" not in report


@pytest.mark.django_db
def test_a_prospect_met_at_a_fair_is_told_the_interest_and_her_right_to_object(ase, dpo):
    report = report_of(ASE, "nb", dpo)
    purposes = section(report, "Hvorfor vi behandler")
    assert "Berettiget interesse (GDPR Art. 6(1)(f))" in purposes
    assert "Vår berettigede interesse: Å markedsføre konsertene våre" in purposes
    assert "Oppfyllelse av avtale" not in purposes and "Samtykke (GDPR" not in purposes
    assert "Fødselsnummer" not in purposes
    objection = section(report, "Din rett til å protestere")
    assert "Å fortelle personer som har vist interesse for konsertene våre" in objection
    assert "GDPR art. 21 nr. 1" in objection and "GDPR art. 21 nr. 2 og 3" in objection
    assert "Messe, møte eller korrespondanse (Vestlandsmessen)" in section(
        report, "Hvor opplysningene kommer fra"
    )


# --- Codes as words ------------------------------------------------------------------------------
@pytest.mark.django_db
def test_every_code_in_the_report_is_shown_as_words_in_her_language(marta, dpo):
    report = report_of(MARTA, "sv", dpo)
    assert "Abonnemangsformulär" in section(report, "Varifrån")  # the source, not its code
    data = section(report, "Uppgifterna vi har")
    assert "Torsdagsserien" in data  # the series by its name, not its id
    assert "Rullstolsplats, Ledsagarplats" in data  # the needs, not "wheelchair,companion"
    assert "Meta (Facebook och Instagram)" in data
    staff = section(report, "När vår personal")
    assert "Din post öppnades" in staff and "customer.viewed" not in staff
    for code in ("subscription_form", "web_signup", "wheelchair", "customer.", "ad_matching"):
        assert code not in report, code


# --- Profiling (Art. 15(1)(h), 22) ----------------------------------------------------------------
@pytest.mark.django_db
def test_someone_in_an_ad_audience_is_told_truthfully_what_happened(marta, ase, dpo):
    marta_profiling = section(report_of(MARTA, "sv", dpo), "Profilering")
    assert "Meta (Facebook och Instagram)" in marta_profiling
    assert timezone.localdate().isoformat() in marta_profiling
    assert "art. 22" in marta_profiling
    assert "ingen profilering" not in marta_profiling
    ase_profiling = section(report_of(ASE, "nb", dpo), "Profilering")
    assert "ingen profilering" in ase_profiling and "Meta" not in ase_profiling


# --- Security measures (Harmonien: "hvilke sikkerhetstiltak") --------------------------------------
@pytest.mark.django_db
def test_the_report_says_which_security_measures_protect_the_data(ase, dpo, settings):
    measures = section(report_of(ASE, "nb", dpo), "Slik beskytter vi")
    assert "Kryptering av de mest følsomme opplysningene" in measures
    assert "engangskode fra en autentiseringsapp" in measures
    assert "logg som ikke kan endres" in measures


# --- Portability: readable, no internal ids -------------------------------------------------------
@pytest.mark.django_db
def test_the_portability_export_is_readable_and_carries_no_internal_ids(marta, dpo):
    request = open_request(MARTA, "portability", "sv")
    execute(request, dpo)
    package = AccessPackage.objects.get(request=request)
    archive = zipfile.ZipFile(packages.package_path(package))
    data = json.loads(archive.read("data.json"))
    (subscription,) = data["subscriptions.seasonsubscription"]
    assert subscription == {"seats": 2, "series": "tors"}
    (need,) = data["subscriptions.seatingneed"]
    assert need == {"needs": "Rullstolsplats, Ledsagarplats", "season": "2026/27"}
    consents = {row["purpose"]: row for row in data["consent.consent"]}
    assert consents["family"]["state"] == "Bekräftat"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*", consents["family"]["confirmed_at"])
    person = data["customers.customer"][0]
    assert person["country"] == "Sverige" and person["email"] == MARTA
    # Numbers only where they are quantities: every related row goes by its natural key.
    numbers = {
        key
        for rows in data.values()
        for row in rows
        for key, v in row.items()
        if isinstance(v, int)
    }
    assert numbers == {"seats"}
    assert "subscriptions.seasonsubscription.csv" in archive.namelist()
