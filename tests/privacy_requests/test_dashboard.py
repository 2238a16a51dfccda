from datetime import timedelta

import pytest
from django.utils import timezone

from concerthouse.models import AuditEntry
from privacy_requests import services
from privacy_requests.models import PrivacyRequest
from tests.factories import CustomerFactory

from .conftest import committed


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["marketing", "box_office", "finance"])
def test_the_dashboard_is_for_the_dpo_only(role, request, client_for, open_request):
    privacy_request = open_request("access", "ase@example.se")
    client = client_for(request.getfixturevalue(role))
    for url in ("/dpo/", f"/dpo/requests/{privacy_request.public_id}/", "/dpo/record/"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/dpo/requests/{privacy_request.public_id}/execute/").status_code == 403
    assert PrivacyRequest.objects.get().state == "open"


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/dpo/")
    assert response.status_code == 302 and "/admin/login/" in response.url


@pytest.mark.django_db
def test_the_queue_puts_overdue_requests_first_with_days_left(client_for, dpo, open_request):
    later = open_request("access", "later@example.se")
    overdue = open_request("erasure", "overdue@example.se")
    PrivacyRequest.objects.filter(pk=overdue.pk).update(
        due_on=timezone.localdate() - timedelta(days=2)
    )
    response = client_for(dpo).get("/dpo/")
    rows = response.context["rows"]
    assert [r.pk for r, _days in rows] == [overdue.pk, later.pk]
    assert rows[0][1] == -2
    assert b'class="overdue"' in response.content
    assert response.context["overdue"] == 1


@pytest.mark.django_db
def test_the_queue_filters_by_kind_and_state(client_for, dpo, open_request):
    open_request("access", "a@example.se")
    open_request("erasure", "e@example.se")
    client = client_for(dpo)
    rows = client.get("/dpo/?kind=erasure").context["rows"]
    assert [r.kind for r, _days in rows] == ["erasure"]
    assert client.get("/dpo/?state=completed").context["rows"] == []


@pytest.mark.django_db
def test_the_chart_counts_requests_per_month_and_the_share_answered_in_time(
    client_for, dpo, open_request
):
    for email in ("a@example.se", "b@example.se"):
        request = open_request("objection", email)
    with committed():
        client_for(dpo).post(f"/dpo/requests/{request.public_id}/execute/")
    statistics = client_for(dpo).get("/dpo/").context["statistics"]
    this_month = statistics[-1]
    assert (this_month["received"], this_month["on_time"]) == (2, 100)
    assert len(statistics) == 13


@pytest.mark.django_db
def test_the_dpo_assigns_extends_and_executes_from_the_dashboard(client_for, dpo, open_request):
    CustomerFactory(email="ase@example.no")
    request = open_request("access", "ase@example.no")
    client = client_for(dpo)
    page = client.get(f"/dpo/requests/{request.public_id}/")
    assert page.status_code == 200 and b"ase@example.no" in page.content
    base = f"/dpo/requests/{request.public_id}/"
    with committed():
        client.post(base + "assign/", {"assignee": dpo.pk})
        client.post(base + "extend/", {"reason": "Many requests."})
        client.post(base + "execute/")
    request.refresh_from_db()
    assert (request.assigned_to, request.state) == (dpo, "completed")
    assert request.extension_reason == "Many requests."
    timeline = list(request.events.values_list("action", flat=True))
    assert timeline == [
        "submitted",
        "verified",
        "assigned",
        "extended",
        "access_package_created",
        "completed",
    ]
    assert AuditEntry.objects.filter(actor=dpo, action__startswith="privacy_request.").count() == 4


@pytest.mark.django_db
def test_a_refused_action_says_why_and_changes_nothing(client_for, dpo, open_request):
    request = open_request("erasure", "e@example.se")
    response = client_for(dpo).post(
        f"/dpo/requests/{request.public_id}/reject/", {"reason": ""}, follow=True
    )
    assert b"Give a reason." in response.content
    assert PrivacyRequest.objects.get().state == "open"


@pytest.mark.django_db
def test_the_record_of_processing_lists_every_declared_model(client_for, dpo):
    page = client_for(dpo).get("/dpo/record/").content.decode()
    for label in (
        "customers.customer",
        "consent.consentevent",
        "newsletters.delivery",
        "privacy_requests.privacyrequest",
        "concerthouse.auditentry",
    ):
        assert label in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "heading"),
    [
        ("en", "How we handle your personal data"),
        ("sv", "Så hanterar vi dina personuppgifter"),
        ("nb", "Slik behandler vi personopplysningene dine"),
    ],
)
def test_the_privacy_notice_is_generated_in_each_language(client, language, heading, settings):
    settings.HOUSE_ORGANISATION_NUMBER = "802000-1234"
    from privacy_requests.models import Processor

    Processor.objects.create(
        name="Mailer AS",
        role="processor",
        kind="mail",
        purposes={
            "en": "Sends newsletters.",
            "sv": "Skickar nyhetsbrev.",
            "nb": "Sender nyhetsbrev.",
        },
        data_categories=["contact"],
        country="NO",
        erasure_contact="p@mailer.example",
    )
    page = client.get(f"/{language}/privacy/").content.decode()
    assert heading in page
    assert "802000-1234" in page and "Mailer AS" in page
    assert "Integritetsskyddsmyndigheten" in page


@pytest.mark.django_db
def test_a_request_page_costs_the_same_queries_however_many_staff_and_events(
    client_for, dpo, open_request, django_assert_max_num_queries
):
    from tests.factories import make_staff

    for n in range(15):
        make_staff(f"staff{n}")
    request = open_request("access", "a@example.se")
    for _ in range(10):
        services.privacy_request_assign(request=request, actor=dpo, assignee=dpo)
    client = client_for(dpo)
    with django_assert_max_num_queries(20):
        assert client.get(f"/dpo/requests/{request.public_id}/").status_code == 200
    with django_assert_max_num_queries(15):
        assert client.get("/dpo/").status_code == 200
