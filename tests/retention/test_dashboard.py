"""The DPO's retention page: the last runs with their counts, and what each rule will purge next."""

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from dateutil.relativedelta import relativedelta
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from django.utils.translation import gettext

from concerthouse.privacy.map import retention_rules
from customers.models import Customer
from retention import engine
from retention.models import Run

pytestmark = pytest.mark.django_db

URL = "/dpo/retention/"
LEADS = "customers.leads"


class Tables(HTMLParser):
    """Every table of a page as rows of cell texts, keyed by the id of the table, or else by the
    id of the section around it."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._section = self._table = self._row = self._cell = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self._section = attrs.get("id")
        elif tag == "table":
            self._table = attrs.get("id") or self._section
            self.tables[self._table] = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self.tables[self._table].append(self._row)
        elif tag == "section":
            self._section = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def label_of(code: str) -> str:
    return next(str(rule.label) for _model, rule in retention_rules() if rule.code == code)


@pytest.fixture
def history(make_leads):
    """A run that purged two leads; then three more leads past their time, and one whose time
    comes in ten days."""
    make_leads(2)
    (held,) = make_leads(1)
    Customer.objects.filter(pk=held.pk).update(
        restricted_at=timezone.now(), restriction_ground="legal_claims"
    )
    run = engine.purge(trigger=Run.Trigger.SCHEDULE)
    make_leads(3)
    (soon,) = make_leads(1, expired=False)
    Customer.objects.filter(pk=soon.pk).update(
        last_activity_at=timezone.now() - relativedelta(years=3) + timedelta(days=10)
    )
    return run


def test_the_dpo_sees_the_last_runs_with_their_counts_and_the_forecast_per_rule(
    client_for, dpo, history
):
    response = client_for(dpo).get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    tables = Tables(html).tables
    header, *forecast = tables["forecast"]
    assert header == ["Rule", "Data", "Due now", "Within 30 days"]
    by_rule = {row[0]: row[1:] for row in forecast}
    assert set(by_rule) == {str(rule.label) for _model, rule in retention_rules()}
    assert by_rule[label_of(LEADS)] == ["Customers", "3", "4"]
    assert by_rule[label_of("newsletters.delivery_log")] == ["Deliveries", "0", "0"]

    log = history.rules.get(rule=LEADS)
    header, *rules = tables[f"run-{history.pk}"]
    assert header == [
        "Rule",
        "Rows deleted",
        "Related rows",
        "Kept past their time",
        "Batches",
        "Seconds",
        "Error",
    ]
    by_rule = {row[0]: row[1:] for row in rules}
    assert set(by_rule) == {str(rule.label) for _model, rule in retention_rules()}
    # The restricted lead past its time is kept, and counted.
    assert by_rule[label_of(LEADS)][:4] == ["2", str(log.related_rows), "1", "1"]
    assert by_rule[label_of(LEADS)][5] == "—"
    assert log.related_rows > 0
    assert "Finished" in html and "Daily schedule" in html
    # Counts only: the page names nobody.
    assert "@example.se" not in html and "Lind" not in html


def test_a_failed_rule_and_a_resumed_run_show_on_the_page(client_for, dpo):
    run = Run.objects.create(
        as_of=timezone.now(),
        trigger=Run.Trigger.COMMAND,
        status=Run.Status.FAILED,
        finished_at=timezone.now(),
        resumed=2,
    )
    run.rules.create(rule=LEADS, model="customers.customer", rows=7, error="OperationalError")
    html = client_for(dpo).get(URL).content.decode()
    (row,) = Tables(html).tables[f"run-{run.pk}"][1:]
    assert row[0] == label_of(LEADS) and row[1] == "7" and row[-1] == "OperationalError"
    assert "Finished with errors" in html and "resumed 2 times" in html


def test_the_page_says_so_when_nothing_has_run_yet(client_for, dpo):
    response = client_for(dpo).get(URL)
    assert response.status_code == 200
    assert "No retention run yet." in response.content.decode()
    assert len(Tables(response.content.decode()).tables["forecast"]) == len(retention_rules()) + 1


@pytest.mark.parametrize("role", ["marketing", "box_office", "finance"])
def test_the_retention_page_is_for_the_dpo_only(role, request, client_for, history):
    response = client_for(request.getfixturevalue(role)).get(URL)
    assert response.status_code == 403
    html = response.content.decode()
    assert 'id="forecast"' not in html and f'id="run-{history.pk}"' not in html


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/admin/login/" in response.url


def page_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL).status_code == 200
    return len(queries)


def test_the_page_costs_the_same_queries_however_many_runs(
    client_for, dpo, make_leads, django_assert_max_num_queries
):
    client = client_for(dpo)
    make_leads(1)
    engine.purge(trigger=Run.Trigger.SCHEDULE)
    one_run = page_queries(client)
    for _ in range(6):
        make_leads(1)
        engine.purge(trigger=Run.Trigger.SCHEDULE)
    assert Run.objects.count() == 7
    assert page_queries(client) == one_run, one_run
    # The session, its renewal, the user and their second factor's device, the runs with their
    # rules, and two counts per rule.
    with django_assert_max_num_queries(2 * len(retention_rules()) + 10):
        assert client.get(URL).status_code == 200


@pytest.mark.parametrize("language", ["sv", "nb"])
def test_the_page_is_served_in_the_staff_member_s_language(client_for, dpo, history, language):
    response = client_for(dpo).get(URL, headers={"accept-language": language})

    assert response.status_code == 200
    html = response.content.decode()
    assert f'<html lang="{language}">' in html
    with translation.override(language):
        heading, leads = gettext("Retention"), label_of(LEADS)
    assert f"<h1>{heading}</h1>" in html
    tables = Tables(html).tables
    by_rule = {row[0]: row[2:] for row in tables["forecast"][1:]}
    assert len(by_rule) == len(retention_rules())
    assert by_rule[leads] == ["3", "4"]
    run_rows = {row[0]: row[1] for row in tables[f"run-{history.pk}"][1:]}
    assert run_rows[leads] == "2"
