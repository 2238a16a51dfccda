"""The signup form stores what it received in one row; a task records it as a signup.

The page's answer costs one INSERT whatever the register holds, and what the person sent is in the
database before they are answered; these tests hold the recording to the promises of the signup
itself (tests/newsletters/test_signup.py): consent given when the form was sent, on the wording
shown, once, for lists still offered, and nothing of the person in logs.
"""

from datetime import timedelta
from urllib.parse import urljoin

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from concerthouse.privacy.erasure import erase_people
from concerthouse.privacy.export import export_person
from concerthouse.privacy.map import declaration_for
from consent.models import Consent, ConsentEvent, NoticeVersion, Purpose
from customers.models import Customer
from newsletters import services
from newsletters.models import Signup, SignupIntake
from newsletters.tasks import process_signup_intakes_task
from tests.factories import CustomerFactory
from tests.newsletters.test_signup import committed, current_notice
from tests.threads import run_at_once


def form_data(email, *codes, language="en", **names):
    return {
        "email": email,
        "language": language,
        "lists": [current_notice(code, language).pk for code in codes],
        **names,
    }


@pytest.mark.django_db
def test_the_answer_reads_nothing_of_the_register_and_stores_one_row(client, news):
    """Known or not, an address costs the same statements: nothing to tell them apart by."""
    CustomerFactory(email="known@example.se")
    for email in ("known@example.se", "new@example.se"):
        with CaptureQueriesContext(connection) as queries:
            # Without the commit's callbacks: the answer, not the recording that follows it.
            response = client.post("/en/newsletter/", form_data(email, "news"))
        assert (
            response.status_code == 302
            and urljoin("/en/newsletter/", response.url) == "/en/newsletter/thanks/"
        )
        statements = [q["sql"] for q in queries.captured_queries]
        assert not any(Customer._meta.db_table in sql for sql in statements)
        assert [sql.split()[0] for sql in statements if not sql.startswith("SELECT")] == ["INSERT"]
    assert list(SignupIntake.objects.order_by("pk").values_list("email", flat=True)) == [
        "known@example.se",
        "new@example.se",
    ]
    assert Customer.objects.count() == 1 and not Signup.objects.exists() and mail.outbox == []


@pytest.mark.django_db
def test_the_consent_is_given_when_the_form_was_sent_not_when_it_was_recorded(client, news):
    sent_at = timezone.now().replace(microsecond=0) - timedelta(minutes=30)
    with time_machine.travel(sent_at, tick=False):
        client.post(
            "/en/newsletter/", form_data("Ase.Odegard@Example.no", "news", first_name="Åse")
        )
    with committed():
        assert process_signup_intakes_task() == 1
    event = ConsentEvent.objects.get()
    assert (event.action, event.at, event.notice) == ("given", sent_at, current_notice("news"))
    signup = Signup.objects.get()
    assert signup.confirmation_requested_at == sent_at
    assert (signup.customer.email, signup.first_name) == ("ase.odegard@example.no", "Åse")
    assert len(mail.outbox) == 1 and not SignupIntake.objects.exists()


@pytest.mark.django_db
def test_a_double_click_is_recorded_as_one_signup_with_one_email(client, news):
    for _ in range(2):
        client.post("/en/newsletter/", form_data("marta@example.se", "news"))
    assert SignupIntake.objects.count() == 2
    with committed():
        assert process_signup_intakes_task() == 2
    assert Customer.objects.count() == 1 and Signup.objects.count() == 1
    assert ConsentEvent.objects.count() == 1 and len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_list_withdrawn_from_offer_before_the_recording_takes_nobody(client, news, family_list):
    client.post("/en/newsletter/", form_data("ase@example.no", "news"))
    client.post("/en/newsletter/", form_data("marta@example.se", "news", "family"))
    Purpose.objects.filter(code="news").update(is_active=False)
    with committed():
        assert (
            process_signup_intakes_task() == 2
        )  # both done: the first dropped, the second recorded
    assert not SignupIntake.objects.exists()
    (person,) = Customer.objects.all()
    assert person.email == "marta@example.se"
    assert list(Consent.objects.values_list("purpose__code", flat=True)) == ["family"]


@pytest.mark.django_db
def test_an_intake_that_fails_is_kept_for_the_next_run_and_the_rest_are_recorded(
    client, news, monkeypatch, caplog
):
    for email in ("ase@example.no", "marta@example.se", "jens@example.no"):
        client.post("/en/newsletter/", form_data(email, "news"))
    record = services.newsletter_signup

    def failing_for_marta(**kwargs):
        if kwargs["email"].startswith("marta"):
            raise RuntimeError(f"cannot store {kwargs['email']}")
        return record(**kwargs)

    monkeypatch.setattr(services, "newsletter_signup", failing_for_marta)
    with committed():
        assert process_signup_intakes_task() == 2
    assert list(SignupIntake.objects.values_list("email", flat=True)) == ["marta@example.se"]
    assert "RuntimeError" in caplog.text and "marta" not in caplog.text
    assert sorted(m.to[0] for m in mail.outbox) == ["ase@example.no", "jens@example.no"]
    monkeypatch.setattr(services, "newsletter_signup", record)
    with committed():
        assert process_signup_intakes_task() == 1
    assert Customer.objects.count() == 3 and len(mail.outbox) == 3


@pytest.mark.django_db
def test_a_waiting_intake_is_in_the_person_s_copy_and_goes_with_their_erasure(client, news):
    person = CustomerFactory(email="ase@example.no", first_name="Åse")
    client.post("/en/newsletter/", form_data("ASE@example.no", "news", last_name="Ødegård"))
    (row,) = export_person(person)[declaration_for(SignupIntake).label]
    assert (row["email"], row["last_name"]) == ("ase@example.no", "Ødegård")
    erase_people(Customer.objects.filter(pk=person.pk), now=timezone.now())
    assert not SignupIntake.objects.exists()


@pytest.mark.django_db
def test_a_version_published_between_two_signups_is_accepted_at_once(client, news):
    client.post("/en/newsletter/", form_data("ase@example.no", "news"))
    old = current_notice("news")
    newer = NoticeVersion.objects.create(
        purpose=old.purpose, language="en", version=old.version + 1, label=old.label, text="New."
    )
    response = client.post(
        "/en/newsletter/", {**form_data("marta@example.se"), "lists": [newer.pk]}
    )
    assert response.status_code == 302
    with committed():
        process_signup_intakes_task()
    assert Consent.objects.get(customer__email="marta@example.se").notice == newer


@pytest.mark.django_db
def test_a_list_withdrawn_from_offer_between_two_signups_is_refused_at_once(client, news):
    client.post("/en/newsletter/", form_data("ase@example.no", "news"))
    # As staff withdraw it in the admin: the form's copy of the offer goes with the change.
    news.is_active = False
    news.save(update_fields=["is_active"])
    response = client.post("/en/newsletter/", form_data("marta@example.se", "news"))
    assert response.status_code == 200 and b"errorlist" in response.content
    assert list(SignupIntake.objects.values_list("email", flat=True)) == ["ase@example.no"]


@pytest.mark.django_db
def test_a_wording_published_between_two_signups_is_accepted_at_once(client, news):
    client.post("/en/newsletter/", form_data("ase@example.no", "news"))
    newer = NoticeVersion.objects.create(
        purpose=news, language="en", version=99, label="News, reworded", text="Our news."
    )
    response = client.post(
        "/en/newsletter/", {**form_data("marta@example.se"), "lists": [newer.pk]}
    )
    assert response.status_code == 302
    assert SignupIntake.objects.get(email="marta@example.se").notice_ids == [newer.pk]


@pytest.mark.django_db
@pytest.mark.parametrize("lists", [["0"], ["x"], ["99999999"], [str(2**70)], ["1"] * 0])
def test_boxes_that_were_never_offered_are_refused_and_nothing_is_stored(client, news, lists):
    data = {**form_data("ase@example.no"), "lists": lists}
    response = client.post("/en/newsletter/", data)
    assert response.status_code == 200 and b"errorlist" in response.content
    assert not SignupIntake.objects.exists()


@pytest.mark.django_db
def test_an_open_tracking_box_does_not_count_as_a_newsletter(client, news):
    tracking = current_notice("open-tracking")
    response = client.post(
        "/en/newsletter/", {**form_data("ase@example.no"), "lists": [tracking.pk]}
    )
    assert response.status_code == 200 and b"errorlist" in response.content
    assert not SignupIntake.objects.exists()


@pytest.mark.django_db
def test_with_the_broker_down_a_rush_of_signups_tries_the_broker_once_a_second(
    client, news, broker_down, caplog, settings
):
    settings.NEWSLETTER_INTAKE_DELAY_SECONDS = 30  # the whole test inside one window
    for number in range(3):
        with committed():
            response = client.post("/en/newsletter/", form_data(f"fan{number}@example.se", "news"))
        assert response.status_code == 302
    attempts = caplog.text.count("could not queue newsletters.tasks.process_signup_intakes_task")
    assert attempts == 1
    assert SignupIntake.objects.count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_recording_at_once_record_each_signup_once(news):
    if connection.vendor != "postgresql":
        pytest.skip("needs a server database with concurrent connections (PostgreSQL)")
    notice = current_notice("news")
    # Stored as the form stores them, without the eager task that would record each at once.
    SignupIntake.objects.bulk_create(
        SignupIntake(email=f"fan{number}@example.se", language="en", notice_ids=[notice.pk])
        for number in range(40)
    )
    done, errors = run_at_once(lambda: services.signup_intakes_process(batch_size=5))
    assert errors == [] and sum(done) == 40
    assert Customer.objects.filter(email__startswith="fan").count() == 40
    assert Signup.objects.count() == 40 and ConsentEvent.objects.count() == 40
    assert sorted(len(m.to) for m in mail.outbox) == [1] * 40
    assert not SignupIntake.objects.exists()
    assert not Customer.objects.filter(~Q(consents__state="pending")).exists()
