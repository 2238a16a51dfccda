"""The public forms under abuse: oversized and malformed bodies, hostile names, robots, floods.

Every refusal is checked by its exact status and by counting every table a form writes, before and
after, and the mail sent: a refused submission stores and sends nothing. Over a per-address limit
the answer is the one a success gets, so that the limit never tells whether an address is known.
"""

import io
import logging
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode, urljoin

import pytest
import redis
from django.conf import settings
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.test import Client, RequestFactory, TestCase
from django.utils import timezone

from concerthouse import ratelimit, signed_links
from concerthouse.models import AuditEntry
from concerthouse.settings.base import cache as cache_config
from consent.models import Consent, ConsentEvent, NoticeVersion
from customers.models import Customer
from newsletters import links
from newsletters import services as newsletter_services
from newsletters.models import Signup, SignupIntake, Suppression
from privacy_requests import emails as privacy_emails
from privacy_requests import services as privacy_services
from privacy_requests.models import PrivacyRequest, RequestEvent
from subscriptions import services as subscription_services
from subscriptions.models import Order, Payment, SeasonSubscription, SeatingNeed
from subscriptions.services import Buyer
from subscriptions.views import BOOKED
from tests.factories import CustomerFactory, subscribe

pytestmark = pytest.mark.django_db

EVERY_TABLE = [
    Customer,
    Signup,
    SignupIntake,
    Consent,
    ConsentEvent,
    Suppression,
    PrivacyRequest,
    RequestEvent,
    SeasonSubscription,
    Order,
    Payment,
    SeatingNeed,
    AuditEntry,
]
TEN_MB = 10 * 1024 * 1024


def stored() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in EVERY_TABLE}


def committed():
    """Run the on-commit callbacks (the queued emails) as a real commit would."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def post(client, path, data, **extra):
    """A form-urlencoded POST, of a dict or of a raw body."""
    body = data if isinstance(data, bytes) else urlencode(data, doseq=True).encode()
    with committed():
        return client.post(
            path, data=body, content_type="application/x-www-form-urlencoded", **extra
        )


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def notice(code: str, language: str = "en") -> NoticeVersion:
    return NoticeVersion.objects.filter(purpose__code=code, language=language).latest("version")


# --- The public forms ----------------------------------------------------------------------------
@dataclass
class Form:
    """A public form with free text: where it is, a valid submission, and what success answers."""

    path: str
    valid: dict
    success: tuple  # (status, Location or the template rendered)
    names: tuple = ()  # the fields that hold a person's name

    def data(self, email="marta.angstrom@example.se", **changes) -> dict:
        data = {**self.valid, "email": email, **changes}
        if "booking_key" in data and "booking_key" not in changes:
            data["booking_key"] = str(uuid.uuid4())
        return data


def answer(response) -> tuple:
    """What the person sees, with the booking's own token cut off."""
    if response.status_code in (301, 302):
        location = urljoin(response.request["PATH_INFO"], response["Location"])
        if "/booked/" in location:
            location = location.split("/booked/")[0] + "/booked/"
        return response.status_code, location
    return response.status_code, response.templates[0].name if response.templates else None


FREE_TEXT = ["signup", "preference_link", "booking", "privacy_request"]
WITH_NAMES = ["signup", "booking", "privacy_request"]


@pytest.fixture
def forms(thursdays):
    return {
        "signup": Form(
            path="/en/newsletter/",
            valid={"language": "en", "lists": [notice("news").pk], "first_name": "Märta"},
            success=(302, "/en/newsletter/thanks/"),
            names=("first_name", "last_name"),
        ),
        "preference_link": Form(
            path="/en/preferences/",
            valid={},
            success=(200, "newsletters/preferences_requested.html"),
        ),
        "booking": Form(
            path="/en/subscriptions/",
            valid={
                "booking_key": "",
                "series": thursdays.pk,
                "seats": "2",
                "first_name": "Märta",
                "last_name": "Ångström",
                "phone": "070-123 45 67",
                "street_address": "Storgatan 1",
                "postal_code": "702 10",
                "city": "Örebro",
                "country": "SE",
                "language": "sv",
            },
            success=(302, "/en/subscriptions/booked/"),
            names=("first_name", "last_name"),
        ),
        "privacy_request": Form(
            path="/en/privacy/request/",
            valid={"kind": "access", "name": "Märta Ångström"},
            success=(302, "/en/privacy/request/sent/"),
            names=("name",),
        ),
    }


# --- The pages behind a signed link that take a POST ---------------------------------------------
TOKEN_PAGES = ["preferences", "unsubscribe", "confirm", "verify"]


@pytest.fixture
def token_page(news):
    """The page's path and a valid POST, for a person who holds its link."""

    def make(name: str) -> tuple[str, dict]:
        person = subscribe(CustomerFactory(email="ase.odegard@example.no"), "news")
        if name == "preferences":
            path = path_of(links.preferences_url(person, language="en"))
            return path, {"action": "save", "chosen": [notice("offers").pk]}
        if name == "unsubscribe":
            return path_of(links.unsubscribe_url(person, news)), {"List-Unsubscribe": "One-Click"}
        if name == "confirm":
            with committed():
                signup = newsletter_services.newsletter_signup(
                    email="new.reader@example.no", language="en", notices=[notice("news")]
                )
            return path_of(links.confirmation_url(signup)), {}
        with committed():
            request = privacy_services.privacy_request_submit(
                kind="access", email="ase.odegard@example.no", language="en"
            )
        token = signed_links.make(request.public_id.hex, salt=privacy_emails.VERIFY)
        return f"/en/privacy/verify/{token}/", {}

    return make


def every_page(forms, token_page, name) -> tuple[str, dict, str]:
    """(path, a valid POST, the field a malformed value goes into) for any public page."""
    if name in forms:
        form = forms[name]
        if name == "preference_link":
            CustomerFactory(email="marta.angstrom@example.se")
        return form.path, form.data(), (form.names or ("email",))[0]
    path, data = token_page(name)
    return path, data, "note"


# --- Bodies no form sends ------------------------------------------------------------------------
MALFORMED = {
    # (how the body is spoiled, the status it gets)
    "ten_megabytes": (lambda body, name: body + b"&" + name + b"=" + b"a" * TEN_MB, 413),
    "nul_byte": (lambda body, name: body + b"&" + name + b"=Ma%00rta", 400),
    "escape_sequence": (lambda body, name: body + b"&" + name + b"=%1B%5B31mMarta", 400),
    "invalid_utf8": (lambda body, name: body + b"&" + name + b"=M%C3%28rta%FF", 400),
    "raw_invalid_utf8": (lambda body, name: body + b"&" + name + b"=M\xe4rta", 400),
    "too_many_fields": (lambda body, name: body + b"&x=1" * 1500, 400),
}


@pytest.mark.parametrize("spoil", sorted(MALFORMED))
@pytest.mark.parametrize("page", FREE_TEXT + TOKEN_PAGES)
def test_a_malformed_body_is_refused_and_nothing_is_stored_or_sent(
    client, forms, token_page, page, spoil
):
    path, data, name = every_page(forms, token_page, page)
    how, status = MALFORMED[spoil]
    mail.outbox.clear()
    before = stored()
    body = how(
        urlencode({k: v for k, v in data.items() if k != name}, doseq=True).encode(), name.encode()
    )
    response = post(client, path, body)
    assert response.status_code == status
    assert stored() == before and mail.outbox == []
    html = response.content.decode()
    assert "Marta" not in html and "Traceback" not in html


def test_a_body_of_exactly_what_the_largest_form_sends_is_read(client, forms):
    form = forms["privacy_request"]
    data = form.data(
        kind="rectification",
        name="Å" * 200,
        details="€" * 2000,
        wrong_data="€" * 1000,
        correct_data="€" * 1000,
    )
    assert post(client, form.path, data).status_code == 302
    assert PrivacyRequest.objects.get().details == "€" * 2000


# --- Names ---------------------------------------------------------------------------------------
REAL_NAMES = [
    "Åse Ødegård",
    "Märta Ångström",
    "O'Brien",
    "d\u2019Artagnan",  # the typographic apostrophe
    "Anne-Marie",
    "J. R. R. Tolkien",
    "Nguyễn Văn An",
    "Zoë",
    "Þórunn Guðmundsdóttir",
    "Σοφία Παπαδοπούλου",
    "Мария Иванова",
    "محمد",
    "李小龙",
]
HOSTILE_NAMES = [
    "<script>alert(1)</script>",
    "<b>Märta</b>",
    "Robert'); DROP TABLE customers;--",
    "' OR 1=1 --",
    "Märta = admin",
    "R2D2",
    "Märta;",
    "Ann\u202eA",  # a right-to-left override
    "Märta\nÅngström",
    "...",
]


def stored_name(page: str) -> str:
    if page == "privacy_request":
        return PrivacyRequest.objects.get().name
    if page == "booking":
        assert Order.objects.get().buyer_name.startswith(Customer.objects.get().first_name)
    return Customer.objects.get().first_name


@pytest.mark.parametrize("name", REAL_NAMES)
@pytest.mark.parametrize("page", WITH_NAMES)
def test_real_names_in_any_script_are_accepted_and_stored_exactly(client, forms, page, name):
    form = forms[page]
    response = post(client, form.path, form.data(**{form.names[0]: name}))
    assert answer(response) == form.success
    assert stored_name(page) == name


@pytest.mark.parametrize("page", WITH_NAMES)
def test_a_name_is_stored_in_its_composed_form(client, forms, page):
    form = forms[page]
    post(client, form.path, form.data(**{form.names[0]: "Zoe\u0308 A\u030ase"}))
    assert stored_name(page) == "Zoë Åse"


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("page", WITH_NAMES)
def test_markup_and_sql_in_a_name_get_a_clear_error_and_nothing_is_stored(
    client, forms, page, name
):
    form = forms[page]
    before = stored()
    response = post(client, form.path, form.data(**{form.names[0]: name}))
    assert response.status_code == 200
    assert list(response.context["form"].errors) == [form.names[0]]
    assert stored() == before and mail.outbox == []
    assert name not in response.content.decode() or "<" not in name  # markup comes back escaped


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Write the name in letters"),
        ("sv", "Detta fält"),  # Django's own "required" text proves the page's language
    ],
)
def test_the_name_error_is_in_the_page_s_language(client, forms, language, message):
    form = forms["privacy_request"]
    data = form.data(name="R2D2") if language == "en" else form.data(email="")
    response = post(client, f"/{language}/privacy/request/", data)
    assert response.status_code == 200 and message in response.content.decode()


@pytest.mark.parametrize(
    ("street", "accepted"),
    [
        ("Storgatan 1, 2 tr", True),
        ("c/o Berg, Box 12", True),
        ("Kongens gate 2B (bakgården)", True),
        ("<script>alert(1)</script>", False),
        ("Storgatan 1'; DROP TABLE orders;--", False),
        ("Storgatan = 1", False),
    ],
)
def test_a_street_address_takes_letters_digits_and_ordinary_punctuation(
    client, forms, street, accepted
):
    form = forms["booking"]
    response = post(client, form.path, form.data(street_address=street))
    if accepted:
        assert answer(response) == form.success
        assert Customer.objects.get().street_address == street
    else:
        assert response.status_code == 200
        assert list(response.context["form"].errors) == ["street_address"]
        assert not Customer.objects.exists() and not Order.objects.exists()


@pytest.mark.parametrize("postal_code", ["<1>", "702;10", "702 10 = 1"])
def test_a_postal_code_takes_letters_digits_spaces_and_hyphens(client, forms, postal_code):
    form = forms["booking"]
    response = post(client, form.path, form.data(postal_code=postal_code))
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["postal_code"]
    assert stored()["Order"] == 0


# --- Sizes ---------------------------------------------------------------------------------------
def every_limit():
    limits = {
        "signup": {"first_name": 150, "last_name": 150, "email": 254},
        "preference_link": {"email": 254},
        "booking": {
            "first_name": 150,
            "last_name": 150,
            "email": 254,
            "street_address": 200,
            "postal_code": 20,
            "city": 100,
            "phone": 40,
        },
        "privacy_request": {
            "name": 200,
            "email": 254,
            "details": 2000,
            "wrong_data": 1000,
            "correct_data": 1000,
        },
    }
    return [
        (page, name, limit) for page, fields in limits.items() for name, limit in fields.items()
    ]


def too_long(name: str, limit: int) -> str:
    if name == "email":
        return "a" * (limit - len("@example.se") + 1) + "@example.se"
    if name in ("postal_code", "phone"):
        return "1" * (limit + 1)
    return "Å" * (limit + 1)


@pytest.mark.parametrize(("page", "name", "limit"), every_limit())
def test_a_field_over_its_length_gets_a_clear_error_and_nothing_is_stored(
    client, forms, page, name, limit
):
    form = forms[page]
    if page == "preference_link":
        CustomerFactory(email="marta.angstrom@example.se")
    mail.outbox.clear()
    before = stored()
    response = post(client, form.path, form.data(**{name: too_long(name, limit)}))
    assert response.status_code == 200
    assert name in response.context["form"].errors
    assert f"at most {limit} characters" in " ".join(response.context["form"].errors[name])
    assert stored() == before and mail.outbox == []


def test_the_length_error_is_in_the_page_s_language(client, forms):
    form = forms["signup"]
    response = post(client, "/sv/newsletter/", form.data(first_name="Å" * 151))
    assert "Säkerställ att detta värde har som mest 150 tecken" in response.content.decode()


@pytest.mark.parametrize("page", FREE_TEXT)
def test_every_text_field_of_a_public_form_is_bounded(forms, page):
    from django import forms as django_forms

    from newsletters.forms import EmailForm, SignupForm
    from privacy_requests.forms import PrivacyRequestForm
    from subscriptions.forms import BookingForm

    form_class = {
        "signup": SignupForm,
        "preference_link": EmailForm,
        "booking": BookingForm,
        "privacy_request": PrivacyRequestForm,
    }[page]
    form = form_class(language="en") if page in ("signup", "booking") else form_class()
    for name, form_field in form.fields.items():
        if isinstance(form_field, django_forms.CharField) and name != "booking_key":
            assert form_field.max_length is not None, name
            assert form_field.max_length <= 2000, name


# --- The honeypot --------------------------------------------------------------------------------
@pytest.mark.parametrize("page", FREE_TEXT)
def test_the_honeypot_is_hidden_by_a_class_out_of_the_tab_order_and_labelled(client, forms, page):
    html = client.get(forms[page].path).content.decode()
    assert '<div class="trap"><label for="id_website">Leave this field empty</label>' in html
    assert 'name="website"' in html and 'tabindex="-1"' in html and 'autocomplete="off"' in html
    assert "style=" not in html  # the CSP allows no inline style
    css = (settings.BASE_DIR / "static" / "css" / "site.css").read_text()
    assert ".trap { display: none; }" in css


@pytest.mark.parametrize("page", FREE_TEXT)
def test_a_filled_honeypot_gets_the_answer_of_a_success_and_nothing_is_stored(client, forms, page):
    form = forms[page]
    if page == "preference_link":
        CustomerFactory(email="marta.angstrom@example.se")
    mail.outbox.clear()
    before = stored()
    response = post(client, form.path, form.data(website="https://spam.example/"))
    assert answer(response) == form.success
    assert stored() == before and mail.outbox == []
    if page == "booking":  # the answer leads to no booking
        assert client.get(response["Location"])["Location"] == "/en/subscriptions/"


@pytest.mark.parametrize("page", FREE_TEXT)
def test_a_robot_s_honeypot_wins_over_its_invalid_fields(client, forms, page):
    form = forms[page]
    response = post(client, form.path, form.data(email="nope", website="x"))
    assert answer(response) == form.success
    assert stored()["Customer"] == 0 and mail.outbox == []


# --- Rate limits ---------------------------------------------------------------------------------
@pytest.fixture
def limits(settings):
    def set_to(*, per_client=1000, per_address=1000):
        settings.PUBLIC_FORM_LIMIT_PER_CLIENT_PER_HOUR = per_client
        settings.PUBLIC_FORM_LIMIT_PER_ADDRESS_PER_DAY = per_address

    return set_to


@pytest.mark.parametrize("page", FREE_TEXT)
def test_a_client_over_its_hourly_limit_gets_429_and_nothing_is_stored(forms, limits, page):
    limits(per_client=2)
    form = forms[page]
    client = Client(REMOTE_ADDR="198.51.100.7")
    for n in range(2):
        if page == "preference_link":
            CustomerFactory(email=f"p{n}@example.se")
        assert answer(post(client, form.path, form.data(email=f"p{n}@example.se"))) == form.success
    CustomerFactory(email="p9@example.se")
    mail.outbox.clear()
    before = stored()
    response = post(client, form.path, form.data(email="p9@example.se"))
    assert response.status_code == 429 and response["Retry-After"] == "3600"
    assert "Too many requests" in response.content.decode()
    assert stored() == before and mail.outbox == []
    # Another client is not held back.
    other = post(Client(REMOTE_ADDR="198.51.100.8"), form.path, form.data(email="p9@example.se"))
    assert answer(other) == form.success


@pytest.mark.parametrize("page", FREE_TEXT)
def test_invalid_and_trapped_submissions_count_against_the_client(forms, limits, page):
    """The form counts its client whatever was sent: a flood of invalid forms or of robots' filled
    honeypots is refused like one of valid forms; the address a robot names is not counted."""
    limits(per_client=2, per_address=1)
    form = forms[page]
    if page == "preference_link":
        CustomerFactory(email="marta.angstrom@example.se")
    client = Client(REMOTE_ADDR="198.51.100.7")
    invalid = post(client, form.path, form.data(email="marta.angstrom at example.se"))
    assert invalid.status_code == 200 and "email" in invalid.context["form"].errors
    trapped = post(client, form.path, form.data(website="https://spam.example"))
    assert answer(trapped)[0] in (200, 302)
    # The address's one submission a day is still there, for another client.
    assert answer(post(Client(REMOTE_ADDR="198.51.100.8"), form.path, form.data())) == form.success
    before = stored()
    refused = post(client, form.path, form.data(email="p9@example.se"))
    assert refused.status_code == 429 and refused["Retry-After"] == "3600"
    assert stored() == before


@pytest.mark.parametrize("page", WITH_NAMES)
def test_a_submission_sent_back_with_errors_does_not_use_up_its_address_s_limit(
    forms, limits, page
):
    """The address is counted as it was sent, before the form is checked, and taken back when the
    form turns out invalid: a person who corrects a mistake is not held back for it."""
    limits(per_address=1)
    form = forms[page]
    client = Client(REMOTE_ADDR="198.51.100.9")
    name = form.names[0]
    for _ in range(2):
        invalid = post(client, form.path, form.data(**{name: "Märta 2"}))
        assert invalid.status_code == 200 and name in invalid.context["form"].errors
    before = stored()
    assert answer(post(client, form.path, form.data())) == form.success
    assert stored() != before
    # The one submission a day is now used: the next is held back.
    after = stored()
    post(Client(REMOTE_ADDR="198.51.100.10"), form.path, form.data())
    assert stored() == after


def test_a_form_view_that_also_has_the_middleware_count_its_client_is_refused_at_once(rf, forms):
    """A PublicForm's view must leave the client's count to the form (limit_clients=False):
    counted twice, every client would get half its limit."""
    from concerthouse.public_forms import PublicForm, public_form

    class Form(PublicForm):
        pass

    @public_form("test-form")  # the middleware's count: the default
    def view(request):
        Form(request.POST).outcome(request, scope="test-form")

    with pytest.raises(ImproperlyConfigured, match="limit_clients=False"):
        view(rf.post("/", {"email": "a@example.se"}))


def mails_to(address: str) -> int:
    return sum(address in message.to for message in mail.outbox)


@pytest.mark.parametrize("page", ["signup", "preference_link", "privacy_request"])
def test_an_address_over_its_daily_limit_gets_the_same_answer_and_nothing_is_stored_or_sent(
    forms, limits, page
):
    limits(per_address=2)
    form = forms[page]
    if page == "preference_link":
        CustomerFactory(email="marta.angstrom@example.se")
    spellings = [
        "marta.angstrom@example.se",
        "MARTA.Angstrom@example.se",
        "Marta.Angstrom@EXAMPLE.se",
    ]
    answers = []
    for n, email in enumerate(spellings):
        if n == 2:
            before, sent = stored(), len(mail.outbox)
        # Each from its own client; a signup asked again after a while mails its link again.
        Signup.objects.update(
            confirmation_requested_at=timezone.now() - timedelta(minutes=5),
            confirmation_sent_at=timezone.now() - timedelta(minutes=5),
        )
        answers.append(
            answer(post(Client(REMOTE_ADDR=f"203.0.113.{n}"), form.path, form.data(email=email)))
        )
    assert answers == [form.success] * 3
    assert mails_to("marta.angstrom@example.se") == 2 == sent
    assert stored() == before and len(mail.outbox) == sent
    if page == "signup":
        assert Signup.objects.get().confirmation_requested_at < timezone.now() - timedelta(
            minutes=4
        )


def test_a_booking_over_the_address_s_daily_limit_is_told_to_wait_and_nothing_is_stored(
    forms, limits
):
    limits(per_address=2)
    form = forms["booking"]
    for n in range(2):
        response = post(Client(REMOTE_ADDR=f"203.0.113.{n}"), form.path, form.data())
        assert answer(response) == form.success
    before, sent = stored(), len(mail.outbox)
    response = post(
        Client(REMOTE_ADDR="203.0.113.9"), form.path, form.data(email="MARTA.angstrom@example.se")
    )
    assert response.status_code == 429 and "Too many requests" in response.content.decode()
    assert stored() == before and len(mail.outbox) == sent == 2
    assert SeasonSubscription.objects.count() == 2


def test_a_booking_sent_twice_by_a_double_click_counts_once(forms, limits):
    limits(per_address=1)
    form = forms["booking"]
    data = form.data()
    first = post(Client(), form.path, data)
    again = post(Client(), form.path, data)
    assert first.status_code == again.status_code == 302
    # The same booking: its signed link's value, whatever second each signature was made in.
    assert first["Location"].rsplit(":", 2)[0] == again["Location"].rsplit(":", 2)[0]
    assert SeasonSubscription.objects.count() == 1


@pytest.mark.parametrize("page", ["preferences", "confirm", "verify"])
def test_a_signed_link_s_page_is_limited_per_client(token_page, limits, page):
    limits(per_client=2)
    path, data = token_page(page)
    client = Client(REMOTE_ADDR="198.51.100.7")
    assert [post(client, path, data).status_code for _ in range(2)] == [200, 200]
    before = stored()
    response = post(client, path, data)
    assert response.status_code == 429
    assert stored() == before


@pytest.mark.parametrize("page", ["preferences", "confirm", "verify"])
def test_a_signed_link_s_page_is_limited_per_person(token_page, limits, page):
    limits(per_address=2)
    path, data = token_page(page)
    codes = [post(Client(REMOTE_ADDR=f"203.0.113.{n}"), path, data).status_code for n in range(2)]
    assert codes == [200, 200]
    before = stored()
    response = post(Client(REMOTE_ADDR="203.0.113.9"), path, data)
    assert response.status_code == 429 and "try again tomorrow" in response.content.decode()
    assert stored() == before


def test_withdrawing_everything_is_never_held_back_by_the_per_person_limit(token_page, limits):
    limits(per_address=1)
    path, data = token_page("preferences")
    assert post(Client(), path, data).status_code == 200
    assert post(Client(), path, data).status_code == 429
    assert post(Client(), path, {"action": "withdraw_all"}).status_code == 200
    assert set(Consent.objects.values_list("state", flat=True)) == {"withdrawn"}


def test_one_click_unsubscribes_from_one_mail_server_are_never_held_back(news, limits):
    """Mail providers POST their users' one-click unsubscribes from a few servers."""
    limits(per_client=2, per_address=1)
    provider = Client(REMOTE_ADDR="192.0.2.25", enforce_csrf_checks=True)
    people = [subscribe(CustomerFactory(), "news") for _ in range(4)]
    for person in people:
        response = post(
            provider, path_of(links.unsubscribe_url(person, news)), b"List-Unsubscribe=One-Click"
        )
        assert response.status_code == 200
    assert set(Consent.objects.values_list("state", flat=True)) == {"withdrawn"}
    # Bad links from one client are what a flood or a guesser sends: those are limited.
    forged = "/en/unsubscribe/not-a-signed-value/"
    codes = [post(provider, forged, b"List-Unsubscribe=One-Click").status_code for _ in range(3)]
    assert codes == [400, 400, 429]


# --- Who the client is ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("proxies", "forwarded", "client"),
    [
        (0, "203.0.113.5", "10.0.0.1"),  # no trusted proxy: the header is anyone's to write
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "198.51.100.1, 203.0.113.5", "203.0.113.5"),  # a forged entry on the left
        (2, "198.51.100.1, 203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (2, "203.0.113.5", "10.0.0.1"),  # shorter than the proxies: not through them
        (1, "not-an-address", "10.0.0.1"),
        (1, "", "10.0.0.1"),
    ],
)
def test_the_client_is_found_behind_the_trusted_proxies(settings, proxies, forwarded, client):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert ratelimit.client_ip(request) == client


def test_behind_a_proxy_each_visitor_is_counted_and_a_forged_header_does_not_help(
    settings, forms, limits
):
    settings.TRUSTED_PROXY_COUNT = 1
    limits(per_client=1)
    form = forms["privacy_request"]
    proxy = Client(REMOTE_ADDR="10.0.0.1")

    def send(forwarded, n):
        return post(
            proxy, form.path, form.data(email=f"p{n}@example.se"), HTTP_X_FORWARDED_FOR=forwarded
        )

    assert send("203.0.113.5", 1).status_code == 302
    assert send("203.0.113.6", 2).status_code == 302
    assert send("198.51.100.99, 203.0.113.5", 3).status_code == 429
    assert PrivacyRequest.objects.count() == 2


def test_an_ipv6_client_is_counted_by_its_network(forms, limits):
    limits(per_client=1)
    form = forms["privacy_request"]
    first = post(Client(REMOTE_ADDR="2001:db8:1:2::1"), form.path, form.data(email="a@example.se"))
    second = post(
        Client(REMOTE_ADDR="2001:db8:1:2::ff"), form.path, form.data(email="b@example.se")
    )
    assert (first.status_code, second.status_code) == (302, 429)


# --- Counting in Redis ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_server():
    """A Redis server of these tests' own on a free loopback port, keeping nothing on disk; stopped
    after them. Yields its URL."""
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server on PATH (Debian: apt-get install redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="test-redis-") as directory:
        options = f"--bind 127.0.0.1 --port {port} --appendonly no --dir {directory}".split()
        server = subprocess.Popen(  # noqa: S603
            [shutil.which("redis-server"), *options, "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        try:
            for _ in range(100):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            else:
                pytest.fail("redis-server did not answer within 5 s")
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture
def redis_cache(settings, redis_server):
    """The cache, and so the rate limits, in that Redis server, as in production (django-redis);
    yields a client of it, to look at what is stored there."""
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    client.config_resetstat()  # the command counts too
    settings.CACHES = {"default": cache_config(redis_server)}
    yield client
    client.flushdb()


def test_on_redis_a_limit_counts_and_its_count_expires_with_its_window(redis_cache):
    allowed = [
        ratelimit.allow("test", "198.51.100.1", limit=2, window_seconds=60) for _ in range(3)
    ]
    assert allowed == [True, True, False]
    (key,) = redis_cache.keys("*")
    assert 0 < redis_cache.ttl(key) <= 60 and int(redis_cache.get(key)) == 3


def test_on_redis_the_client_and_the_address_are_each_counted_in_their_own_window(redis_cache):
    client_limit = ratelimit.Attempt("test:client", "198.51.100.3", limit=1, window_seconds=60)
    address = ratelimit.Attempt("test:address", "åse@example.no", limit=2, window_seconds=3600)
    answers = [ratelimit.allowed(client_limit, address) for _ in range(3)]
    assert answers == [(True, True), (False, True), (False, False)]
    ttls = sorted(redis_cache.ttl(key) for key in redis_cache.keys("*"))
    assert len(ttls) == 2 and 0 < ttls[0] <= 60 < ttls[1] <= 3600
    # Counted, nothing else: an INCR (redis-py sends INCRBY) and an EXPIRE per attempt.
    commands = {name: stats["calls"] for name, stats in redis_cache.info("commandstats").items()}
    assert commands["cmdstat_incrby"] == commands["cmdstat_expire"] == 6


def test_on_redis_a_signup_with_errors_does_not_use_up_its_address_s_limit(
    redis_cache, forms, limits
):
    limits(per_address=1)
    form = forms["signup"]
    invalid = post(Client(), form.path, form.data(lists=[]))
    assert invalid.status_code == 200 and "lists" in invalid.context["form"].errors
    assert answer(post(Client(), form.path, form.data())) == form.success
    assert Signup.objects.count() == 1
    before = stored()
    mail.outbox.clear()
    # The same address in another spelling is the same address.
    again = form.data(email="  MARTA.Angstrom@Example.SE ")
    assert answer(post(Client(), form.path, again)) == form.success
    assert stored() == before and mail.outbox == []  # held back: nothing stored or sent


def test_on_redis_counting_goes_on_when_redis_drops_the_connection(redis_cache):
    """A connection Redis closed (a restart, an idle timeout) is replaced, and the attempt is
    counted once."""
    assert ratelimit.allow("test", "198.51.100.2", limit=5, window_seconds=60)
    dropped = 0
    for entry in redis_cache.client_list():
        if int(entry["id"]) != redis_cache.client_id():
            dropped += redis_cache.client_kill_filter(_id=entry["id"])
    assert dropped >= 1
    allowed = [
        ratelimit.allow("test", "198.51.100.2", limit=5, window_seconds=60) for _ in range(2)
    ]
    assert allowed == [True, True]
    (key,) = redis_cache.keys("*")
    assert int(redis_cache.get(key)) == 3


def test_on_redis_the_cache_holds_no_address_in_clear(redis_cache, forms):
    form = forms["privacy_request"]
    response = post(Client(REMOTE_ADDR="203.0.113.77"), form.path, form.data())
    assert answer(response) == form.success
    keys = [key.decode() for key in redis_cache.keys("*")]
    assert len(keys) == 2  # the client and the address
    assert not any("203.0.113.77" in key or "marta" in key for key in keys)
    assert not any(b"marta" in (redis_cache.get(key) or b"") for key in keys)


def test_with_the_cache_down_a_signup_is_stored_and_answered_and_the_outage_logged(
    settings, forms, caplog
):
    """A store that is down degrades a limit, never loses a submission."""
    settings.CACHES = {"default": cache_config("redis://127.0.0.1:1/0")}  # nobody listens
    form = forms["signup"]
    response = post(Client(), form.path, form.data())
    assert answer(response) == form.success
    assert Signup.objects.get().customer.email == "marta.angstrom@example.se"
    assert "rate limits not counted" in caplog.text and "marta" not in caplog.text


# --- Names already in the register ---------------------------------------------------------------
def test_a_name_with_markup_from_an_import_is_escaped_on_every_page_that_shows_a_person(
    client, news, thursdays
):
    hostile = "<script>alert('x')</script>"
    person = subscribe(
        CustomerFactory(email="imported@example.se", first_name=hostile, last_name=hostile), "news"
    )
    with committed():
        signup = newsletter_services.newsletter_signup(
            email=person.email, language="en", notices=[notice("offers")]
        )
        subscription = subscription_services.subscription_book(
            series=thursdays,
            seats=1,
            buyer=Buyer(
                email=person.email,
                first_name=hostile,
                last_name=hostile,
                phone="070-123 45 67",
                street_address="Storgatan 1",
                postal_code="702 10",
                city="Örebro",
                country="SE",
                preferred_language="en",
            ),
            channel=Order.Channel.WEB,
            booking_key=uuid.uuid4(),
        )
    pages = [
        path_of(links.preferences_url(person, language="en")),
        path_of(links.confirmation_url(signup)),
        path_of(links.unsubscribe_url(person, news)),
        "/en/subscriptions/booked/"
        + signed_links.make(str(subscription.public_id), salt=BOOKED)
        + "/",
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assert "<script>alert" not in response.content.decode(), page


# --- Error pages ---------------------------------------------------------------------------------
def test_a_page_not_found_shows_nothing_of_the_address_asked_for(client):
    response = client.get("/en/no-such-page/ase.odegard@example.no/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in html and '<html lang="en">' in html
    assert "ase.odegard" not in html and "no-such-page" not in html
    assert 'href="/sv/" hreflang="sv"' in html  # the languages lead home


def test_a_bad_request_shows_nothing_of_what_was_sent(client, forms):
    form = forms["signup"]
    body = urlencode(form.data(email="ase.odegard@example.no")).encode() + b"&last_name=%FF"
    response = post(client, form.path, body)
    html = response.content.decode()
    assert response.status_code == 400
    assert "We could not read what you sent" in html
    assert "ase.odegard" not in html and "Traceback" not in html


def test_a_failed_csrf_check_gets_the_translated_403_page_and_nothing_is_stored(forms):
    form = forms["signup"]
    response = post(Client(enforce_csrf_checks=True), form.path, form.data())
    html = response.content.decode()
    assert response.status_code == 403
    assert "The form could not be sent" in html and "CSRF" not in html
    assert stored()["Customer"] == 0


def test_a_server_error_shows_no_traceback_and_nothing_of_the_request(forms, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError(f"cannot store {kwargs['email']} +46701234567")

    monkeypatch.setattr(newsletter_services, "signup_receive", broken)
    form = forms["signup"]
    response = post(
        Client(raise_request_exception=False), form.path, form.data(email="ase.odegard@example.no")
    )
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in html and settings.HOUSE_CONTACT_EMAIL in html
    for leak in ("ase.odegard", "46701234567", "Traceback", "RuntimeError", "Märta", "csrf"):
        assert leak not in html


# --- Logs ----------------------------------------------------------------------------------------
@pytest.fixture
def console():
    """What the configured console handler prints, through its filters and formatter."""
    (handler,) = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def test_a_server_error_is_logged_without_the_personal_data_in_its_exception(
    forms, monkeypatch, console
):
    def broken(**kwargs):
        raise RuntimeError(f"cannot store {kwargs['email']}, +46701234567, 19770909-4770")

    monkeypatch.setattr(newsletter_services, "signup_receive", broken)
    form = forms["signup"]
    post(
        Client(raise_request_exception=False), form.path, form.data(email="ase.odegard@example.no")
    )
    output = console.getvalue()
    assert "Internal Server Error: /en/newsletter/" in output and "Traceback" in output
    assert "cannot store [email], [phone], [national id]" in output
    for leak in ("ase.odegard", "46701234567", "19770909", "Märta"):
        assert leak not in output


def test_refused_requests_are_logged_without_their_bodies(forms, console):
    form = forms["signup"]
    data = form.data(email="ase.odegard@example.no", first_name="Åse")
    post(Client(enforce_csrf_checks=True), form.path, data)  # django.security.csrf
    post(Client(), form.path, urlencode(data).encode() + b"&x=%FF")  # 400
    post(Client(), form.path, urlencode(data).encode() + b"&x=1" * 1500)  # too many fields
    output = console.getvalue()
    assert "Forbidden" in output
    assert "ase.odegard" not in output and "Åse" not in output


def token_of(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[1].removesuffix(".gif")


@pytest.mark.parametrize("page", TOKEN_PAGES)
def test_a_signed_link_s_token_is_not_logged_with_a_refused_request(
    token_page, limits, page, console
):
    """Django's request logger prints the path of every 4xx answer, and a signed link's path holds
    the key to the person's page: a wrong method, a malformed body, a client over its limit."""
    limits(per_client=2)
    path, data = token_page(page)
    token = token_of(path)
    client = Client(REMOTE_ADDR="198.51.100.7")
    assert client.generic("PUT", path).status_code == 405
    assert post(client, path, urlencode(data, doseq=True).encode() + b"&x=%FF").status_code == 400
    refusals = ["Method Not Allowed (PUT): ", "Bad Request: "]
    if page != "unsubscribe":  # a valid link unsubscribes however often it is sent
        assert 429 in [post(client, path, data).status_code for _ in range(4)]
        refusals.append("Too Many Requests: ")
    output, logged = console.getvalue(), path.replace(token, "[signed link]")
    for refusal in refusals:
        assert refusal + logged in output
    assert token not in output and token.split(":")[0] not in output


def test_the_token_of_a_page_that_only_shows_is_not_logged_with_a_wrong_method(console):
    package = signed_links.make(uuid.uuid4().hex, salt=privacy_emails.PACKAGE)
    booked = signed_links.make(str(uuid.uuid4()), salt=BOOKED)
    paths = [
        path_of(signed_links.url("privacy_requests:download", package, language="sv")),
        path_of(signed_links.url("subscriptions:booked", booked, language="nb")),
        path_of(links.open_pixel_url(12345)),
    ]
    for path in paths:
        assert Client().post(path).status_code == 405
    output = console.getvalue()
    for path in paths:
        token = token_of(path)
        assert path.replace(token, "[signed link]") in output
        assert token not in output and token.split(":")[0] not in output


@pytest.mark.postgres
def test_a_postgresql_integrity_error_is_logged_without_the_values_it_quotes(
    forms, monkeypatch, console
):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL, whose errors quote the values (DETAIL: Key ...)")

    def duplicate(**kwargs):
        Customer.objects.create(email="ase.odegard@example.no", source="web_signup")
        with transaction.atomic():
            Customer.objects.create(email="ase.odegard@example.no", source="web_signup")

    monkeypatch.setattr(newsletter_services, "signup_receive", duplicate)
    form = forms["signup"]
    with pytest.raises(IntegrityError) as raised:
        duplicate()
    assert "ase.odegard@example.no" in str(raised.value)  # PostgreSQL does quote it
    Customer.objects.all().delete()
    response = post(Client(raise_request_exception=False), form.path, form.data())
    output = console.getvalue()
    assert response.status_code == 500
    assert "IntegrityError" in output and "=(…) already exists" in output
    assert "odegard" not in output.lower()
