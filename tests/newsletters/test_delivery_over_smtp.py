"""Campaign mail delivered to a real SMTP server on loopback, read back as the recipient sees it."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from newsletters import campaigns
from newsletters.models import Campaign, CampaignText, Delivery
from tests.factories import CustomerFactory, subscribe


def send_campaign(purpose):
    campaign = Campaign.objects.create(
        name="Spring",
        purpose=purpose,
        status=Campaign.Status.SCHEDULED,
        scheduled_at=timezone.now() - timedelta(seconds=1),
    )
    CampaignText.objects.create(
        campaign=campaign, language="en", subject="Spring season", body="Hello.\n\nTickets now."
    )
    campaigns.campaign_send(campaign_id=campaign.pk)
    return campaign


def html_of(message):
    return message.get_body(preferencelist=("html",)).get_content()


def path_of(url):
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


@pytest.mark.django_db
def test_every_message_carries_both_unsubscribe_headers(smtp_server, news):
    subscribe(CustomerFactory(email="marta@example.se", first_name="Märta"), "news")
    send_campaign(news)
    (message,) = smtp_server.messages
    urls = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
    assert urls[0].startswith("http") and "/unsubscribe/" in urls[0]
    assert urls[1].startswith("mailto:")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/preferences/" in message.get_body(preferencelist=("plain",)).get_content()
    assert message["To"] == "marta@example.se"


@pytest.mark.django_db
def test_no_pixel_and_no_tracking_link_without_open_tracking_consent(smtp_server, news):
    subscribe(CustomerFactory(email="untracked@example.se"), "news")
    subscribe(CustomerFactory(email="tracked@example.se"), "news", "open-tracking")
    send_campaign(news)
    by_recipient = {message["To"]: html_of(message) for message in smtp_server.messages}
    assert "<img" not in by_recipient["untracked@example.se"]
    assert "/o/" not in by_recipient["untracked@example.se"]
    assert re.search(r'<img src="[^"]+/o/[^"]+\.gif"', by_recipient["tracked@example.se"])
    tracked = dict(Delivery.objects.values_list("customer__email", "tracked"))
    assert tracked == {"untracked@example.se": False, "tracked@example.se": True}


@pytest.mark.django_db
def test_opens_are_counted_with_their_date_only_while_consent_stands(smtp_server, news):
    person = subscribe(CustomerFactory(email="tracked@example.se"), "news", "open-tracking")
    send_campaign(news)
    pixel = re.search(r'<img src="([^"]+)"', html_of(smtp_server.messages[0])).group(1)
    anonymous = Client()
    for _ in range(2):
        response = anonymous.get(path_of(pixel))
        assert response.status_code == 200 and response["Content-Type"] == "image/gif"
        assert not response.cookies
    delivery = Delivery.objects.get()
    assert delivery.open_count == 2 and delivery.first_opened_at is not None
    # Withdrawn: the pixel still answers, but nothing more is recorded.
    anonymous.post(
        path_of(re.search(r"<(http[^>]+)>", smtp_server.messages[0]["List-Unsubscribe"]).group(1))
    )
    from consent.models import Purpose
    from consent.services import consent_withdraw

    consent_withdraw(
        customer=person,
        purpose=Purpose.objects.get(code="open-tracking"),
        channel="preference_centre",
    )
    anonymous.get(path_of(pixel))
    delivery.refresh_from_db()
    assert delivery.open_count == 2


@pytest.mark.django_db
def test_a_forged_pixel_records_nothing(client, smtp_server, news):
    subscribe(CustomerFactory(), "news", "open-tracking")
    send_campaign(news)
    assert client.get("/o/not-a-token.gif").status_code == 200
    assert Delivery.objects.get().open_count == 0


@pytest.mark.django_db
def test_an_smtp_server_that_is_down_leaves_the_rows_queued_for_the_retry(settings, news):
    subscribe(CustomerFactory(email="a@example.se"), "news")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    with pytest.raises(OSError):
        send_campaign(news)
    assert Delivery.objects.get().status == Delivery.Status.QUEUED
    assert Campaign.objects.get().status == Campaign.Status.SENDING
