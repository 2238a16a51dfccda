from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from consent.models import Channel, Consent, ConsentEvent, NoticeVersion, Purpose
from consent.selectors import consent_replay, people_consenting
from consent.services import (
    consent_confirm,
    consent_give,
    consent_withdraw,
    consents_withdraw_marketing,
)
from customers.services import customer_object_to_marketing, customer_restrict
from tests.factories import CustomerFactory, subscribe


def notice(purpose, language="en", version=1):
    return NoticeVersion.objects.get(purpose=purpose, language=language, version=version)


def states(customer):
    return dict(customer.consents.values_list("purpose__code", "state"))


@pytest.mark.django_db
def test_every_house_starts_with_the_purposes_the_policies_need_in_three_languages():
    kinds = set(Purpose.objects.values_list("kind", flat=True))
    assert kinds == set(Purpose.Kind.values)
    for purpose in Purpose.objects.all():
        assert set(purpose.notices.values_list("language", flat=True)) == {"sv", "nb", "en"}


@pytest.mark.django_db
def test_a_given_consent_counts_only_once_confirmed(news):
    person = CustomerFactory(first_name="Märta", last_name="Ångström")
    consent_give(customer=person, purpose=news, notice=notice(news), channel=Channel.WEB_SIGNUP)
    assert states(person) == {"news": "pending"}
    assert person not in people_consenting(purpose=news)
    consent_confirm(customer=person, purpose=news, channel=Channel.WEB_SIGNUP)
    assert states(person) == {"news": "confirmed"}
    assert person in people_consenting(purpose=news)


@pytest.mark.django_db
def test_the_confirmation_refers_to_the_wording_shown_when_the_consent_was_given(news):
    person = CustomerFactory()
    shown = notice(news, "sv")
    consent_give(customer=person, purpose=news, notice=shown, channel=Channel.WEB_SIGNUP)
    NoticeVersion.objects.create(
        purpose=news, language="sv", version=2, label="Ny text", text="Ny text."
    )
    consent_confirm(customer=person, purpose=news, channel=Channel.WEB_SIGNUP)
    assert set(person.consent_events.values_list("notice", flat=True)) == {shown.pk}
    assert Consent.objects.get(customer=person).notice == shown


@pytest.mark.django_db
def test_repeats_write_nothing_so_the_ledger_records_changes_not_clicks(news):
    person = CustomerFactory()
    for _ in range(2):
        consent_give(customer=person, purpose=news, notice=notice(news), channel="web_signup")
    for _ in range(2):
        consent_confirm(customer=person, purpose=news, channel="web_signup")
    # Giving again after confirming does not demote the consent to pending.
    assert (
        consent_give(customer=person, purpose=news, notice=notice(news), channel="web_signup")
        is None
    )
    for _ in range(2):
        consent_withdraw(customer=person, purpose=news, channel="preference_centre")
    assert list(person.consent_events.values_list("action", flat=True)) == [
        "given",
        "confirmed",
        "withdrawn",
    ]
    assert states(person) == {"news": "withdrawn"}


@pytest.mark.django_db
def test_withdrawing_what_was_never_given_writes_nothing(news):
    person = CustomerFactory()
    assert consent_withdraw(customer=person, purpose=news, channel="preference_centre") is None
    assert not ConsentEvent.objects.filter(customer=person).exists()
    assert not Consent.objects.filter(customer=person).exists()


@pytest.mark.django_db
def test_the_history_replays_what_the_person_had_agreed_to_on_any_date(news, family_list):
    person = CustomerFactory(first_name="Åse", last_name="Ødegård", country="NO")
    start = timezone.now()
    first = notice(news, "nb")
    consent_give(customer=person, purpose=news, notice=first, channel="web_signup")
    consent_confirm(customer=person, purpose=news, channel="web_signup")
    after_confirming = timezone.now()
    subscribe(person, "family", language="nb")
    consent_withdraw(customer=person, purpose=news, channel="one_click_unsubscribe")
    events = {e.action: e.at for e in person.consent_events.filter(purpose=news)}

    def replay(at):
        return {
            (s.purpose.code, s.state, s.notice.label)
            for s in consent_replay(customer=person, at=at)
        }

    assert replay(start - timedelta(seconds=1)) == set()
    assert replay(events["given"]) == {("news", "pending", "Nyhetsbrev om konserter")}
    assert replay(after_confirming) == {("news", "confirmed", "Nyhetsbrev om konserter")}
    assert replay(timezone.now()) == {
        ("news", "withdrawn", "Nyhetsbrev om konserter"),
        ("family", "confirmed", "Familiekonserter"),
    }
    # The current state is the ledger's last word for each purpose.
    assert states(person) == {"news": "withdrawn", "family": "confirmed"}


@pytest.mark.django_db
def test_withdrawing_all_marketing_leaves_accessibility_consent_alone(news):
    person = subscribe(CustomerFactory(), "news", "offers", "ad-matching", "accessibility")
    consents_withdraw_marketing(customer=person, channel="preference_centre")
    assert states(person) == {
        "news": "withdrawn",
        "offers": "withdrawn",
        "ad-matching": "withdrawn",
        "accessibility": "confirmed",
    }


@pytest.mark.django_db
def test_consent_never_overrides_restriction_or_an_objection(news, dpo):
    restricted = subscribe(CustomerFactory(), "news")
    customer_restrict(customer=restricted, actor=dpo, ground="accuracy_contested")
    objecting = subscribe(CustomerFactory(), "news")
    customer_object_to_marketing(customer=objecting, channel="email_or_letter")
    plain = subscribe(CustomerFactory(), "news")
    assert list(people_consenting(purpose=news)) == [plain]


@pytest.mark.django_db
def test_staff_recording_consent_are_named_in_the_ledger(news, box_office):
    person = CustomerFactory()
    consent_confirm(
        customer=person,
        purpose=news,
        notice=notice(news),
        channel=Channel.COUNTER_OR_PHONE,
        actor=box_office,
    )
    assert person.consent_events.get().actor == box_office


@pytest.mark.django_db
def test_the_database_refuses_to_rewrite_a_ledger_event(news):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL only")
    person = subscribe(CustomerFactory(), "news")
    event = person.consent_events.get()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        ConsentEvent.objects.filter(pk=event.pk).update(action="withdrawn")
    event.refresh_from_db()
    assert event.action == "confirmed"
    # Erasure and retention still remove a person's events with the person.
    person.delete()
    assert not ConsentEvent.objects.filter(pk=event.pk).exists()
