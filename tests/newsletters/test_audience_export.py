import csv
import hashlib
import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from concerthouse.models import AuditEntry
from customers.services import customer_object_to_marketing, customer_restrict
from newsletters.audience import audience_export, audience_export_rows, normalised_hashes
from newsletters.models import AudienceExport, AudienceExportMember
from tests.factories import CustomerFactory, subscribe

ADD_URL = "/admin/newsletters/audienceexport/add/"


def sha(value):
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def audience(db, settings, recipient_register):
    settings.AUDIENCE_EXPORT_MINIMUM = 3
    return [
        subscribe(
            CustomerFactory(email=f"p{n}@example.se", phone=f"070-123 45 6{n}", country="SE"),
            "ad-matching",
        )
        for n in range(3)
    ]


def test_hashes_follow_each_platform_s_normalisation():
    assert normalised_hashes(email="ase@example.no", phone="+4791234567", recipient="meta") == (
        sha("ase@example.no"),
        sha("4791234567"),  # Meta: country code and digits, no '+'
    )
    assert normalised_hashes(email="ase@example.no", phone="+4791234567", recipient="google") == (
        sha("ase@example.no"),
        sha("+4791234567"),  # Google: E.164 with '+'
    )
    assert normalised_hashes(email="a@example.se", phone="", recipient="meta")[1] == ""


@pytest.mark.django_db
def test_the_export_holds_hashes_of_consenting_people_only(client_for, marketing, audience, dpo):
    restricted = subscribe(CustomerFactory(email="r@example.se"), "ad-matching")
    customer_restrict(customer=restricted, actor=dpo, ground="legal_claims")
    objecting = subscribe(CustomerFactory(email="o@example.se"), "ad-matching")
    customer_object_to_marketing(customer=objecting, channel="email_or_letter")
    subscribe(CustomerFactory(email="newsletter-only@example.se"), "news")
    response = client_for(marketing).post(ADD_URL, {"recipient": "meta"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["email", "phone"]
    assert sorted(rows[1:]) == sorted([sha(p.email), sha(p.phone.lstrip("+"))] for p in audience)
    assert "@" not in body and "+46" not in body


@pytest.mark.django_db
def test_an_address_typed_in_mixed_case_with_spaces_is_hashed_trimmed_and_lower_case(
    marketing, audience
):
    subscribe(CustomerFactory(email="  Ase.Odegard@Example.NO ", phone=""), "ad-matching")
    export = audience_export(actor=marketing, recipient="meta")
    hashes = [email_hash for email_hash, _phone in list(audience_export_rows(export))[1:]]
    assert sha("ase.odegard@example.no") in hashes


@pytest.mark.django_db
def test_each_export_is_recorded_as_a_disclosure_to_its_recipient(marketing, audience):
    export = audience_export(actor=marketing, recipient="google")
    assert (export.recipient, export.size, export.created_by) == ("google", 3, marketing)
    assert set(AudienceExportMember.objects.values_list("customer", flat=True)) == {
        p.pk for p in audience
    }
    entry = AuditEntry.objects.get(action="audience.exported")
    assert entry.detail == {"recipient": "google", "people": 3}


@pytest.mark.django_db
def test_an_audience_below_the_minimum_is_refused_and_nothing_recorded(
    client_for, marketing, audience, settings
):
    settings.AUDIENCE_EXPORT_MINIMUM = 100
    with pytest.raises(ValidationError, match="only from 100 people"):
        audience_export(actor=marketing, recipient="meta")
    response = client_for(marketing).post(ADD_URL, {"recipient": "meta"})
    assert response.status_code == 200 and b"only from 100 people" in response.content
    assert not AudienceExport.objects.exists() and not AudienceExportMember.objects.exists()


@pytest.mark.django_db
def test_the_default_minimum_is_one_hundred(settings):
    from concerthouse.settings import base

    assert base.AUDIENCE_EXPORT_MINIMUM == 100


@pytest.mark.django_db
def test_only_marketing_may_export(client_for, box_office, finance, dpo, audience):
    for user in (box_office, finance, dpo):
        with pytest.raises(PermissionDenied):
            audience_export(actor=user, recipient="meta")
        assert client_for(user).post(ADD_URL, {"recipient": "meta"}).status_code == 403
    assert not AudienceExport.objects.exists()
