"""Season subscriptions in a real browser: the public booking form in each language, and box office
booking and cancelling at the box-office counter."""

from decimal import Decimal
from urllib.parse import urlparse

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from consent.models import Consent, ConsentEvent, Purpose
from consent.selectors import notice_current
from customers.models import Customer
from subscriptions import services
from subscriptions.models import Order, Payment, SeasonSubscription, SeatingNeed
from tests.browser import log_in
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What each person types, by field name; the email in mixed case, as people type it.
PEOPLE = {
    "sv": {
        "first_name": "Märta",
        "last_name": "Ångström",
        "email": "Marta.Angstrom@Example.se",
        "phone": "070-123 45 67",
        "street_address": "Storgatan 1",
        "postal_code": "702 10",
        "city": "Örebro",
        "country": "SE",
    },
    "nb": {
        "first_name": "Åse",
        "last_name": "Ødegård",
        "email": "Ase.Odegard@Example.no",
        "phone": "+47 912 34 567",
        "street_address": "Kongens gate 2",
        "postal_code": "0153",
        "city": "Oslo",
        "country": "NO",
    },
    "en": {
        "first_name": "Märta",
        "last_name": "Ångström",
        "email": "Marta.Angstrom@Example.se",
        "phone": "070-123 45 67",
        "street_address": "Storgatan 1",
        "postal_code": "702 10",
        "city": "Örebro",
        "country": "SE",
    },
}
SEATING_ERROR = "To record seating needs we need your explicit consent: tick the box."
COUNTER = reverse("counter:search")


@pytest.fixture
def requests_made(page):
    """Every URL the browser fetches, to prove that no page reaches a third party."""
    urls = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def translated(language, message):
    """The text as the page should show it: the catalogue's translation, whatever its wording."""
    with translation.override(language):
        return gettext(message)


def seating_notice(language):
    purpose = Purpose.objects.get(kind=Purpose.Kind.ACCESSIBILITY)
    return notice_current(purpose=purpose, language=language)


def unlabelled_fields(page, within):
    """The names of visible form controls that no <label> names."""
    return page.eval_on_selector(
        within,
        """root => Array.from(root.querySelectorAll(
            "input:not([type=hidden]):not([type=submit]), select, textarea"
        )).filter(field => field.labels.length === 0).map(field => field.name)""",
    )


def fill_in(page, person, *, leave_out=()):
    page.check("main label:has-text('Torsdagsserien')")
    page.fill("#id_seats", "2")
    for name, value in person.items():
        if name in leave_out:
            continue
        if name == "country":
            page.select_option("#id_country", value)
        else:
            page.fill(f"#id_{name}", value)


def book(page):
    page.click("main form[method=post] button[type=submit]")


def wait_for_thanks(page, language):
    page.wait_for_url(f"**/{language}/subscriptions/booked/**")
    assert page.get_attribute("html", "lang") == language
    assert page.inner_text("h1") == translated(language, "Thank you for your booking")


def assert_nothing_stored():
    assert not Customer.objects.exists()
    assert not SeasonSubscription.objects.exists()
    assert not Order.objects.exists()
    assert not SeatingNeed.objects.exists()
    assert not ConsentEvent.objects.exists()
    assert mail.outbox == []


@pytest.mark.parametrize("language", ["sv", "nb", "en"])
def test_booking_with_every_marketing_box_unticked_books_and_sends_the_confirmation(
    page, live_server, requests_made, thursdays, language
):
    person = PEOPLE[language]
    page.goto(f"/{language}/subscriptions/")
    assert page.get_attribute("html", "lang") == language
    assert page.inner_text("h1") == translated(language, "Book a season subscription")
    assert page.locator("main input[type=checkbox]").count() > 0  # seating needs, newsletters
    assert page.locator("main input[type=checkbox]:checked").count() == 0  # every box unticked
    assert page.locator("main [aria-invalid]").count() == 0
    assert unlabelled_fields(page, "main form[method=post]") == []
    fill_in(page, person)
    book(page)
    wait_for_thanks(page, language)

    subscription = SeasonSubscription.objects.select_related("customer").get()
    assert page.inner_text(".reference") == subscription.reference
    customer = subscription.customer
    assert customer.email == person["email"].lower()
    assert (customer.first_name, customer.last_name) == (person["first_name"], person["last_name"])
    assert (customer.city, customer.country) == (person["city"], person["country"])
    assert customer.preferred_language == language
    assert (subscription.seats, subscription.price) == (2, Decimal("2900.00"))
    assert (subscription.channel, subscription.booked_by) == (Order.Channel.WEB, None)
    # Unticked means no consent of any kind: no newsletter, no seating needs.
    assert not Consent.objects.exists() and not ConsentEvent.objects.exists()
    assert not SeatingNeed.objects.exists()

    (confirmation,) = mail.outbox
    assert confirmation.to == [person["email"].lower()]
    assert subscription.reference in confirmation.subject
    assert subscription.reference in confirmation.body
    host = urlparse(live_server.url).netloc
    assert {urlparse(url).netloc for url in requests_made} == {host}


@pytest.mark.parametrize("language", ["sv", "nb", "en"])
def test_a_seating_need_is_stored_only_once_the_explicit_consent_is_ticked(
    page, thursdays, language
):
    person = PEOPLE[language]
    need = translated(language, "Aisle seat")
    page.goto(f"/{language}/subscriptions/")
    fill_in(page, person)
    page.check(f"main label:has-text('{need}')")
    book(page)

    error = page.locator("main .errorlist", has_text=translated(language, SEATING_ERROR))
    error.wait_for()
    assert page.get_attribute("html", "lang") == language
    assert_nothing_stored()
    # What was typed and ticked is still there; the consent box is left for the person to tick.
    assert page.is_checked(f"main label:has-text('{need}')")
    assert page.input_value("#id_email") == person["email"]
    notice = seating_notice(language)
    consent_box = page.get_by_label(notice.label, exact=True)
    assert not consent_box.is_checked()
    # A screen reader on the box hears why it is needed.
    assert consent_box.get_attribute("aria-invalid") == "true"
    assert consent_box.get_attribute("aria-describedby") == error.get_attribute("id")

    consent_box.check()
    book(page)
    wait_for_thanks(page, language)

    subscription = SeasonSubscription.objects.get()
    seating = SeatingNeed.objects.get()
    assert seating.customer_id == subscription.customer_id
    assert seating.season_id == thursdays.season_id
    assert seating.need_codes == [SeatingNeed.Need.AISLE]
    # The ledger holds the explicit consent to the exact wording shown, and nothing else.
    assert seating.consent_event.notice_id == notice.pk
    assert list(Consent.objects.values_list("purpose__kind", flat=True)) == [
        Purpose.Kind.ACCESSIBILITY
    ]


@pytest.mark.parametrize("language", ["sv", "nb", "en"])
def test_a_missing_required_field_is_pointed_out_and_the_rest_is_kept(page, thursdays, language):
    person = PEOPLE[language]
    page.goto(f"/{language}/subscriptions/")
    fill_in(page, person, leave_out=["street_address"])
    book(page)

    error = page.locator("#id_street_address_error")
    error.wait_for()
    assert error.inner_text() == translated(language, "This field is required.")
    # The error is tied to its field for screen readers, and it is the only one.
    street = page.locator("#id_street_address")
    assert street.get_attribute("aria-invalid") == "true"
    assert "id_street_address_error" in street.get_attribute("aria-describedby").split()
    assert page.locator("main .errorlist").count() == 1
    assert_nothing_stored()
    assert page.is_checked("main label:has-text('Torsdagsserien')")
    assert page.input_value("#id_seats") == "2"
    for name, value in person.items():
        if name != "street_address":
            assert page.input_value(f"#id_{name}") == value, name
    assert page.input_value("#id_language") == language

    page.fill("#id_street_address", person["street_address"])
    book(page)
    wait_for_thanks(page, language)
    assert SeasonSubscription.objects.get().customer.street_address == person["street_address"]


@pytest.mark.parametrize("language", ["sv", "nb"])
def test_the_booking_pages_speak_the_language_of_the_address(page, thursdays, language):
    """The catalogue must translate what the booking pages say, not fall back to English."""
    page.goto(f"/{language}/subscriptions/")
    fill_in(page, PEOPLE[language])
    page.check(f"main label:has-text('{translated(language, 'Aisle seat')}')")
    book(page)
    page.locator("main .errorlist").first.wait_for()
    shown = {
        "Book a season subscription": page.inner_text("h1"),
        "Book": page.inner_text("main form[method=post] button[type=submit]"),
        "Aisle seat": page.eval_on_selector(
            "main input[value=aisle]", "box => box.labels[0].innerText"
        ),
        SEATING_ERROR: page.inner_text("main .errorlist"),
    }
    untranslated = [english for english, text in shown.items() if text == english]
    assert untranslated == [], f"shown in English on /{language}/: {untranslated}"


def test_box_office_books_at_the_counter_then_cancels_with_a_refund(
    page, live_server, requests_made, box_office, thursdays
):
    marta = CustomerFactory(
        email="marta.angstrom@example.se",
        first_name="Märta",
        last_name="Ångström",
        phone="070-123 45 67",
        street_address="Storgatan 1",
        postal_code="702 10",
        city="Örebro",
        preferred_language="sv",
    )
    CustomerFactory(email="marta.berg@example.se", first_name="Märta", last_name="Berg")

    log_in(page, "boxoffice")
    assert "Seating needs" in page.inner_text("#content-main")  # what marketing must not see
    page.goto(COUNTER)
    page.fill("#counter-q", "Marta.Angstrom@Example.se")
    page.click("#counter-search input[type=submit]")
    rows = page.locator("#counter-results tbody tr")
    rows.first.wait_for()
    assert rows.count() == 1  # the exact address, not everyone called Märta
    rows.first.get_by_role("link", name="Book", exact=True).click()

    form = page.locator("#counter-booking")
    form.wait_for()
    assert page.input_value("#id_email") == "marta.angstrom@example.se"
    assert page.input_value("#id_street_address") == "Storgatan 1"
    assert unlabelled_fields(page, "#counter-booking") == []
    page.select_option("#id_series", str(thursdays.pk))
    page.fill("#id_seats", "2")
    page.select_option("#id_payment_method", Payment.Method.CARD)
    form.get_by_label("Wheelchair place").check()
    form.locator("input[type=submit]").click()

    # A seating need without the person's explicit consent is refused, and nothing is written.
    error = form.locator(".errorlist", has_text=SEATING_ERROR)
    error.wait_for()
    assert not SeasonSubscription.objects.exists() and not SeatingNeed.objects.exists()
    assert not Order.objects.exists() and mail.outbox == []
    consent_box = form.locator("#id_seating_consent")
    assert consent_box.get_attribute("aria-invalid") == "true"
    assert consent_box.get_attribute("aria-describedby") == error.get_attribute("id")
    assert form.get_by_label("Wheelchair place").is_checked()
    assert page.input_value("#id_seats") == "2"
    consent_box.check()
    form.locator("input[type=submit]").click()

    success = page.locator(".messagelist .success")
    success.wait_for()
    subscription = SeasonSubscription.objects.select_related("order").get()
    assert success.inner_text() == f"Booked: reference {subscription.reference}."
    assert subscription.customer_id == marta.pk
    assert (subscription.channel, subscription.booked_by) == (Order.Channel.BOX_OFFICE, box_office)
    assert (subscription.seats, subscription.status) == (2, SeasonSubscription.Status.ACTIVE)
    (payment,) = subscription.order.payments.all()
    assert (payment.kind, payment.method) == (Payment.Kind.PAYMENT, Payment.Method.CARD)
    assert payment.amount == Decimal("2900.00")
    seating = SeatingNeed.objects.get()
    assert (seating.customer_id, seating.need_codes) == (marta.pk, [SeatingNeed.Need.WHEELCHAIR])
    (confirmation,) = mail.outbox
    assert confirmation.to == ["marta.angstrom@example.se"]

    page.locator(".object-tools").get_by_role("link", name="Cancel", exact=True).click()
    page.select_option("#id_refund_method", Payment.Method.CARD)
    page.click("#content-main form input[type=submit]")
    page.locator(".messagelist .success", has_text="The subscription was cancelled.").wait_for()

    subscription.refresh_from_db()
    assert subscription.status == SeasonSubscription.Status.CANCELLED
    assert subscription.cancelled_at is not None
    refund = subscription.order.payments.get(kind=Payment.Kind.REFUND)
    assert (refund.method, refund.amount) == (Payment.Method.CARD, Decimal("2900.00"))
    assert services.order_balance(subscription.order) == 0
    # Cancelled once: the object tool is gone.
    assert page.locator(".object-tools a:has-text('Cancel')").count() == 0
    host = urlparse(live_server.url).netloc
    assert {urlparse(url).netloc for url in requests_made} == {host}


def test_marketing_cannot_open_the_counter_or_see_seating_needs(
    page, marketing, box_office, thursdays
):
    booked = services.subscription_book(
        series=thursdays,
        seats=1,
        buyer=services.Buyer(
            email="ase.odegard@example.no",
            first_name="Åse",
            last_name="Ødegård",
            phone="+47 912 34 567",
            street_address="Kongens gate 2",
            postal_code="0153",
            city="Oslo",
            country="NO",
            preferred_language="nb",
        ),
        channel=Order.Channel.BOX_OFFICE,
        payment_method=Payment.Method.CASH,
        seating_needs=[SeatingNeed.Need.COMPANION],
        seating_notice=seating_notice("nb"),
        actor=box_office,
    )

    log_in(page, "marketing")
    assert "Seating needs" not in page.inner_text("#content-main")
    for url in (
        COUNTER,
        COUNTER + "?q=ase.odegard@example.no",
        reverse("counter:book"),
        reverse("counter:cancel", args=[booked.pk]),
        reverse("counter:seating", args=[booked.customer_id]),
        "/admin/subscriptions/seatingneed/",
    ):
        response = page.goto(url)
        assert response.status == 403, url
        assert "Ødegård" not in page.inner_text("body"), url

    # Marketing may read the subscription itself, without the counter's tools.
    page.goto(f"/admin/subscriptions/seasonsubscription/{booked.pk}/change/")
    assert booked.reference in page.inner_text("#content")
    assert page.locator(".object-tools a:has-text('Cancel')").count() == 0
    page.goto("/admin/subscriptions/seasonsubscription/")
    assert page.locator(".object-tools a:has-text('Box office counter')").count() == 0
    assert SeasonSubscription.objects.get().status == SeasonSubscription.Status.ACTIVE
