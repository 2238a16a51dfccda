"""The DPO's retention page in a real browser: the forecast before a run, the run's counts after."""

import pytest
from dateutil.relativedelta import relativedelta
from django.utils import timezone

from concerthouse.privacy.map import retention_rules
from customers.models import Customer
from retention import engine
from retention.models import Run
from tests.browser import log_in
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def cells(row) -> list[str]:
    return [text.strip() for text in row.locator("td").all_inner_texts()]


def test_the_dpo_reads_the_forecast_and_after_a_run_its_counts(page, dpo):
    leads = [CustomerFactory(source="fair_or_meeting") for _ in range(4)]
    Customer.objects.filter(pk__in=[lead.pk for lead in leads]).update(
        last_activity_at=timezone.now() - relativedelta(years=3, days=10)
    )
    CustomerFactory(source="fair_or_meeting")  # met last week: kept
    label = next(str(r.label) for _m, r in retention_rules() if r.code == "customers.leads")

    log_in(page, "dpo")
    page.goto("/dpo/")
    page.click("header nav a:has-text('Retention')")
    page.wait_for_url("**/dpo/retention/")

    forecast = page.locator("table#forecast tbody tr")
    assert forecast.count() == len(retention_rules())
    due = forecast.filter(has_text=label)
    assert cells(due)[:3] == [label, "Customers", "4"]
    assert "No retention run yet." in page.inner_text("main")

    run = engine.purge(trigger=Run.Trigger.COMMAND)
    page.reload()

    section = page.locator(f"section#run-{run.pk}")
    assert "Finished" in section.locator("h3").inner_text()
    assert cells(section.locator("tbody tr").filter(has_text=label))[:2] == [label, "4"]
    assert cells(page.locator("table#forecast tbody tr").filter(has_text=label))[2] == "0"
    assert "@" not in page.inner_text("main")
