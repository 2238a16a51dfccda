"""The campaign's page for marketing: a preview of each language, a test send to the member of
staff's own address, the audience per language before scheduling, and afterwards what became of
the messages, with the warnings mailbox providers' limits call for."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from concerthouse.models import AuditEntry
from customers.services import customers_mark_undeliverable
from newsletters import campaigns, services
from newsletters.models import Campaign, CampaignText, Delivery
from tests.factories import CustomerFactory, subscribe

CAMPAIGNS = "/admin/newsletters/campaign/"


@pytest.fixture
def draft(news, marketing):
    campaign = Campaign.objects.create(name="Våren", purpose=news, created_by=marketing)
    CampaignText.objects.create(
        campaign=campaign, language="sv", subject="Vårens konserter", body="Hej!\n\nVälkommen."
    )
    CampaignText.objects.create(
        campaign=campaign, language="en", subject="Spring concerts", body="Hello!\n\nWelcome."
    )
    return campaign


def send(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(
        status=Campaign.Status.SCHEDULED, scheduled_at=timezone.now() - timedelta(seconds=1)
    )
    campaigns.campaign_send(campaign_id=campaign.pk)


@pytest.mark.django_db
def test_the_preview_shows_each_language_as_its_readers_get_it(client_for, marketing, draft):
    client = client_for(marketing)
    page = client.get(f"{CAMPAIGNS}{draft.pk}/change/").content.decode()
    assert "Vårens konserter" in page and "Spring concerts" in page
    # Norwegian readers get the house's language (English in the tests), and the page says so.
    assert "No text in this language: these readers get the English one." in page

    response = client.get(f"{CAMPAIGNS}{draft.pk}/preview/nb/")
    html = response.content.decode()
    assert response.status_code == 200 and "Spring concerts" in html and 'lang="en"' in html
    swedish = client.get(f"{CAMPAIGNS}{draft.pk}/preview/sv/").content.decode()
    assert "Välkommen." in swedish and 'lang="sv"' in swedish and "#unsubscribe" in swedish
    # The email styles itself inline; only this page may, and it loads nothing.
    policy = response["Content-Security-Policy"]
    assert "style-src 'unsafe-inline'" in policy and "default-src 'none'" in policy
    assert client.get(f"{CAMPAIGNS}{draft.pk}/preview/xx/").status_code == 404


@pytest.mark.django_db
def test_a_test_send_goes_to_the_staff_members_own_address_in_each_language(
    client_for, marketing, draft
):
    marketing.email = "kampanj@konserthus.example"
    marketing.save()
    subscribe(CustomerFactory(email="marta@example.se"), "news")
    client = client_for(marketing)
    response = client.post(f"{CAMPAIGNS}{draft.pk}/test-send/", follow=True)
    assert "went to kampanj@konserthus.example" in response.content.decode()
    assert sorted(m.subject for m in mail.outbox) == [
        "[Test] Spring concerts",
        "[Test] Vårens konserter",
    ]
    assert {tuple(m.to) for m in mail.outbox} == {("kampanj@konserthus.example",)}
    message = mail.outbox[0]
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.alternatives[0].mimetype == "text/html"
    # Nobody else got anything, and nothing counts as sent.
    assert not Delivery.objects.exists()
    draft.refresh_from_db()
    assert draft.status == Campaign.Status.DRAFT
    assert AuditEntry.objects.filter(action="campaign.test_sent").count() == 1


@pytest.mark.django_db
def test_a_test_send_without_an_address_on_the_account_says_so(client_for, marketing, draft):
    response = client_for(marketing).post(f"{CAMPAIGNS}{draft.pk}/test-send/", follow=True)
    assert "no email address" in response.content.decode()
    assert mail.outbox == []


@pytest.mark.django_db
def test_the_dpo_sees_the_page_but_cannot_test_send(client_for, dpo, draft):
    dpo.email = "dpo@konserthus.example"
    dpo.save()
    client = client_for(dpo)
    page = client.get(f"{CAMPAIGNS}{draft.pk}/change/").content.decode()
    assert "Send a test" not in page
    assert client.post(f"{CAMPAIGNS}{draft.pk}/test-send/").status_code == 403
    assert mail.outbox == []


@pytest.mark.django_db
def test_the_audience_is_counted_per_language_as_it_stands_now(client_for, marketing, draft):
    for number, language in enumerate(["sv", "sv", "nb", "en"]):
        person = CustomerFactory(email=f"fan{number}@example.se", preferred_language=language)
        subscribe(person, "news")
    gone = subscribe(CustomerFactory(email="gone@example.se", preferred_language="sv"), "news")
    customers_mark_undeliverable(customer_ids=[gone.pk], reason="hard_bounce")
    page = client_for(marketing).get(f"{CAMPAIGNS}{draft.pk}/change/").content.decode()
    rows = re.findall(r"<tr><td>([^<]+)</td><td>(\d+)</td><td>([^<]+)</td></tr>", page)
    assert rows == [
        ("Swedish", "2", "Swedish"),
        ("Norwegian (Bokmål)", "1", "English"),
        ("English", "1", "English"),
    ]


@pytest.mark.django_db
def test_after_sending_the_page_shows_the_figures_a_chart_and_the_warnings(
    client_for, marketing, draft
):
    people = [subscribe(CustomerFactory(email=f"fan{n}@example.se"), "news") for n in range(10)]
    subscribe(people[0], "open-tracking")
    send(draft)
    deliveries = {d.customer_id: d for d in Delivery.objects.all()}
    services.bounces_record([(deliveries[people[1].pk].pk, "hard", "5.1.1", "User unknown")])
    services.bounces_record([(deliveries[people[2].pk].pk, "soft", "4.2.2", "Mailbox full")])
    services.complaint_record(
        customer=people[3], delivery_id=deliveries[people[3].pk].pk, evidence="ARF report 0"
    )
    services.unsubscribe(customer=people[4], purpose=draft.purpose)
    Delivery.objects.filter(customer=people[0]).update(first_opened_at=timezone.now())

    client = client_for(marketing)
    page = client.get(f"{CAMPAIGNS}{draft.pk}/change/").content.decode()
    assert '<svg class="campaign-chart" role="img"' in page
    figures = dict(
        re.findall(r'<th scope="row">(?:<span[^>]*></span>)?([^<]+)</th><td>([^<]+)</td>', page)
    )
    assert figures["Sent"] == "10"
    assert figures["Delivered"] == "8 (80.0 %)"
    assert figures["Failed"] == "2 (20.0 %)"
    # The complaint withdrew the list too: two left it after the campaign reached them.
    assert figures["Unsubscribed"] == "2 (20.0 %)"
    assert figures["Opened (with consent)"] == "1 (10.0 %)"
    assert figures["Spam complaints"] == "1 (10.0 %)"
    assert "Spam complaints: 10.0 % of the messages sent, above 0.1 %" in page
    assert "Hard bounces: 10.0 % of the messages sent, above 2.0 %" in page

    dashboard = client.get(CAMPAIGNS).content.decode()
    assert "Recent campaigns" in dashboard and 'class="campaign-alert"' in dashboard


@pytest.mark.django_db
def test_below_the_limits_there_is_no_warning(client_for, marketing, draft):
    for number in range(5):
        subscribe(CustomerFactory(email=f"fan{number}@example.se"), "news")
    send(draft)
    page = client_for(marketing).get(f"{CAMPAIGNS}{draft.pk}/change/").content.decode()
    assert 'role="alert"' not in page
    assert 'class="campaign-alert"' not in client_for(marketing).get(CAMPAIGNS).content.decode()
