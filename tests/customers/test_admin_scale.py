"""The customer changelist at the size of a real register: it never counts the whole table, pages
honestly past the count's cap, and its searches find what staff type (Nordic names in any case,
addresses in any case, a phone number in any spelling) through the search indexes."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from concerthouse.paginator import CappedPaginator
from customers.admin import CustomerAdmin
from customers.models import Customer
from tests.factories import CustomerFactory

CHANGELIST = reverse("admin:customers_customer_changelist")
PAGE_QUERIES = 14  # session, user, device, permissions, the capped count, the page, the estimate


@pytest.fixture
def small_cap(monkeypatch):
    """The production proportions (a count cap of 10,000 above the 200 rows "show all" allows,
    above a page of 50), at the scale of a test: a cap of 4, "show all" up to 3, pages of 2."""
    monkeypatch.setattr(CappedPaginator, "cap", 4)
    monkeypatch.setattr(CustomerAdmin, "list_max_show_all", 3)
    monkeypatch.setattr(CustomerAdmin, "list_per_page", 2)


@pytest.fixture
def register(db):
    people = [
        CustomerFactory(email="ase.odegard@example.no", first_name="Åse", last_name="Ødegård"),
        CustomerFactory(
            email="marta.angstrom@example.se",
            first_name="Märta",
            last_name="Ångström",
            phone="+46701234567",
            postal_code="413 19",
        ),
    ]
    people += [CustomerFactory(first_name="Lars", last_name="Persson") for _ in range(5)]
    return people


def unbounded_counts(queries) -> list[str]:
    """The COUNTs that are not bounded by a LIMIT: each would read the whole (filtered) table."""
    return [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "LIMIT" not in q["sql"]]


def paginator_text(response) -> str:
    html = response.content.decode()
    paginator = re.search(r'<p class="paginator">(.*?)</p>', html, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", paginator).split())


def found(response) -> set[str]:
    return {str(customer.email) for customer in response.context["cl"].result_list}


@pytest.mark.django_db
def test_the_changelist_counts_no_further_than_its_cap(
    register, small_cap, marketing, client_for, django_assert_max_num_queries
):
    client = client_for(marketing)
    with (
        django_assert_max_num_queries(PAGE_QUERIES),
        CaptureQueriesContext(connection) as queries,
    ):
        response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert unbounded_counts(queries.captured_queries) == []
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1 and "LIMIT 5" in counts[0]  # cap + 1
    # Honest: not "5 customers", and no last page, which would say the list ends there.
    assert paginator_text(response) == "1 2 … More than 4 customers"
    assert len(response.context["cl"].result_list) == 2


@pytest.mark.django_db
def test_past_the_cap_the_pages_go_as_far_as_the_cap(register, small_cap, marketing, client_for):
    client = client_for(marketing)
    second = client.get(CHANGELIST, {"p": 2})
    assert second.status_code == 200
    assert paginator_text(second) == "1 2 … More than 4 customers"
    assert len(second.context["cl"].result_list) == 2
    # Beyond the cap the admin's own answer to a page that does not exist.
    beyond = client.get(CHANGELIST, {"p": 3})
    assert beyond.status_code == 302 and beyond["Location"].endswith("?e=1")
    # "Show all" is never offered for a list longer than the cap.
    assert client.get(CHANGELIST, {"all": ""}).context["cl"].result_list.query.is_sliced


@pytest.mark.django_db
def test_below_the_cap_the_count_is_exact(register, marketing, client_for):
    response = client_for(marketing).get(CHANGELIST, {"q": "Persson"})
    assert paginator_text(response) == "5 customers"
    assert "5 results" in response.content.decode()


@pytest.mark.django_db
def test_a_search_past_the_cap_says_more_than(register, small_cap, marketing, client_for):
    with CaptureQueriesContext(connection) as queries:
        response = client_for(marketing).get(CHANGELIST, {"q": "example"})
    assert unbounded_counts(queries.captured_queries) == []
    assert "More than 4 results" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("term", "email"),
    [
        ("Ødegård", "ase.odegard@example.no"),
        ("Åse Ødegård", "ase.odegard@example.no"),
        ("Märta Ångström", "marta.angstrom@example.se"),
        ("Ångström Märta", "marta.angstrom@example.se"),  # each word in either name
        ("ASE.Odegard@Example.NO", "ase.odegard@example.no"),  # the address in another case
        ("odegard@", "ase.odegard@example.no"),  # part of it
        ("413", "marta.angstrom@example.se"),  # the start of a postal code
        ("070-123 45 67", "marta.angstrom@example.se"),  # a phone, as people write it
        ("+46 70 123 45 67", "marta.angstrom@example.se"),
    ],
)
def test_searches_find_what_staff_type(
    register, marketing, client_for, term, email, django_assert_max_num_queries
):
    client = client_for(marketing)
    with (
        django_assert_max_num_queries(PAGE_QUERIES),
        CaptureQueriesContext(connection) as queries,
    ):
        response = client.get(CHANGELIST, {"q": term})
    assert found(response) == {email}
    assert unbounded_counts(queries.captured_queries) == []


@pytest.mark.django_db
def test_nordic_letters_match_in_any_case_on_postgresql(register, marketing, client_for):
    """PostgreSQL's UPPER knows å, ä, ö and ø (SQLite's knows only ASCII, so this is for
    production's database)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's UPPER folds ASCII letters only")
    client = client_for(marketing)
    assert found(client.get(CHANGELIST, {"q": "åse ødegård"})) == {"ase.odegard@example.no"}
    assert found(client.get(CHANGELIST, {"q": "MÄRTA ÅNGSTRÖM"})) == {"marta.angstrom@example.se"}


@pytest.mark.django_db
def test_a_part_of_a_phone_number_finds_no_one(register, marketing, client_for):
    """Phones are matched whole, normalised: "4567" is not a phone number."""
    assert found(client_for(marketing).get(CHANGELIST, {"q": "4567"})) == set()


@pytest.mark.django_db
def test_the_rights_filter_and_search_combine(register, marketing, client_for, dpo):
    from customers.services import customer_object_to_marketing

    customer_object_to_marketing(
        customer=register[1], actor=dpo, channel=Customer.ObjectionChannel.EMAIL_OR_LETTER
    )
    client = client_for(marketing)
    objecting = client.get(CHANGELIST, {"rights": "objecting", "q": "070-123 45 67"})
    assert found(objecting) == {"marta.angstrom@example.se"}
    assert found(client.get(CHANGELIST, {"rights": "objecting", "q": "Ødegård"})) == set()


# --- On PostgreSQL: each search is served by an index --------------------------------------------
def plan(sql: str, params) -> str:
    with connection.cursor() as cursor:
        # A test table is small enough that a scan is cheapest; forbidding scans shows whether an
        # index can serve the query at all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lookup", "index"),
    [
        ({"email__icontains": "odegard@"}, "customer_email_trgm_idx"),
        ({"first_name__icontains": "åse"}, "customer_first_name_trgm_idx"),
        ({"last_name__icontains": "ödegård"}, "customer_last_name_trgm_idx"),
        ({"postal_code__icontains": "413"}, "customer_postal_code_trgm_idx"),
        ({"last_name__istartswith": "Ång"}, "customer_last_name_trgm_idx"),  # the counter
        ({"email__iexact": "ASE.Odegard@example.no"}, "customer_email_trgm_idx"),  # the logs
        ({"phone": "+46701234567"}, "customer_phone_idx"),
    ],
)
def test_each_search_of_the_admin_uses_an_index(register, lookup, index):
    if connection.vendor != "postgresql":
        pytest.skip("the trigram indexes exist on PostgreSQL only")
    sql, params = Customer.objects.filter(**lookup).order_by().query.sql_with_params()
    assert index in plan(sql, params)


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_first_page_is_read_off_the_name_index(register):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's plans")
    sql, params = Customer.objects.all()[:50].query.sql_with_params()
    assert "customer_name_order_idx" in plan(sql, params)
    assert "Sort" not in plan(sql, params)
