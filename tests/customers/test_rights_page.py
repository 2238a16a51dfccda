"""The customer's "Restriction and objection" page in the admin exercises the rights exactly as a
privacy request and the preference centre do: one service each, whatever the path."""

import pytest
from django.core import mail
from django.test import TestCase
from django.urls import reverse

from concerthouse.models import AuditEntry
from newsletters.models import Suppression
from newsletters.services import is_suppressed
from tests.factories import CustomerFactory, subscribe


def rights_url(customer):
    return reverse("admin:customers_customer_rights", args=[customer.pk])


@pytest.fixture
def restricted(dpo, client_for):
    person = CustomerFactory(
        email="ase.odegard@example.no", first_name="Åse", preferred_language="nb"
    )
    client_for(dpo).post(rights_url(person), {"restrict": "1", "ground": "accuracy_contested"})
    person.refresh_from_db()
    assert person.is_restricted
    return person


@pytest.mark.django_db
def test_the_admin_page_does_not_lift_a_restriction_before_the_person_is_told(
    dpo, client_for, restricted
):
    client = client_for(dpo)
    response = client.post(rights_url(restricted), {"lift": "1"}, follow=True)
    assert "Tell the person first" in response.content.decode()
    restricted.refresh_from_db()
    assert restricted.is_restricted
    assert not AuditEntry.objects.filter(action="customer.restriction_lifted").exists()


@pytest.mark.django_db
def test_the_admin_page_tells_the_person_then_lifts_the_restriction(dpo, client_for, restricted):
    client = client_for(dpo)
    mail.outbox.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(rights_url(restricted), {"announce_lift": "1"})
    (notice,) = mail.outbox
    assert notice.to == ["ase.odegard@example.no"]
    assert notice.subject == "Begrensningen av behandlingen av opplysningene dine vil bli opphevet"
    # Asking again sends nothing twice.
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(rights_url(restricted), {"announce_lift": "1"})
    assert len(mail.outbox) == 1
    page = client.get(rights_url(restricted)).content.decode()
    assert 'name="lift"' in page
    client.post(rights_url(restricted), {"lift": "1"})
    restricted.refresh_from_db()
    assert not restricted.is_restricted
    assert restricted.restriction_lift_notice_sent_at is None  # ready for a restriction to come


@pytest.mark.django_db
def test_an_objection_recorded_in_the_admin_stops_all_marketing_as_in_the_preference_centre(
    dpo, client_for
):
    person = subscribe(CustomerFactory(), "news", "offers", "ad-matching", "accessibility")
    response = client_for(dpo).post(
        rights_url(person), {"object": "1", "channel": "email_or_letter"}
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.objects_to_marketing
    assert (person.marketing_objection_channel, person.marketing_objection_recorded_by) == (
        "email_or_letter",
        dpo,
    )
    states = dict(person.consents.values_list("purpose__code", "state"))
    assert states == {
        "news": "withdrawn",
        "offers": "withdrawn",
        "ad-matching": "withdrawn",
        "accessibility": "confirmed",  # serves the season subscription, not marketing
    }
    withdrawn = person.consent_events.filter(action="withdrawn")
    assert set(withdrawn.values_list("channel", flat=True)) == {"marketing_objection"}
    assert set(withdrawn.values_list("actor", flat=True)) == {dpo.pk}
    assert is_suppressed(person.email)
    assert Suppression.objects.get().reason == "objected"
