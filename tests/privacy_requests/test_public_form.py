import re

import pytest
from django.core import mail
from django.test import Client

from privacy_requests.models import PrivacyRequest
from tests.factories import CustomerFactory

from .conftest import committed

FORM = "/{}/privacy/request/"


def submit(client, email, kind="access", language="en", **extra):
    with committed():
        return client.post(FORM.format(language), {"kind": kind, "email": email, **extra})


def verification_path(message):
    url = re.search(r"https?://\S+/privacy/verify/\S+/", message.body).group(0)
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


@pytest.mark.django_db
def test_known_and_unknown_addresses_get_the_same_answer(client):
    CustomerFactory(email="ase.odegard@example.no", first_name="Åse", last_name="Ødegård")
    known = submit(client, "Ase.Odegard@example.no")
    unknown = submit(client, "nobody@example.no")
    assert (known.status_code, known.url) == (unknown.status_code, unknown.url)
    assert Client().get(known.url).content == Client().get(unknown.url).content
    # Each address gets the same verification email; nothing about the person is in it.
    assert len(mail.outbox) == 2
    for message in mail.outbox:
        assert "Åse" not in message.body and "Ødegård" not in message.body
    assert set(PrivacyRequest.objects.values_list("state", "customer")) == {("unverified", None)}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "typed", ["  MARTA@A\u030angstro\u0308m.SE ", "Marta@\u00c5ngstr\u00f6m.se"]
)
def test_an_address_typed_in_mixed_case_with_spaces_or_decomposed_finds_the_person(client, typed):
    person = CustomerFactory(email="marta@\u00e5ngstr\u00f6m.se")
    submit(client, typed)
    request = PrivacyRequest.objects.get()
    assert request.email == "marta@\u00e5ngstr\u00f6m.se"  # the register's one form
    with committed():
        client.post(verification_path(mail.outbox[0]))
    assert PrivacyRequest.objects.get().customer == person


@pytest.mark.django_db
def test_the_form_asks_for_no_reason_and_no_id():
    page = Client().get("/en/privacy/request/").content.decode()
    for field in ("kind", "email", "name", "details", "wrong_data", "correct_data"):
        assert f'name="{field}"' in page
    assert 'type="file"' not in page
    assert 'name="details"' in page and "optional" in page


@pytest.mark.django_db
def test_verification_opens_the_request_only_when_the_button_is_pressed(client):
    person = CustomerFactory(email="ase@example.no")
    submit(client, "ASE@example.no", kind="erasure", language="nb")
    path = verification_path(mail.outbox[0])
    assert path.startswith("/nb/privacy/verify/")
    assert client.get(path).status_code == 200
    assert PrivacyRequest.objects.get().state == "unverified"
    with committed():
        client.post(path)
    request = PrivacyRequest.objects.get()
    assert (request.state, request.customer) == ("open", person)
    assert request.received_at is not None and request.due_on is not None
    # The DPO is told that a request waits, without who made it.
    to_dpo = [m for m in mail.outbox if m.to == ["dataskydd@example.org"]]
    assert len(to_dpo) == 1 and "ase@example.no" not in to_dpo[0].body
    client.post(path)  # a second click changes nothing
    assert request.events.filter(action="verified").count() == 1


@pytest.mark.django_db
def test_an_expired_or_forged_verification_link_opens_nothing(client, settings):
    submit(client, "ase@example.no")
    path = verification_path(mail.outbox[0])
    forged = path[:-3] + ("A" if path[-3] != "A" else "B") + path[-2:]
    assert client.post(forged).status_code == 400
    settings.PRIVACY_VERIFICATION_DAYS = 0
    assert client.post(path).status_code == 400
    assert PrivacyRequest.objects.get().state == "unverified"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "access", "email": "not-an-address"}, "email"),
        ({"kind": "delete-everything", "email": "ase@example.no"}, "kind"),
        ({"kind": "rectification", "email": "ase@example.no"}, "wrong_data"),
        ({"kind": "access", "email": "ase@example.no", "name": "x" * 201}, "name"),
    ],
)
def test_bad_input_gets_a_clear_error_and_nothing_is_stored(client, data, field):
    response = client.post("/en/privacy/request/", data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not PrivacyRequest.objects.exists() and mail.outbox == []


@pytest.mark.django_db
def test_a_rectification_says_what_is_wrong_and_what_it_should_be(client):
    submit(
        client,
        "ase@example.no",
        kind="rectification",
        wrong_data="Etternavn: Odegard",
        correct_data="Etternavn: Ødegård",
    )
    request = PrivacyRequest.objects.get()
    assert (request.wrong_data, request.correct_data) == (
        "Etternavn: Odegard",
        "Etternavn: Ødegård",
    )


@pytest.mark.django_db
def test_requests_are_limited_per_address_without_telling(client, settings):
    settings.PUBLIC_FORM_LIMIT_PER_ADDRESS_PER_DAY = 2
    answers = [submit(Client(REMOTE_ADDR=f"10.0.0.{n}"), "ase@example.no") for n in range(4)]
    assert {(a.status_code, a.url) for a in answers} == {(302, "/en/privacy/request/sent/")}
    assert PrivacyRequest.objects.count() == 2 and len(mail.outbox) == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Too many requests"),
        ("sv", "För många förfrågningar"),
        ("nb", "For mange henvendelser"),
    ],
)
def test_requests_are_limited_per_client(settings, language, message):
    settings.PUBLIC_FORM_LIMIT_PER_CLIENT_PER_HOUR = 3
    client = Client(REMOTE_ADDR="10.0.0.9")
    for n in range(3):
        assert submit(client, f"p{n}@example.se", language=language).status_code == 302
    response = submit(client, "p9@example.se", language=language)
    assert response.status_code == 429 and message in response.content.decode()
    assert PrivacyRequest.objects.count() == 3
