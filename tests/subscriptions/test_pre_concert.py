"""The pre-concert information email: part of the contract, once per person and concert, in the
person's language, to every subscriber who is not restricted, whatever their marketing choices."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import formats, timezone, translation

from customers.services import customer_object_to_marketing, customer_restrict
from newsletters.services import preferences_object
from subscriptions import pre_concert, services
from subscriptions.models import Concert, PreConcertMail, SeasonSubscription, Series
from subscriptions.tasks import send_pre_concert_mail_task
from tests.factories import CustomerFactory, subscribe

from .conftest import buyer


def subscriber(series, email, *, seats=2, **changes):
    return services.subscription_book(
        series=series, seats=seats, buyer=buyer(email, **changes), channel="web"
    )


def run() -> int:
    return send_pre_concert_mail_task.delay().get()


def recipients() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


@pytest.fixture
def concert(concert_in):
    return concert_in(3)


# --- Who gets it ---------------------------------------------------------------------------------
def test_a_concert_three_days_away_gets_one_email_per_subscriber_however_often_the_task_runs(
    thursdays, concert
):
    for email in ("marta@example.se", "ase@example.no"):
        subscriber(thursdays, email)
    assert run() == 2
    assert run() == 0
    assert recipients() == ["ase@example.no", "marta@example.se"]
    assert set(PreConcertMail.objects.values_list("status", flat=True)) == {"sent"}
    assert PreConcertMail.objects.filter(sent_at__isnull=True).count() == 0


def test_subscribers_of_another_series_get_nothing(thursdays, concert, season):
    fridays = Series.objects.create(
        season=season, code="fri", name="Fredagsserien", price_per_seat=100, capacity=10
    )
    subscriber(fridays, "friday@example.se")
    subscriber(thursdays, "thursday@example.se")
    assert run() == 1
    assert recipients() == ["thursday@example.se"]


def test_a_restricted_subscriber_gets_nothing(thursdays, concert, dpo):
    subscriber(thursdays, "marta@example.se")
    restricted = subscriber(thursdays, "ase@example.no").customer
    customer_restrict(customer=restricted, actor=dpo, ground="accuracy_contested")
    assert run() == 1
    assert recipients() == ["marta@example.se"]
    assert not PreConcertMail.objects.filter(customer=restricted).exists()


def test_a_subscriber_restricted_between_prepare_and_send_is_skipped(thursdays, concert, dpo):
    person = subscriber(thursdays, "ase@example.no").customer
    assert pre_concert.pre_concert_mail_prepare(concert=concert) == 1
    customer_restrict(customer=person, actor=dpo, ground="legal_claims")
    assert pre_concert.pre_concert_mail_send(concert_id=concert.pk) == 0
    assert mail.outbox == []
    assert PreConcertMail.objects.get().status == PreConcertMail.Status.SKIPPED
    assert run() == 0 and mail.outbox == []


def test_a_cancelled_subscription_gets_nothing(thursdays, concert, box_office):
    subscriber(thursdays, "marta@example.se")
    cancelled = subscriber(thursdays, "ase@example.no")
    services.subscription_cancel(subscription=cancelled, actor=box_office)
    assert run() == 1
    assert recipients() == ["marta@example.se"]


def test_it_goes_regardless_of_marketing_consent_or_objection(thursdays, concert, dpo):
    never_consented = subscriber(thursdays, "never@example.se").customer
    objecting = subscriber(thursdays, "objects@example.se").customer
    customer_object_to_marketing(customer=objecting, channel="email_or_letter")
    withdrew = subscribe(subscriber(thursdays, "withdrew@example.se").customer, "news")
    preferences_object(customer=withdrew)
    assert never_consented.consents.count() == 0
    assert run() == 3
    assert recipients() == ["never@example.se", "objects@example.se", "withdrew@example.se"]


def test_two_subscriptions_to_the_series_give_one_email_with_every_seat(thursdays, concert):
    subscriber(thursdays, "marta@example.se", seats=2)
    subscriber(thursdays, "Marta@Example.se", seats=3)
    assert SeasonSubscription.objects.count() == 2
    assert run() == 1
    [message] = mail.outbox
    assert "Som abonnent har du 5 plats(er)." in message.body


def test_a_cancelled_subscription_s_seats_are_not_counted(thursdays, concert, box_office):
    subscriber(thursdays, "marta@example.se", seats=2)
    extra = subscriber(thursdays, "marta@example.se", seats=4)
    services.subscription_cancel(subscription=extra, actor=box_office)
    run()
    [message] = mail.outbox
    assert "Som abonnent har du 2 plats(er)." in message.body


def test_a_concert_ten_days_away_gets_nothing_yet_and_its_mail_when_it_is_near(
    thursdays, concert_in
):
    later = concert_in(10)
    subscriber(thursdays, "marta@example.se")
    assert run() == 0
    assert mail.outbox == [] and not PreConcertMail.objects.exists()
    Concert.objects.filter(pk=later.pk).update(starts_at=timezone.now() + timedelta(days=2))
    assert run() == 1


def test_a_concert_that_has_started_gets_nothing(thursdays, concert_in):
    concert_in(-0.1)
    subscriber(thursdays, "marta@example.se")
    assert run() == 0 and mail.outbox == []


def test_the_window_follows_the_setting(thursdays, concert_in, settings):
    concert_in(5)
    subscriber(thursdays, "marta@example.se")
    assert run() == 0
    settings.PRE_CONCERT_MAIL_DAYS = 6
    assert run() == 1


def test_a_subscriber_who_books_after_the_first_run_gets_theirs_on_the_next(thursdays, concert):
    subscriber(thursdays, "early@example.se")
    assert run() == 1
    subscriber(thursdays, "late@example.se")
    assert run() == 1
    assert run() == 0
    assert recipients() == ["early@example.se", "late@example.se"]


def test_a_failed_send_is_not_sent_twice(thursdays, concert, monkeypatch):
    subscriber(thursdays, "marta@example.se")

    def refuse(*args, **kwargs):
        raise OSError("SMTP server down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    assert run() == 0
    assert PreConcertMail.objects.get().status == PreConcertMail.Status.FAILED
    monkeypatch.undo()
    # A claimed row is never sent again: a missed practical email is better than two.
    assert run() == 0 and mail.outbox == []


# --- What it says -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("language", "subject", "seats_line"),
    [
        ("sv", "Välkommen till Sibelius 5", "Som abonnent har du 2 plats(er)."),
        ("nb", "Velkommen til Sibelius 5", "Som abonnent har du 2 plass(er)."),
        ("en", "Welcome to Sibelius 5", "As a subscriber you have 2 seat(s)."),
    ],
)
def test_the_email_is_in_the_person_s_language_and_has_no_unsubscribe_header(
    thursdays, concert, language, subject, seats_line
):
    subscriber(thursdays, "ase@example.no", preferred_language=language, first_name="Åse")
    run()
    [message] = mail.outbox
    assert message.subject == subject
    assert seats_line in message.body
    assert message.body.startswith(
        {"sv": "Hej Åse,", "nb": "Hei Åse,", "en": "Hello Åse,"}[language]
    )
    with translation.override(language):
        when = formats.date_format(timezone.localtime(concert.starts_at), "DATETIME_FORMAT")
    assert when in message.body
    assert "Stora salen" in message.body and "Dörrarna öppnar 18.00." in message.body
    # A service message on the contract: no unsubscribe link, no unsubscribe header.
    headers = message.message()
    assert "List-Unsubscribe" not in headers and "List-Unsubscribe-Post" not in headers
    assert "unsubscribe" not in message.body.lower()
    assert message.to == ["ase@example.no"]


def test_the_email_names_no_other_subscriber(thursdays, concert):
    subscriber(thursdays, "marta@example.se", first_name="Märta")
    subscriber(thursdays, "ase@example.no", first_name="Åse")
    run()
    for message in mail.outbox:
        assert len(message.to) == 1 and not message.cc and not message.bcc
    by_address = {message.to[0]: message.body for message in mail.outbox}
    assert "Åse" not in by_address["marta@example.se"]
    assert "Märta" not in by_address["ase@example.no"]


# --- Cost -----------------------------------------------------------------------------------------
def test_sending_to_fifty_subscribers_costs_a_bounded_number_of_queries(
    thursdays, concert, django_assert_max_num_queries
):
    people = [CustomerFactory(email=f"p{n}@example.se") for n in range(50)]
    SeasonSubscription.objects.bulk_create(
        SeasonSubscription(
            reference=f"REF{n:05d}",
            customer=person,
            series=thursdays,
            seats=1,
            price=thursdays.price_per_seat,
            currency="SEK",
            channel="web",
            booked_at=timezone.now(),
            ends_on=thursdays.season.ends_on,
        )
        for n, person in enumerate(people)
    )
    with django_assert_max_num_queries(20):
        assert run() == 50
    assert len(mail.outbox) == 50
    assert PreConcertMail.objects.filter(status="sent").count() == 50
