from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from consent.services import consent_withdraw
from customers.services import customer_object_to_marketing, customer_restrict
from newsletters import campaigns, services
from newsletters.models import Campaign, CampaignText, Delivery
from newsletters.tasks import send_campaign_task, send_due_campaigns_task
from tests.factories import CustomerFactory, subscribe
from tests.threads import run_at_once


def make_campaign(purpose, *, languages=("en",), scheduled_at=None, **extra):
    campaign = Campaign.objects.create(name="Autumn season", purpose=purpose, **extra)
    for language in languages:
        CampaignText.objects.create(
            campaign=campaign,
            language=language,
            subject=f"Autumn [{language}]",
            body=f"Hello [{language}].\n\nThe season opens on Friday.",
        )
    if scheduled_at is not None:
        Campaign.objects.filter(pk=campaign.pk).update(
            status=Campaign.Status.SCHEDULED, scheduled_at=scheduled_at
        )
        campaign.refresh_from_db()
    return campaign


def due(purpose, **extra):
    return make_campaign(purpose, scheduled_at=timezone.now() - timedelta(seconds=1), **extra)


def recipients():
    return sorted(address for message in mail.outbox for address in message.to)


@pytest.mark.django_db
def test_only_confirmed_consent_to_the_list_receives_the_campaign(news, family_list, client):
    subscribe(CustomerFactory(email="confirmed@example.se"), "news")
    subscribe(CustomerFactory(email="other-list@example.se"), "family")
    CustomerFactory(email="no-consent@example.se")
    # An unconfirmed signup: consent given, link never clicked.
    services.newsletter_signup(
        email="unconfirmed@example.se",
        language="en",
        notices=[news.notices.get(language="en")],
    )
    mail.outbox.clear()
    campaign = due(news)
    assert campaigns.campaign_send(campaign_id=campaign.pk) == 1
    assert recipients() == ["confirmed@example.se"]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT and campaign.finished_at is not None


@pytest.mark.django_db
def test_restricted_objecting_and_suppressed_people_receive_nothing(news, dpo):
    subscribe(CustomerFactory(email="plain@example.se"), "news")
    restricted = subscribe(CustomerFactory(email="restricted@example.se"), "news")
    customer_restrict(customer=restricted, actor=dpo, ground="legal_claims")
    objecting = subscribe(CustomerFactory(email="objecting@example.se"), "news")
    customer_object_to_marketing(customer=objecting, channel="email_or_letter")
    suppressed = subscribe(CustomerFactory(email="suppressed@example.se"), "news")
    services.suppression_add(email="Suppressed@Example.se", reason="erased")
    campaigns.campaign_send(campaign_id=due(news).pk)
    assert recipients() == ["plain@example.se"]
    assert Delivery.objects.get(customer=suppressed).status == Delivery.Status.SKIPPED


@pytest.mark.django_db
def test_withdrawing_between_scheduling_and_sending_stops_that_message(news):
    stays = subscribe(CustomerFactory(email="stays@example.se"), "news")
    leaves = subscribe(CustomerFactory(email="leaves@example.se"), "news")
    campaign = due(news)
    campaigns.campaign_prepare_deliveries(campaign)
    assert Delivery.objects.filter(campaign=campaign).count() == 2
    consent_withdraw(customer=leaves, purpose=news, channel="preference_centre")
    campaigns.campaign_send(campaign_id=campaign.pk)
    assert recipients() == ["stays@example.se"]
    statuses = dict(Delivery.objects.values_list("customer", "status"))
    assert statuses == {stays.pk: "sent", leaves.pk: "skipped"}


@pytest.mark.django_db
def test_a_task_run_twice_sends_once(news):
    for n in range(5):
        subscribe(CustomerFactory(email=f"p{n}@example.se"), "news")
    campaign = due(news)
    send_campaign_task(campaign.pk)  # with its fan-out of extra senders
    assert send_campaign_task(campaign.pk) == 0
    assert send_due_campaigns_task() == 0  # finished campaigns are not due
    assert len(mail.outbox) == 5
    assert Delivery.objects.filter(status="sent").count() == 5


@pytest.mark.django_db
def test_a_resumed_campaign_keeps_the_audience_it_started_with(news):
    subscribe(CustomerFactory(email="first@example.se"), "news")
    campaign = due(news)
    campaigns.campaign_prepare_deliveries(campaign)
    subscribe(CustomerFactory(email="late@example.se"), "news")
    campaigns.campaign_send(campaign_id=campaign.pk)
    assert recipients() == ["first@example.se"]


@pytest.mark.django_db
def test_drafts_future_and_cancelled_campaigns_send_nothing(news, marketing):
    subscribe(CustomerFactory(), "news")
    draft = make_campaign(news)
    future = make_campaign(news, scheduled_at=timezone.now() + timedelta(hours=1))
    cancelled = campaigns.campaign_cancel(campaign=due(news), actor=marketing)
    for campaign in (draft, future, cancelled):
        assert campaigns.campaign_send(campaign_id=campaign.pk) == 0
    assert mail.outbox == []


@pytest.mark.django_db
def test_each_person_gets_their_language_or_the_house_language(news, settings):
    settings.LANGUAGE_CODE = "sv"
    sv = subscribe(CustomerFactory(email="sv@example.se", preferred_language="sv"), "news")
    nb = subscribe(CustomerFactory(email="nb@example.no", preferred_language="nb"), "news")
    en = subscribe(CustomerFactory(email="en@example.com", preferred_language="en"), "news")
    campaigns.campaign_send(campaign_id=due(news, languages=("sv", "en")).pk)
    subjects = {message.to[0]: message.subject for message in mail.outbox}
    assert subjects == {
        sv.email: "Autumn [sv]",
        nb.email: "Autumn [sv]",  # no Norwegian text: the house's language
        en.email: "Autumn [en]",
    }
    unsubscribe = {m.to[0]: m.extra_headers["List-Unsubscribe"] for m in mail.outbox}
    assert "/nb/unsubscribe/" in unsubscribe[nb.email]


@pytest.mark.django_db
def test_scheduling_needs_the_house_language_and_enqueues_a_due_campaign(
    news, marketing, recipient_register
):
    subscribe(CustomerFactory(email="a@example.se"), "news")
    campaign = make_campaign(news, languages=("nb",))
    with pytest.raises(Exception, match="house's language"):
        campaigns.campaign_schedule(campaign=campaign, actor=marketing)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    CampaignText.objects.create(campaign=campaign, language="en", subject="S", body="B")
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        campaigns.campaign_schedule(campaign=campaign, actor=marketing)
    assert recipients() == ["a@example.se"]


@pytest.mark.django_db
def test_sending_a_batch_costs_a_fixed_number_of_queries(news, django_assert_max_num_queries):
    for n in range(40):
        subscribe(CustomerFactory(email=f"p{n}@example.se"), "news", "open-tracking")
    campaign = due(news)
    campaigns.campaign_prepare_deliveries(campaign)
    # About eight queries a batch and a few per run, whatever the number of people.
    with django_assert_max_num_queries(30):
        campaigns.campaign_send(campaign_id=campaign.pk, batch_size=100)
    assert len(mail.outbox) == 40


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_never_send_a_message_twice(news):
    if connection.vendor != "postgresql":
        pytest.skip("needs a server database with concurrent connections (PostgreSQL)")
    for n in range(60):
        subscribe(CustomerFactory(email=f"p{n}@example.se"), "news")
    campaign = due(news)
    campaigns.campaign_prepare_deliveries(campaign)
    sent, errors = run_at_once(
        lambda: campaigns.campaign_send(campaign_id=campaign.pk, batch_size=7)
    )
    assert errors == []
    assert sum(sent) == 60
    assert len(recipients()) == 60 and len(set(recipients())) == 60
