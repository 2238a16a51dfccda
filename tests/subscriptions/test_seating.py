"""Seating needs are health data (Art. 9): stored only with an explicit consent of their own,
encrypted, seen only by the box office and the DPO, deleted with the consent and after the season."""

import csv
import hashlib
import io
import uuid
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from concerthouse.encryption import DecryptionError
from concerthouse.models import AuditEntry
from consent.models import Consent, ConsentEvent, Purpose
from consent.selectors import notice_current
from customers.models import Customer
from newsletters.campaigns import campaign_audience
from newsletters.models import Campaign
from retention import engine
from retention.models import Run
from retention.tasks import purge_task
from subscriptions import services
from subscriptions.models import Order, Season, SeasonSubscription, SeatingNeed
from tests.factories import CustomerFactory, subscribe

from .conftest import booking_post, buyer, committed

WHEELCHAIR = "Wheelchair place"
COMPANION = "Companion seat"


def raw_needs() -> list[str]:
    """The column as the database holds it, past the model field."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT needs FROM subscriptions_seatingneed ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def accessibility():
    return Purpose.objects.get(kind=Purpose.Kind.ACCESSIBILITY)


@pytest.fixture
def with_needs(thursdays, seating_notice):
    """Märta, booked on the website with a wheelchair place and a companion seat."""
    with committed():
        subscription = services.subscription_book(
            series=thursdays,
            seats=2,
            buyer=buyer(),
            channel="web",
            seating_needs=["companion", "wheelchair"],
            seating_notice=seating_notice,
        )
    mail.outbox.clear()
    return subscription


def book_on_the_website(client, series, **changes):
    with committed():
        return client.post(
            reverse("subscriptions:book"), booking_post(series, key=uuid.uuid4(), **changes)
        )


# --- Never without the explicit consent -----------------------------------------------------------
def test_the_public_form_refuses_seating_needs_without_the_consent_box_and_writes_nothing(
    client, thursdays
):
    response = book_on_the_website(client, thursdays, seating_needs=["wheelchair"])
    assert response.status_code == 200
    assert response.context["form"].errors["seating_consent"] == [
        "To record seating needs we need your explicit consent: tick the box."
    ]
    assert not SeatingNeed.objects.exists() and not ConsentEvent.objects.exists()
    assert not Customer.objects.exists() and not SeasonSubscription.objects.exists()
    assert not Order.objects.exists() and mail.outbox == []


def test_the_booking_service_refuses_seating_needs_without_a_notice_and_writes_nothing(thursdays):
    with pytest.raises(ValidationError) as refused:
        services.subscription_book(
            series=thursdays,
            seats=1,
            buyer=buyer(),
            channel="web",
            seating_needs=["wheelchair"],
            seating_notice=None,
        )
    assert "seating_consent" in refused.value.message_dict
    assert not Customer.objects.exists() and not SeasonSubscription.objects.exists()
    assert not SeatingNeed.objects.exists() and not Order.objects.exists()


def test_recording_seating_needs_without_a_notice_is_refused(season):
    person = CustomerFactory(email="marta@example.se")
    with pytest.raises(ValidationError) as refused:
        services.seating_needs_record(
            customer=person, season=season, needs=["wheelchair"], notice=None, channel="web"
        )
    assert "seating_consent" in refused.value.message_dict
    assert not SeatingNeed.objects.exists() and not ConsentEvent.objects.exists()


def test_a_marketing_consent_does_not_count_as_the_explicit_consent(season):
    person = CustomerFactory(email="marta@example.se")
    news = notice_current(purpose=Purpose.objects.get(code="news"), language="sv")
    with pytest.raises(ValidationError):
        services.seating_needs_record(
            customer=person, season=season, needs=["wheelchair"], notice=news, channel="web"
        )
    assert not SeatingNeed.objects.exists() and not ConsentEvent.objects.exists()


@pytest.mark.parametrize("needs", [[], ["wheelchair", "uses a cane"], ["Diabetes"]])
def test_only_needs_from_the_fixed_list_are_stored_never_free_text(season, seating_notice, needs):
    person = CustomerFactory(email="marta@example.se")
    with pytest.raises(ValidationError) as refused:
        services.seating_needs_record(
            customer=person,
            season=season,
            needs=needs,
            notice=seating_notice,
            channel="booking_form",
        )
    assert "seating_needs" in refused.value.message_dict
    assert not SeatingNeed.objects.exists() and not ConsentEvent.objects.exists()


def test_the_database_itself_refuses_a_seating_need_without_its_consent_event(season):
    person = CustomerFactory(email="marta@example.se")
    with pytest.raises(IntegrityError), transaction.atomic():
        SeatingNeed.objects.create(customer=person, season=season, needs="wheelchair")
    assert not SeatingNeed.objects.exists()


# --- With the consent ---------------------------------------------------------------------------
def test_with_the_consent_box_the_needs_are_stored_encrypted_with_their_ledger_entry(
    client, thursdays
):
    notice = notice_current(purpose=accessibility(), language="nb")
    response = book_on_the_website(
        client,
        thursdays,
        seating_needs=["wheelchair", "companion"],
        seating_consent=str(notice.pk),
    )
    assert response.status_code == 302
    person = Customer.objects.get()
    need = SeatingNeed.objects.get()
    assert (need.customer, need.season) == (person, thursdays.season)
    assert need.need_codes == ["wheelchair", "companion"]
    assert need.get_needs_display() == f"{WHEELCHAIR}, {COMPANION}"
    [stored] = raw_needs()
    assert stored != need.needs and "wheelchair" not in stored and "companion" not in stored
    event = need.consent_event
    assert (event.customer, event.purpose.kind, event.action, event.channel) == (
        person,
        "accessibility",
        "confirmed",
        "booking_form",
    )
    assert event.notice == notice
    assert event.evidence == f"booking {SeasonSubscription.objects.get().reference}"
    # The accessibility consent is not a marketing consent.
    assert list(Consent.objects.values_list("purpose__kind", "state")) == [
        ("accessibility", "confirmed")
    ]
    [confirmation] = mail.outbox
    # In her language (nb): that needs were recorded, never which.
    assert "Vi har registrert plassbehovene" in confirmation.body
    assert "Rullestol" not in confirmation.body and WHEELCHAIR not in confirmation.body


def test_at_the_counter_the_consent_is_recorded_with_the_counter_channel(
    client_for, box_office, season
):
    person = CustomerFactory(email="ase.odegard@example.no", first_name="Åse", country="NO")
    notice = notice_current(purpose=accessibility(), language="en")
    client = client_for(box_office)
    url = reverse("counter:seating", args=[person.pk])
    refused = client.post(url, {"record": "1", "season": season.pk, "seating_needs": ["step_free"]})
    assert refused.status_code == 200
    assert "seating_consent" in refused.context["form"].errors
    assert not SeatingNeed.objects.exists() and not ConsentEvent.objects.exists()
    response = client.post(
        url,
        {
            "record": "1",
            "season": season.pk,
            "seating_needs": ["step_free", "aisle"],
            "seating_consent": notice.pk,
        },
    )
    assert response.status_code == 302
    need = SeatingNeed.objects.get()
    assert (need.customer, need.need_codes) == (person, ["step_free", "aisle"])
    event = need.consent_event
    assert (event.action, event.channel, event.actor) == (
        "confirmed",
        "counter_or_phone",
        box_office,
    )
    assert raw_needs() != ["step_free,aisle"]


def test_a_second_season_under_the_standing_consent_writes_no_new_ledger_entry(
    season, seating_notice
):
    person = CustomerFactory(email="marta@example.se")
    later = Season.objects.create(
        name="2027/28", starts_on=season.ends_on, ends_on=season.ends_on + timedelta(days=300)
    )
    for each in (season, later):
        services.seating_needs_record(
            customer=person,
            season=each,
            needs=["wheelchair"],
            notice=seating_notice,
            channel="booking_form",
        )
    event = ConsentEvent.objects.get()
    assert set(SeatingNeed.objects.values_list("consent_event", flat=True)) == {event.pk}


def test_recording_again_for_a_season_replaces_the_needs(season, seating_notice):
    person = CustomerFactory(email="marta@example.se")
    for needs in (["wheelchair", "companion"], ["aisle"]):
        services.seating_needs_record(
            customer=person,
            season=season,
            needs=needs,
            notice=seating_notice,
            channel="booking_form",
        )
    assert SeatingNeed.objects.get().need_codes == ["aisle"]


# --- Withdrawal and the end of the season -------------------------------------------------------
def test_withdrawing_the_consent_deletes_every_seating_need(with_needs, box_office):
    person = with_needs.customer
    deleted = services.seating_consent_withdraw(
        customer=person, channel="counter_or_phone", actor=box_office
    )
    assert deleted == 1
    assert not SeatingNeed.objects.exists()
    assert Consent.objects.get(customer=person, purpose=accessibility()).state == "withdrawn"
    assert ConsentEvent.objects.filter(action="withdrawn", channel="counter_or_phone").exists()
    assert AuditEntry.objects.filter(action="subscription.seating_needs_deleted").exists()
    # The subscription itself stays: the needs never were a condition of it.
    assert SeasonSubscription.objects.get().status == "active"
    # Withdrawing twice is harmless.
    assert services.seating_consent_withdraw(customer=person, channel="counter_or_phone") == 0


def test_every_withdrawal_of_the_consent_deletes_the_needs_in_its_transaction(with_needs):
    """One mechanism: the consent app runs what subscriptions registered for the accessibility
    kind, so a withdrawal from any path (here the consent service itself) takes the needs along."""
    from consent.services import consent_withdraw

    person = with_needs.customer
    with transaction.atomic():
        consent_withdraw(customer=person, purpose=accessibility(), channel="privacy_request")
        assert not SeatingNeed.objects.filter(customer=person).exists()
    assert AuditEntry.objects.filter(action="subscription.seating_needs_deleted").exists()


def test_the_counter_page_withdraws_the_consent_and_deletes_the_needs(
    client_for, box_office, with_needs
):
    url = reverse("counter:seating", args=[with_needs.customer_id])
    response = client_for(box_office).post(url, {"withdraw": "1"})
    assert response.status_code == 302
    assert not SeatingNeed.objects.exists()


def test_the_counter_page_records_needs_only_with_the_consent_box(
    client_for, box_office, season, seating_notice
):
    person = CustomerFactory(email="Ase.Odegard@Example.no", first_name="Åse")
    url = reverse("counter:seating", args=[person.pk])
    client = client_for(box_office)
    refused = client.post(url, {"record": "1", "season": season.pk, "seating_needs": ["aisle"]})
    assert refused.status_code == 200 and refused.context["form"].errors["seating_consent"]
    assert not SeatingNeed.objects.exists() and not ConsentEvent.objects.exists()
    notice = refused.context["form"].seating_notice
    recorded = client.post(
        url,
        {
            "record": "1",
            "season": season.pk,
            "seating_needs": ["aisle", "hearing_loop"],
            "seating_consent": notice.pk,
        },
    )
    assert recorded.status_code == 302
    need = SeatingNeed.objects.get(customer=person, season=season)
    assert need.need_codes == ["aisle", "hearing_loop"]
    assert need.consent_event.channel == "counter_or_phone"
    assert need.consent_event.actor == box_office


def test_marketing_cannot_withdraw_or_record_seating_needs(with_needs, marketing, season):
    person = with_needs.customer
    with pytest.raises(PermissionDenied):
        services.seating_consent_withdraw(customer=person, channel="web", actor=marketing)
    with pytest.raises(PermissionDenied):
        services.seating_needs_record(
            customer=person,
            season=season,
            needs=["aisle"],
            notice=notice_current(purpose=accessibility(), language="en"),
            channel="counter_or_phone",
            actor=marketing,
        )
    assert SeatingNeed.objects.get().need_codes == ["wheelchair", "companion"]


def test_needs_of_ended_seasons_are_deleted_and_those_of_running_seasons_kept(seating_notice):
    today = timezone.localdate()
    ended = Season.objects.create(
        name="2024/25", starts_on=today - timedelta(days=300), ends_on=today - timedelta(days=1)
    )
    last_day = Season.objects.create(
        name="2025/26", starts_on=today - timedelta(days=200), ends_on=today
    )
    people = [CustomerFactory(email=f"p{n}@example.se") for n in range(3)]
    for person, season in zip(people, (ended, last_day, ended), strict=True):
        services.seating_needs_record(
            customer=person,
            season=season,
            needs=["wheelchair"],
            notice=seating_notice,
            channel="booking_form",
        )
    assert purged(timezone.now()) == 2
    assert list(SeatingNeed.objects.values_list("season", flat=True)) == [last_day.pk]
    assert purged(timezone.now()) == 0
    # The next day the season on its last day has ended too: the nightly purge deletes it.
    assert purged(timezone.now() + timedelta(days=1)) == 1
    assert not SeatingNeed.objects.exists()
    # The people and their consent ledger stay.
    assert Customer.objects.count() == 3 and ConsentEvent.objects.count() == 3


def purged(now) -> int:
    """The seating-needs rule's count in a retention run as of `now`."""
    run = engine.purge(trigger=Run.Trigger.COMMAND, now=now)
    return run.rules.get(rule="subscriptions.seating_needs").rows


def test_the_nightly_purge_deletes_the_needs_of_ended_seasons(with_needs):
    Season.objects.filter(pk=with_needs.series.season_id).update(
        ends_on=timezone.localdate() - timedelta(days=1)
    )
    purge_task.delay().get()
    assert not SeatingNeed.objects.exists()


# --- Who sees them ------------------------------------------------------------------------------
def test_marketing_sees_seating_needs_nowhere_in_the_admin(client_for, marketing, with_needs):
    client = client_for(marketing)
    need = SeatingNeed.objects.get()
    person = with_needs.customer
    for url in (
        reverse("admin:subscriptions_seatingneed_changelist"),
        reverse("admin:subscriptions_seatingneed_change", args=[need.pk]),
        reverse("counter:search") + "?q=marta.angstrom@example.se",
        reverse("counter:seating", args=[person.pk]),
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(
        reverse("counter:seating", args=[person.pk]), {"withdraw": "1"}
    ).status_code == (403)
    assert SeatingNeed.objects.exists()
    for url in (
        reverse("admin:index"),
        reverse("admin:app_list", args=["subscriptions"]),
        reverse("admin:subscriptions_seasonsubscription_changelist"),
        reverse("admin:subscriptions_seasonsubscription_change", args=[with_needs.pk]),
        reverse("admin:customers_customer_change", args=[person.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        for text in (
            *(WHEELCHAIR, COMPANION, "Rullstolsplats", "Rullestolplass", "Ledsagarplats"),
            *("seatingneed", "Seating needs", "wheelchair", "companion"),
        ):
            assert text not in html, (url, text)
    assert not AuditEntry.objects.filter(action="subscription.seating_needs_viewed").exists()


def test_finance_does_not_see_seating_needs_either(client_for, finance, with_needs):
    client = client_for(finance)
    assert client.get(reverse("admin:subscriptions_seatingneed_changelist")).status_code == 403
    assert client.get(reverse("counter:seating", args=[with_needs.customer_id])).status_code == 403
    assert "Seating needs" not in client.get(reverse("admin:index")).content.decode()


@pytest.mark.parametrize("role", ["box_office", "dpo"])
def test_box_office_and_the_dpo_see_seating_needs_and_each_look_is_audited(
    client_for, request, role, with_needs
):
    user = request.getfixturevalue(role)
    client = client_for(user)
    person = with_needs.customer
    assert "Seating needs" in client.get(reverse("admin:index")).content.decode()
    listing = client.get(reverse("admin:subscriptions_seatingneed_changelist"))
    assert listing.status_code == 200 and WHEELCHAIR in listing.content.decode()
    page = client.get(reverse("counter:seating", args=[person.pk]))
    assert page.status_code == 200
    assert WHEELCHAIR in page.content.decode() and COMPANION in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    entry = AuditEntry.objects.get(action="subscription.seating_needs_viewed")
    assert entry.actor == user
    counter = client.get(reverse("counter:search") + "?q=Ångström")
    assert reverse("counter:seating", args=[person.pk]) in counter.content.decode()
    # The records themselves are changed only through the counter page, with consent.
    need = SeatingNeed.objects.get()
    change = reverse("admin:subscriptions_seatingneed_change", args=[need.pk])
    assert client.post(change, {"needs": "aisle"}).status_code == 403
    assert client.get(reverse("admin:subscriptions_seatingneed_add")).status_code == 403


# --- Never in marketing's exports ---------------------------------------------------------------
def test_seating_needs_never_reach_the_audience_export_or_a_campaign_audience(
    client_for, marketing, with_needs, settings, recipient_register
):
    settings.AUDIENCE_EXPORT_MINIMUM = 1
    person = subscribe(with_needs.customer, "ad-matching", "news")
    response = client_for(marketing).post(
        "/admin/newsletters/audienceexport/add/", {"recipient": "meta"}
    )
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows == [
        ["email", "phone"],
        [
            hashlib.sha256(person.email.encode()).hexdigest(),
            hashlib.sha256(person.phone.lstrip("+").encode()).hexdigest(),
        ],
    ]
    for text in ("wheelchair", "companion", WHEELCHAIR, COMPANION, "accessibility"):
        assert text not in body
    # Campaigns go to a list's consenting people; the query never touches seating needs, and the
    # accessibility consent puts nobody in an audience.
    campaign = Campaign.objects.create(name="Autumn", purpose=Purpose.objects.get(code="news"))
    audience = campaign_audience(campaign)
    assert list(audience) == [person]
    assert "seatingneed" not in str(audience.query)
    other = CustomerFactory(email="only-seating@example.se")
    services.seating_needs_record(
        customer=other,
        season=with_needs.series.season,
        needs=["wheelchair"],
        notice=notice_current(purpose=accessibility(), language="en"),
        channel="booking_form",
    )
    assert other not in campaign_audience(campaign)


def test_a_key_rotation_re_encrypts_the_seating_needs_too(with_needs):
    """Seating needs are encrypted under FIELD_ENCRYPTION_KEYS like the identifiers: after the
    re-encryption the old key can go and the needs are still readable."""
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key, old_key]):
        out = io.StringIO()
        call_command("reencrypt", stdout=out)
        assert "subscriptions.seatingneed 1" in out.getvalue()
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key]):
        need = SeatingNeed.objects.get(customer=with_needs.customer)
        assert need.need_codes == ["wheelchair", "companion"]
    with override_settings(FIELD_ENCRYPTION_KEYS=[old_key]), pytest.raises(DecryptionError):
        SeatingNeed.objects.get(customer=with_needs.customer)
