"""Campaign mail delivered to a real SMTP server on loopback, read back as the recipient sees it."""

import re
from datetime import timedelta
from html.parser import HTMLParser

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


class _Resources(HTMLParser):
    """Everything in an HTML part that a mail client would load by itself."""

    def __init__(self):
        super().__init__()
        self.loaded, self.tags, self.metas = [], [], {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "meta" and "name" in attrs:
            self.metas[attrs["name"]] = attrs.get("content")
        for name in ("src", "background", "srcset", "poster", "data"):
            if attrs.get(name):
                self.loaded.append(attrs[name])
        if tag == "link" and attrs.get("href"):
            self.loaded.append(attrs["href"])
        self.loaded += re.findall(r"url\(([^)]*)\)", attrs.get("style") or "")


@pytest.mark.django_db
def test_a_sent_campaign_parses_as_a_multipart_message_with_the_rfc_8058_headers(smtp_server, news):
    subscribe(
        CustomerFactory(email="marta@example.se", first_name="Märta"), "news", "open-tracking"
    )
    subscribe(CustomerFactory(email="ola@example.no", preferred_language="nb"), "news")
    campaign = send_campaign(news)
    by_recipient = {message["To"]: message for message in smtp_server.messages}
    for address, message in by_recipient.items():
        assert message.get_content_type() == "multipart/alternative"
        plain = message.get_body(preferencelist=("plain",)).get_content()
        html = html_of(message)
        assert "Tickets now." in plain and "Tickets now." in html
        assert "<html" not in plain
        # RFC 8058: an https URL for the POST, and the header that says it takes one click.
        https, mailto = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
        assert https.startswith("http") and "/unsubscribe/" in https
        assert mailto.startswith("mailto:") and "subject=unsubscribe%20" in mailto
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["List-Id"].endswith("<news.lists.example.org>")
        assert message["Feedback-ID"] == f"{campaign.pk}:news:newsletter:registry"
        parser = _Resources()
        parser.feed(html)
        assert parser.metas["color-scheme"] == "light dark"
        assert "script" not in parser.tags and "link" not in parser.tags
        pixel = [url for url in parser.loaded if "/o/" in url]
        # Nothing remote but the pixel, and the pixel only with open-tracking consent.
        assert [url for url in parser.loaded if url not in pixel] == []
        assert len(pixel) == (1 if address == "marta@example.se" else 0)
