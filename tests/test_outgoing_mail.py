"""Every message on its way out (concerthouse/mail_backend.py): signed with DKIM when a key is
configured, verified here with dkimpy as a receiving server would, and sent from a return path of
its own."""

import base64
from datetime import timedelta

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.mail import EmailMessage
from django.utils import timezone

from concerthouse import return_path
from newsletters import campaigns
from newsletters.models import Campaign, CampaignText, Delivery
from tests.factories import CustomerFactory, subscribe


@pytest.fixture
def dkim_key(settings, smtp_server):
    """A fresh 2048-bit key, configured as the house's, and the DNS record that publishes it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings.DKIM_PRIVATE_KEY = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    settings.DKIM_DOMAIN, settings.DKIM_SELECTOR = "example.org", "registry2026"
    settings.EMAIL_BACKEND = "concerthouse.mail_backend.EmailBackend"
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name, timeout=5):
        assert name == b"registry2026._domainkey.example.org."
        return record

    return dns


def test_a_message_is_signed_and_the_signature_verifies(dkim_key, smtp_server):
    EmailMessage(
        subject="Välkommen till Åse Ødegårds konsert",
        body="Hej Märta!\n\nVälkommen.\n",
        from_email="Demo Konserthus <no-reply@example.org>",
        to=["marta@example.se"],
    ).send()
    (raw,) = smtp_server.raw
    assert raw.startswith(b"DKIM-Signature:") or b"\nDKIM-Signature:" in raw
    assert dkim.verify(raw, dnsfunc=dkim_key)
    signature = smtp_server.messages[0]["DKIM-Signature"]
    assert "d=example.org" in signature and "s=registry2026" in signature


def test_a_message_changed_on_the_way_no_longer_verifies(dkim_key, smtp_server):
    EmailMessage(subject="Tickets", body="Row 7.\n", to=["marta@example.se"]).send()
    (raw,) = smtp_server.raw
    assert not dkim.verify(raw.replace(b"Row 7.", b"Row 9."), dnsfunc=dkim_key)


@pytest.mark.django_db
def test_a_campaign_message_is_signed_over_its_unsubscribe_headers(dkim_key, smtp_server, news):
    subscribe(CustomerFactory(email="marta@example.se"), "news")
    campaign = Campaign.objects.create(
        name="Spring",
        purpose=news,
        status=Campaign.Status.SCHEDULED,
        scheduled_at=timezone.now() - timedelta(seconds=1),
    )
    CampaignText.objects.create(campaign=campaign, language="en", subject="Spring", body="Hello.")
    campaigns.campaign_send(campaign_id=campaign.pk)
    (raw,) = smtp_server.raw
    assert dkim.verify(raw, dnsfunc=dkim_key)
    signed = smtp_server.messages[0]["DKIM-Signature"].replace(" ", "").lower()
    assert "list-unsubscribe:list-unsubscribe-post" in signed
    # The envelope sender is the delivery's own return path; the From header the house's.
    (sender,) = smtp_server.envelope_senders
    delivery = Delivery.objects.get()
    assert sender == return_path.for_delivery(delivery.pk)
    assert return_path.read(return_path.find(sender)).delivery_id == delivery.pk
    assert smtp_server.messages[0]["From"].addresses[0].addr_spec == "no-reply@example.org"


def test_a_message_to_one_person_gets_a_return_path_signed_for_that_address(settings, smtp_server):
    settings.EMAIL_BACKEND = "concerthouse.mail_backend.EmailBackend"
    settings.DKIM_PRIVATE_KEY = ""
    EmailMessage(subject="Booking", body="Row 7.", to=["Marta@Example.se"]).send()
    (sender,) = smtp_server.envelope_senders
    local, _at, domain = sender.partition("@")
    assert domain == settings.EMAIL_BOUNCE_DOMAIN and len(local) <= 64
    path = return_path.read(return_path.find(sender))
    assert path.names("marta@example.se") and not path.names("someone@example.se")
    assert "DKIM-Signature" not in smtp_server.messages[0]  # no key, no signature


def test_a_message_to_several_recipients_keeps_its_sender(settings, smtp_server):
    settings.EMAIL_BACKEND = "concerthouse.mail_backend.EmailBackend"
    EmailMessage(
        subject="Staff", body=".", from_email="dpo@example.org", to=["a@x.se", "b@x.se"]
    ).send()
    assert smtp_server.envelope_senders == ["dpo@example.org"]


def test_return_paths_of_large_delivery_ids_stay_within_rfc_5321s_64_characters():
    local = return_path.for_delivery(999_999_999_999).partition("@")[0]
    assert len(local) <= 64
