from datetime import timedelta

import pytest
from django.utils import timezone

from concerthouse.privacy.export import export_person
from concerthouse.privacy.map import Erasure, declaration_for
from newsletters import campaigns, services
from newsletters.audience import audience_export
from newsletters.models import Campaign, CampaignText, Delivery, Signup, Suppression
from tests.factories import CustomerFactory, subscribe


@pytest.mark.django_db
def test_a_person_s_export_finds_their_rows_in_every_new_model(
    news, marketing, settings, recipient_register
):
    settings.AUDIENCE_EXPORT_MINIMUM = 1
    person = CustomerFactory(email="ase@example.no", first_name="Åse")
    other = subscribe(CustomerFactory(email="other@example.se"), "news", "ad-matching")
    signup = services.newsletter_signup(
        email="ase@example.no", language="nb", notices=[news.notices.get(language="nb")]
    )
    services.signup_confirm(signup=signup)
    subscribe(person, "ad-matching")
    audience_export(actor=marketing, recipient="meta")
    campaign = Campaign.objects.create(
        name="C", purpose=news, status="scheduled", scheduled_at=timezone.now() - timedelta(1)
    )
    CampaignText.objects.create(campaign=campaign, language="en", subject="S", body="B")
    campaigns.campaign_send(campaign_id=campaign.pk)
    services.preferences_withdraw_all(customer=person)

    export = export_person(person)
    assert len(export["consent.consentevent"]) == 5  # given, confirmed, confirmed, 2 withdrawn
    assert {row["state"] for row in export["consent.consent"]} == {"withdrawn"}
    assert len(export["newsletters.signup"]) == 1
    assert len(export["newsletters.delivery"]) == 1
    assert len(export["newsletters.audienceexportmember"]) == 1
    assert export["newsletters.suppression"] == [
        {"email_hash": services.suppression_hash(person.email), "reason": "unsubscribed"}
    ]
    assert Delivery.objects.filter(customer=other).exists()  # and none of it is in the export
    assert len(Signup.objects.all()) == 1


def test_the_suppression_list_survives_erasure_and_the_rest_goes():
    assert declaration_for(Suppression).erasure == Erasure.KEEP
    for model in (Signup, Delivery):
        assert declaration_for(model).erasure == Erasure.DELETE


@pytest.mark.django_db
def test_unconfirmed_signups_and_old_delivery_logs_expire(news, settings):
    person = CustomerFactory()
    old = Signup.objects.create(
        customer=person,
        language="en",
        created_at=timezone.now() - timedelta(days=31),
        confirmation_requested_at=timezone.now() - timedelta(days=31),
    )
    rule = declaration_for(Signup).retention.expired
    assert list(Signup.objects.filter(rule(timezone.now()))) == [old]
    assert not Signup.objects.filter(rule(timezone.now() - timedelta(days=2))).exists()
    delivery_rule = declaration_for(Delivery).retention.expired
    campaign = Campaign.objects.create(name="C", purpose=news)
    Delivery.objects.create(
        campaign=campaign, customer=person, created_at=timezone.now() - timedelta(days=800)
    )
    assert Delivery.objects.filter(delivery_rule(timezone.now())).count() == 1
