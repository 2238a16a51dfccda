"""The DPO's handling of requests: deadlines, extensions, rejections, and the executors."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from concerthouse.audit import audit_record
from concerthouse.models import AuditEntry
from consent.models import Consent, ConsentEvent
from customers.models import Customer
from customers.services import customer_set_identifiers
from newsletters import services as newsletters
from newsletters.audience import audience_export
from privacy_requests import packages, services
from privacy_requests.models import AccessPackage, PrivacyRequest, RecipientNotice
from tests.factories import FODSELSNUMMER, CustomerFactory, mailed, subscribe

from .conftest import committed, execute


@pytest.fixture
def aase_full(finance, marketing, settings, processors):
    """Åse with contact data, identifiers, consents, a newsletter, an audit trail and a custom
    audience export behind her."""
    settings.AUDIENCE_EXPORT_MINIMUM = 1
    person = CustomerFactory(
        email="ase.odegard@example.no",
        first_name="Åse",
        last_name="Ødegård",
        phone="912 34 567",
        country="NO",
        preferred_language="nb",
        street_address="Bryggen 1",
    )
    customer_set_identifiers(
        customer=person, actor=finance, purpose="refunds", national_id=FODSELSNUMMER
    )
    subscribe(person, "news", "ad-matching", language="nb")
    mailed(person)
    audit_record(action="customer.viewed", actor=marketing, target=person)
    audience_export(actor=marketing, recipient="meta")
    return Customer.objects.get(pk=person.pk)


def zip_of(request):
    package = AccessPackage.objects.get(request=request)
    return zipfile.ZipFile(packages.package_path(package))


# --- Deadlines, extension, rejection --------------------------------------------------------------
@pytest.mark.django_db
def test_an_extension_needs_a_reason_is_allowed_once_and_tells_the_person(open_request, dpo):
    request = open_request("access", "ase@example.se", language="sv")
    with pytest.raises(ValidationError):
        services.privacy_request_extend(request=request, actor=dpo, reason=" ")
    mail.outbox.clear()
    with committed():
        request = services.privacy_request_extend(
            request=request, actor=dpo, reason="Many requests this month."
        )
    assert request.extended_due_on > request.due_on
    (notice,) = mail.outbox
    assert notice.to == ["ase@example.se"] and "Many requests this month." in notice.body
    with pytest.raises(ValidationError, match="already"):
        services.privacy_request_extend(request=request, actor=dpo, reason="Again.")


@pytest.mark.django_db
def test_an_extension_after_the_first_deadline_is_refused(open_request, dpo):
    request = open_request("access", "ase@example.se")
    PrivacyRequest.objects.filter(pk=request.pk).update(
        due_on=timezone.localdate() - timedelta(days=1)
    )
    request.refresh_from_db()
    with pytest.raises(ValidationError, match="before the first deadline"):
        services.privacy_request_extend(request=request, actor=dpo, reason="Late.")
    request.refresh_from_db()
    assert request.extended_due_on is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("country", "authority"), [("SE", "Integritetsskyddsmyndigheten"), ("NO", "Datatilsynet")]
)
def test_a_rejection_gives_the_reason_and_the_right_to_complain_and_go_to_court(
    open_request, dpo, settings, country, authority
):
    settings.HOUSE_COUNTRY = country
    request = open_request("erasure", "ase@example.se")
    with pytest.raises(ValidationError):
        services.privacy_request_reject(request=request, actor=dpo, reason="")
    mail.outbox.clear()
    with committed():
        services.privacy_request_reject(request=request, actor=dpo, reason="Manifestly unfounded.")
    (answer,) = mail.outbox
    assert "Manifestly unfounded." in answer.body
    assert authority in answer.body and "court" in answer.body


@pytest.mark.django_db
def test_only_the_dpo_handles_requests(open_request, marketing, box_office, finance):
    request = open_request("access", "ase@example.se")
    for user in (marketing, box_office, finance):
        with pytest.raises(PermissionDenied):
            services.privacy_request_execute(request=request, actor=user)
    assert PrivacyRequest.objects.get().state == "open"


# --- Registration by box office ------------------------------------------------------------------
@pytest.mark.django_db
def test_box_office_registers_a_phone_request_with_the_identity_check(box_office):
    with pytest.raises(ValidationError) as refused:
        services.privacy_request_register(
            actor=box_office,
            kind="access",
            channel="phone",
            email="ase@example.no",
            language="nb",
            identity_check="",
        )
    assert "identity_check" in refused.value.message_dict
    assert not PrivacyRequest.objects.exists()
    with committed():
        request = services.privacy_request_register(
            actor=box_office,
            kind="access",
            channel="phone",
            email="ase@example.no",
            language="nb",
            identity_check="Booking reference and postal address",
        )
    assert (request.state, request.registered_by, request.channel) == ("open", box_office, "phone")
    assert request.due_on is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "typed",
    ["  Ase.Odegard@\u00d6rebro.SE ", "ase.odegard@o\u0308rebro.se", "ASE.ODEGARD@O\u0308REBRO.SE"],
)
def test_a_request_taken_by_phone_finds_the_person_however_the_address_was_typed(box_office, typed):
    """Mixed case, spaces around, a letter decomposed (NFD): the request holds the address in the
    one form the register stores, and finds its person by it."""
    person = CustomerFactory(email="ase.odegard@\u00f6rebro.se")
    with committed():
        request = services.privacy_request_register(
            actor=box_office,
            kind="access",
            channel="phone",
            email=typed,
            language="nb",
            identity_check="Booking reference and postal address",
        )
    assert request.email == person.email and request.customer == person


@pytest.mark.django_db
def test_marketing_cannot_register_a_request(marketing):
    with pytest.raises(PermissionDenied):
        services.privacy_request_register(
            actor=marketing,
            kind="access",
            channel="phone",
            email="a@example.se",
            language="sv",
            identity_check="x",
        )


# --- Access -------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_access_delivers_every_mapped_row_and_a_report_in_the_person_s_language(
    open_request, dpo, aase_full, processors, client, django_assert_max_num_queries
):
    request = open_request("access", "ase.odegard@example.no", language="nb")
    mail.outbox.clear()
    execute(request, dpo)
    archive = zip_of(request)
    data = json.loads(archive.read("data.json"))
    assert data["customers.customer"][0]["email"] == "ase.odegard@example.no"
    assert data["customers.customer"][0]["national_id"] == "24058936800"
    assert len(data["consent.consentevent"]) == 2
    assert data["newsletters.audienceexportmember"][0]["export__recipient"] == "meta"
    report = archive.read("report.html").decode()
    assert '<html lang="nb">' in report
    assert "Nyhetsbrev om konserter" in report  # the wording she agreed to
    assert "Mailer AS" in report and "Meta" in report  # recipients by category and disclosure
    assert "Accountant AB" not in report  # holds no data of hers
    assert "Integritetsskyddsmyndigheten" in report  # the authority of the house (SE)
    # Staff access: dates and purposes, never who.
    purpose = "Nyhetsbrev og markedsføring"
    assert purpose in report
    assert "marketing" not in report.replace("Newsletters and marketing", "")
    (answer,) = [m for m in mail.outbox if m.to == ["ase.odegard@example.no"]]
    download = "/" + answer.body.split("://", 1)[1].split("/", 1)[1].split()[0]
    response = client.get(download)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist() == [
        "data.json",
        "report.html",
    ]


@pytest.mark.django_db
def test_the_package_link_stops_working_when_the_package_expires(
    open_request, dpo, aase_full, client
):
    request = open_request("access", "ase.odegard@example.no")
    execute(request, dpo)
    answer = [m for m in mail.outbox if "/privacy/download/" in m.body][-1]
    download = "/" + answer.body.split("/privacy/download/")[0].split("://", 1)[1].split("/", 1)[1]
    download += (
        "/privacy/download/" + answer.body.split("/privacy/download/")[1].split("/")[0] + "/"
    )
    AccessPackage.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(download).status_code == 400


@pytest.mark.django_db
def test_access_for_an_unknown_address_answers_that_nothing_is_held(open_request, dpo):
    request = open_request("access", "nobody@example.se")
    mail.outbox.clear()
    execute(request, dpo)
    data = json.loads(zip_of(request).read("data.json"))
    assert data == {}
    assert "We hold no personal data about you." in zip_of(request).read("report.html").decode()


@pytest.mark.django_db
def test_the_access_package_costs_the_same_queries_for_few_and_many_rows(
    open_request, dpo, news, family_list
):
    def queries_for(email, consents):
        person = CustomerFactory(email=email)
        for n in range(consents):
            subscribe(person, "news" if n % 2 else "family")
            newsletters.preferences_withdraw_all(customer=person)
        request = open_request("access", email)
        with CaptureQueriesContext(connection) as captured:
            execute(request, dpo)
        return len(captured)

    queries_for("warm-up@example.se", 1)  # first-use caches (content types, templates)
    assert queries_for("few@example.se", 1) == queries_for("many@example.se", 12)


# --- Portability --------------------------------------------------------------------------------
@pytest.mark.django_db
def test_portability_carries_only_what_the_person_provided(open_request, dpo, aase_full):
    request = open_request("portability", "ase.odegard@example.no")
    execute(request, dpo)
    archive = zip_of(request)
    data = json.loads(archive.read("data.json"))
    assert data["customers.customer"][0]["first_name"] == "Åse"
    assert "last_activity_at" not in data["customers.customer"][0]  # inferred, not provided
    assert "concerthouse.auditentry" not in data  # held for accountability, not portable
    assert "customers.customer.csv" in archive.namelist()


# --- Rectification ------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_dpo_applies_a_correction_and_recipients_are_told(
    open_request, dpo, aase_full, processors
):
    request = open_request(
        "rectification",
        "ase.odegard@example.no",
        wrong_data="Street",
        correct_data="Bryggen 2",
    )
    with pytest.raises(ValidationError):
        services.privacy_request_execute(request=request, actor=dpo, changes={"national_id": "x"})
    mail.outbox.clear()
    execute(request, dpo, changes={"street_address": "Bryggen 2"})
    aase_full.refresh_from_db()
    assert aase_full.street_address == "Bryggen 2"
    told = set(RecipientNotice.objects.values_list("processor__name", flat=True))
    assert told == {"Mailer AS", "Meta"}
    assert {m.to[0] for m in mail.outbox} >= {"privacy@mailer.example", "privacy@meta.example"}
    assert RecipientNotice.objects.filter(sent_at__isnull=True).count() == 0
    notice = RecipientNotice.objects.first()
    services.recipient_notice_done(notice=notice, actor=dpo)
    notice.refresh_from_db()
    assert notice.done_by == dpo
    assert AuditEntry.objects.filter(action="customer.changed", actor=dpo).exists()


# --- Erasure ------------------------------------------------------------------------------------
def rows_mentioning(values: list[str]) -> list[str]:
    """Every table and text column of the database that holds any of the values, found with SQL
    over the whole schema, not only over the models the erasure meant to touch."""
    hits = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = connection.introspection.get_table_description(cursor, table)
            for column in columns:
                name = connection.ops.quote_name(column.name)
                for value in values:
                    cursor.execute(
                        f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)} "  # noqa: S608
                        f"WHERE CAST({name} AS TEXT) LIKE %s",
                        [f"%{value}%"],
                    )
                    if cursor.fetchone()[0]:
                        hits.append(f"{table}.{column.name}: {value}")
    return hits


@pytest.mark.django_db
def test_erasure_leaves_the_person_nowhere_in_the_database(
    open_request, dpo, aase_full, processors
):
    values = ["ase.odegard@example.no", "Åse", "Ødegård", "+4791234567", FODSELSNUMMER, "Bryggen"]
    public_id = str(aase_full.public_id)
    request = open_request("erasure", "Ase.Odegard@example.no", name="Åse Ødegård")
    assert rows_mentioning(values)  # the search finds her before
    mail.outbox.clear()
    execute(request, dpo)
    assert rows_mentioning(values) == []
    assert not Customer.objects.filter(public_id=public_id).exists()
    assert not ConsentEvent.objects.exists() and not Consent.objects.exists()
    # The audit trail stays, redacted and marked.
    trail = AuditEntry.objects.filter(target_type="customers.customer", action="customer.viewed")
    assert trail.count() == 1 and trail.get().target_id is None and trail.get().redacted_at
    # The address cannot come back through an import.
    assert newsletters.is_suppressed("ase.odegard@example.no")
    # Recipients were told, then the request forgot the contact details.
    assert set(RecipientNotice.objects.values_list("processor__name", flat=True)) == {
        "Mailer AS",
        "Meta",
    }
    request.refresh_from_db()
    assert request.state == "completed" and request.contact_redacted_at is not None
    assert request.email == "" and request.name == ""
    answer = [m for m in mail.outbox if m.to == ["ase.odegard@example.no"]]
    assert len(answer) == 1 and "erased" in answer[0].body


@pytest.mark.django_db
def test_erasure_keeps_other_people_whole(open_request, dpo, aase_full):
    other = subscribe(CustomerFactory(email="other@example.se"), "news")
    request = open_request("erasure", "ase.odegard@example.no")
    execute(request, dpo)
    assert Customer.objects.filter(pk=other.pk).exists()
    assert other.consent_events.count() == 1


@pytest.mark.django_db
def test_an_erasure_request_for_an_unknown_address_completes_with_nothing_to_erase(
    open_request, dpo
):
    request = open_request("erasure", "nobody@example.se")
    mail.outbox.clear()
    request = execute(request, dpo)
    assert request.state == "completed"
    assert request.events.filter(note="no data held").exists()


# --- Restriction and objection -------------------------------------------------------------------
@pytest.mark.django_db
def test_restriction_records_the_ground_and_lifting_needs_a_notice_first(
    open_request, dpo, aase_full
):
    request = open_request("restriction", "ase.odegard@example.no")
    with pytest.raises(ValidationError):
        services.privacy_request_execute(request=request, actor=dpo, ground="")
    execute(request, dpo, ground="accuracy_contested")
    aase_full.refresh_from_db()
    assert aase_full.is_restricted and aase_full.restriction_ground == "accuracy_contested"
    with pytest.raises(ValidationError, match="Tell the person first"):
        services.privacy_request_lift_restriction(request=request, actor=dpo)
    mail.outbox.clear()
    with committed():
        services.privacy_request_announce_lift(request=request, actor=dpo)
    assert [m.to for m in mail.outbox] == [["ase.odegard@example.no"]]
    services.privacy_request_lift_restriction(request=request, actor=dpo)
    aase_full.refresh_from_db()
    assert not aase_full.is_restricted


@pytest.mark.django_db
def test_an_objection_stops_all_marketing(open_request, dpo, aase_full):
    request = open_request("objection", "ase.odegard@example.no")
    execute(request, dpo)
    aase_full.refresh_from_db()
    assert aase_full.objects_to_marketing
    assert aase_full.marketing_objection_channel == "privacy_request"
    assert set(aase_full.consents.values_list("state", flat=True)) == {"withdrawn"}
    assert newsletters.is_suppressed(aase_full.email)


@pytest.mark.django_db
def test_every_action_writes_the_audit_log(open_request, dpo, aase_full):
    request = open_request("access", "ase.odegard@example.no")
    services.privacy_request_assign(request=request, actor=dpo, assignee=dpo)
    execute(request, dpo)
    actions = list(
        AuditEntry.objects.filter(target_type="privacy_requests.privacyrequest")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "privacy_request.verified",
        "privacy_request.assigned",
        "privacy_request.access_package_created",
        "privacy_request.completed",
    ]


@pytest.fixture
def requests_under_a_hold(monkeypatch):
    """Pretend the law obliged the house to keep privacy requests for five years, so that the
    erasure's legal-hold path runs on a real model (accounting records arrive with issue 4)."""
    from dataclasses import replace

    from concerthouse.privacy import map as personal_data_map
    from concerthouse.privacy.map import Erasure, LegalHold, declaration_for

    declaration = replace(
        declaration_for(PrivacyRequest),
        erasure=Erasure.HOLD,
        legal_hold=LegalHold(
            statute="Test Act § 1",
            held_until=lambda row: timezone.localdate(row.created_at) + timedelta(days=5 * 365),
        ),
    )
    monkeypatch.setitem(personal_data_map._declarations, declaration.label, declaration)
    return declaration


@pytest.mark.django_db
def test_rows_under_a_legal_hold_are_kept_and_told_to_the_person(
    open_request, dpo, aase_full, requests_under_a_hold
):
    earlier = open_request("access", "ase.odegard@example.no")
    execute(earlier, dpo)
    request = open_request("erasure", "ase.odegard@example.no")
    mail.outbox.clear()
    execute(request, dpo)
    earlier.refresh_from_db()
    assert earlier.email == "ase.odegard@example.no"  # kept, as the (pretend) statute says
    request.refresh_from_db()
    until = (timezone.localdate() + timedelta(days=5 * 365)).isoformat()
    assert request.erasure_holds == [
        {"model": "privacy_requests.privacyrequest", "statute": "Test Act § 1", "until": until}
    ]
    (answer,) = [m for m in mail.outbox if m.to == ["ase.odegard@example.no"]]
    assert "Test Act § 1" in answer.body and until in answer.body
    assert "privacy requests" in answer.body  # what is kept, named in the person's language
    # Outside the held rows, the person is nowhere.
    leftovers = rows_mentioning(["Åse", "Ødegård", "+4791234567", "Bryggen"])
    assert leftovers == []
    assert rows_mentioning(["ase.odegard@example.no"]) == [
        "privacy_requests_privacyrequest.email: ase.odegard@example.no"
    ]


def test_a_hold_that_the_person_s_deletion_would_cascade_away_is_refused():
    from dataclasses import replace

    from concerthouse.privacy.map import Erasure, LegalHold, declaration_for, register

    with pytest.raises(ValueError, match="SET_NULL"):
        register(
            replace(
                declaration_for(ConsentEvent),
                erasure=Erasure.HOLD,
                legal_hold=LegalHold(statute="x", held_until=lambda row: row.at.date()),
            )
        )
