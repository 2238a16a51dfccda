"""Staff in a real browser: what marketing and finance see of one customer."""

import pytest

from concerthouse.models import AuditEntry
from tests.browser import log_in
from tests.factories import FODSELSNUMMER

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_customer(page, name):
    page.goto("/admin/customers/customer/")
    page.fill("#searchbar", name)
    page.press("#searchbar", "Enter")
    page.click(f"#result_list a:has-text('{name}')")
    page.wait_for_selector("#customer_form")


def test_marketing_opens_a_customer_and_sees_no_identifiers_or_health_data(page, aase, marketing):
    log_in(page, "marketing")
    open_customer(page, "Åse Ødegård")

    assert page.input_value("#id_email") == "ase.odegard@example.no"
    body = page.inner_text("body")
    for absent in (
        "National identity number",
        "Bank account",
        "••••••",
        FODSELSNUMMER,
        "Accessibility",
        "Reveal",
    ):
        assert absent not in body
    assert page.locator("fieldset:has-text('Identifiers')").count() == 0
    assert page.locator("a:has-text('National ID and bank account')").count() == 0
    assert AuditEntry.objects.filter(action="customer.viewed", actor__username="marketing").exists()


def test_finance_reveals_a_national_id_and_the_reveal_is_audited(page, aase, finance):
    log_in(page, "finance")
    open_customer(page, "Åse Ødegård")

    identifiers = page.locator("fieldset:has-text('Identifiers')")
    assert "••••••6800" in identifiers.inner_text()
    assert FODSELSNUMMER not in page.inner_text("body")
    assert not AuditEntry.objects.filter(action="customer.identifier_revealed").exists()

    identifiers.locator(".field-national_id_display a:has-text('Reveal')").click()
    page.click("input[value='Reveal the full value']")
    assert page.inner_text("#revealed-value") == "240589 36800"  # as people write it

    entry = AuditEntry.objects.get(action="customer.identifier_revealed")
    assert entry.actor.username == "finance"
    assert entry.target_id == aase.public_id
    assert entry.detail == {"field": "national_id"}
