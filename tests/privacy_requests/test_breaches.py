"""Personal-data breaches (Art. 33, 34): the register, who is affected, the 72-hour clock, the
notification to the authority and the messages to the people, through the services and pages."""

import zoneinfo
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.mail.backends.locmem import EmailBackend
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from concerthouse.models import AuditEntry
from concerthouse.privacy.map import RecipientKind
from customers.models import Customer
from privacy_requests import breach_services as breaches
from privacy_requests.models import (
    AffectedPerson,
    AuthorityNotification,
    Breach,
    BreachEvent,
    Processor,
)
from subscriptions import imports
from tests.factories import CustomerFactory, mailed, subscribe

from .conftest import committed, execute, texts

STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")
COLUMNS = "order_id;email;first_name;last_name;series;seats;amount;purchased_on;phone;language"
MESSAGE = {
    language: {
        "happened": f"[{language}] Someone read the agent's customer list.",
        "consequences": f"[{language}] You may get phishing emails.",
        "measures": f"[{language}] The agent changed its passwords; do not click unknown links.",
    }
    for language in ("sv", "nb", "en")
}


@pytest.fixture
def eventim(db):
    return Processor.objects.create(
        name="Eventim",
        role=Processor.Role.RECIPIENT,
        kind=RecipientKind.TICKET_AGENT,
        recipient_code="eventim",
        purposes=texts("Sells our tickets."),
        data_categories=["contact", "accounting"],
        country="SE",
        erasure_contact="privacy@eventim.example",
        breach_contact="security@eventim.example",
        breach_reporting_hours=48,
    )


@pytest.fixture
def mail_service(db):
    return Processor.objects.create(
        name="Mail service",
        role=Processor.Role.PROCESSOR,
        kind=RecipientKind.MAIL,
        purposes=texts("Sends our email."),
        data_categories=["contact"],
        country="SE",
        erasure_contact="privacy@mail.example",
    )


def agent_import(actor, lines, agent="Eventim"):
    content = "\n".join([COLUMNS, *lines]).encode()
    with committed():
        imports.import_create(
            agent=agent, upload=SimpleUploadedFile("export.csv", content), actor=actor
        )


def buyer(n, language="sv", *, bought=None):
    """A line of Eventim's export: a buyer, and the day the agent sold them the subscription."""
    day = (bought or timezone.localdate() - timedelta(days=30)).isoformat()
    return f"E-{n};buyer{n}@example.se;Märta;Ångström;thu;2;2900.00;{day};;{language}"


def record(dpo, **facts):
    values = {
        "title": "Eventim's customer list was read by an intruder",
        "description": "An attacker read the agent's customer database.",
        "aware_at": timezone.now() - timedelta(hours=2),
        "discovered": Breach.Discovery.PROCESSOR,
        "natures": [Breach.Nature.CONFIDENTIALITY],
        "data_categories": ["contact", "accounting"],
    }
    return breaches.breach_record(actor=dpo, **{**values, **facts})


def tell_everyone(breach, dpo):
    breaches.breach_assess_risk(
        breach=breach, actor=dpo, risk="high", reasoning="Names, addresses."
    )
    breaches.breach_decide_people(breach=breach, actor=dpo, decision="tell", reason="High risk.")
    breaches.breach_set_message(breach=breach, actor=dpo, texts=MESSAGE)
    with committed():
        return breaches.breach_notices_queue(breach=breach, actor=dpo)


def messages_to(breach) -> Counter:
    """How many of the breach's messages each address received (in whatever language)."""
    return Counter(message.to[0] for message in mail.outbox if breach.reference in message.body)


# --- Who is affected ------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_processor_breach_counts_only_people_whose_data_it_held_in_the_window(
    eventim, mail_service, dpo, box_office, thursdays, news, settings
):
    settings.AUDIENCE_EXPORT_MINIMUM = 1
    with time_machine.travel(timezone.now() - timedelta(days=10)):
        agent_import(box_office, [buyer(1), buyer(2)])  # held by Eventim before the breach
    agent_import(box_office, [buyer(3, bought=timezone.localdate())])  # sold after the window
    agent_import(
        box_office,
        ["T-9;other@example.se;Olle;Berg;thu;1;1450.00;2026-09-01;;sv"],
        agent="Ticketmaster",
    )
    # A person with data in every other app, but never through Eventim.
    web = mailed(subscribe(CustomerFactory(email="web@example.se"), "news", "ad-matching"))
    breach = record(dpo, ended_at=timezone.now() - timedelta(days=5), processor=eventim)
    scope = breaches.Scope(processor=eventim, until=breach.ended_at)
    counted = breaches.breach_scope_count(scope=scope)
    assert counted.people == 2
    # Their records as Eventim held them: each person's contact row and subscription, their order.
    assert counted.categories == {"contact": 4, "behavioural": 2, "accounting": 2}
    assert not AffectedPerson.objects.exists()  # counted, nothing saved
    recorded = breaches.breach_scope_record(breach=breach, actor=dpo, scope=scope)
    affected = set(AffectedPerson.objects.values_list("person__email", flat=True))
    assert affected == {"buyer1@example.se", "buyer2@example.se"}
    assert web.email not in affected and recorded.people == recorded.added == 2


@pytest.mark.django_db
def test_a_list_of_addresses_from_the_processor_narrows_the_scope_and_is_not_stored(
    eventim, dpo, box_office, thursdays
):
    agent_import(box_office, [buyer(1), buyer(2), buyer(3)])
    breach = record(dpo, processor=eventim)
    scope = breaches.Scope(
        processor=eventim, addresses=("BUYER1@example.se", "buyer2@example.se", "stranger@x.se")
    )
    counted = breaches.breach_scope_count(scope=scope)
    assert (counted.people, counted.addresses_supplied, counted.addresses_found) == (2, 3, 2)
    assert counted.categories["accounting"] == 2
    breaches.breach_scope_record(breach=breach, actor=dpo, scope=scope)
    assert "stranger" not in str(list(breach.scopes.values()))
    assert "buyer1" not in str(list(BreachEvent.objects.values()))


@pytest.mark.django_db
def test_a_system_and_a_category_count_the_people_with_such_rows(dpo, news):
    subscribe(CustomerFactory(email="a@example.se"), "news")
    CustomerFactory(email="b@example.se")  # in the register, no consent rows
    breach = record(dpo, system="consent")
    counted = breaches.breach_scope_count(
        scope=breaches.Scope(system="consent", categories=("consent_evidence",))
    )
    assert counted.people == 1 and set(counted.categories) == {"consent_evidence"}
    assert breach.system == "consent"


@pytest.mark.django_db
def test_a_wider_scope_adds_people_and_keeps_those_found_before(
    eventim, dpo, box_office, thursdays
):
    agent_import(box_office, [buyer(1), buyer(2)])
    breach = record(dpo, processor=eventim)
    first = breaches.breach_scope_record(
        breach=breach,
        actor=dpo,
        scope=breaches.Scope(processor=eventim, addresses=("buyer1@example.se",)),
    )
    second = breaches.breach_scope_record(
        breach=breach, actor=dpo, scope=breaches.Scope(processor=eventim)
    )
    assert (first.added, second.people, second.added) == (1, 2, 1)
    assert breach.affected.count() == 2
    # Each person's records counted once, by the scope that added them.
    assert (
        first.counts["categories"]["accounting"] == second.counts["categories"]["accounting"] == 1
    )
    assert ("Accounting records", 2) in breaches.breach_totals(breach)["categories"]


# --- Telling the people (Art. 34) -----------------------------------------------------------------
@pytest.mark.django_db
def test_the_people_counted_are_the_people_messaged_each_in_their_language(
    eventim, mail_service, dpo, box_office, thursdays
):
    agent_import(box_office, [buyer(1, "sv"), buyer(2, "nb"), buyer(3, "en")])
    breach = record(dpo, processor=eventim)
    recorded = breaches.breach_scope_record(
        breach=breach, actor=dpo, scope=breaches.Scope(processor=eventim)
    )
    mail.outbox.clear()
    assert tell_everyone(breach, dpo) == recorded.people == 3
    sent = {m.to[0]: m for m in mail.outbox}
    assert set(sent) == {"buyer1@example.se", "buyer2@example.se", "buyer3@example.se"}
    assert "[sv] Someone read" in sent["buyer1@example.se"].body
    assert "[nb] You may get phishing" in sent["buyer2@example.se"].body
    assert "[en] The agent changed" in sent["buyer3@example.se"].body
    body = sent["buyer1@example.se"].body
    assert breach.reference in body and "dataskydd@example.org" in body  # the DPO's contact
    assert "buyer2" not in body  # nothing of anyone else
    assert breaches.breach_totals(breach)["notices"]["sent"] == 3


@pytest.mark.django_db
def test_people_erased_since_are_counted_but_never_messaged_nor_named(
    eventim, mail_service, dpo, box_office, thursdays, open_request
):
    agent_import(box_office, [buyer(1), buyer(2), buyer(3)])
    breach = record(dpo, processor=eventim)
    breaches.breach_scope_record(breach=breach, actor=dpo, scope=breaches.Scope(processor=eventim))
    execute(open_request("erasure", "buyer2@example.se"), dpo)
    assert not Customer.objects.filter(email="buyer2@example.se").exists()
    totals = breaches.breach_totals(breach)
    assert (totals["people"], totals["erased"]) == (3, 1)
    mail.outbox.clear()
    assert tell_everyone(breach, dpo) == 2
    assert set(messages_to(breach)) == {"buyer1@example.se", "buyer3@example.se"}
    erased = AffectedPerson.objects.get(person__isnull=True)
    assert erased.notice == AffectedPerson.Notice.SKIPPED and erased.sent_at is None
    # Counted, and the breach's records keep nothing to say who it was.
    assert breaches.breach_totals(breach)["people"] == 3


@pytest.mark.django_db
def test_a_person_erased_after_the_messages_were_queued_is_skipped(
    eventim, mail_service, dpo, box_office, thursdays, open_request
):
    agent_import(box_office, [buyer(1), buyer(2)])
    breach = record(dpo, processor=eventim)
    breaches.breach_scope_record(breach=breach, actor=dpo, scope=breaches.Scope(processor=eventim))
    tell_everyone_later = breaches.breach_notices_queue
    breaches.breach_assess_risk(breach=breach, actor=dpo, risk="high", reasoning="r")
    breaches.breach_decide_people(breach=breach, actor=dpo, decision="tell", reason="r")
    breaches.breach_set_message(breach=breach, actor=dpo, texts=MESSAGE)
    tell_everyone_later(breach=breach, actor=dpo)  # the task is lost: nothing sent yet
    execute(open_request("erasure", "buyer1@example.se"), dpo)
    mail.outbox.clear()
    assert breaches.breach_notices_send(breach_id=breach.pk) == 1
    assert set(messages_to(breach)) == {"buyer2@example.se"}


@pytest.mark.django_db
def test_the_send_run_twice_messages_each_person_once(
    eventim, mail_service, dpo, box_office, thursdays
):
    agent_import(box_office, [buyer(n) for n in range(7)])
    breach = record(dpo, processor=eventim)
    breaches.breach_scope_record(breach=breach, actor=dpo, scope=breaches.Scope(processor=eventim))
    mail.outbox.clear()
    tell_everyone(breach, dpo)
    assert breaches.breach_notices_send(breach_id=breach.pk, batch_size=2) == 0
    with committed():  # the DPO presses the button again
        breaches.breach_notices_queue(breach=breach, actor=dpo)
    from privacy_requests.tasks import sweep_task

    sweep_task()
    assert set(messages_to(breach).values()) == {1} and len(messages_to(breach)) == 7


class KilledAfter(EmailBackend):
    """A worker stopped (a time limit, a shutdown) just after the mail server accepted its
    `limit`th message, before it could record it."""

    limit = 3
    sent = 0

    def send_messages(self, messages):
        count = super().send_messages(messages)
        KilledAfter.sent += count
        if KilledAfter.sent == KilledAfter.limit:
            raise SystemExit("killed")
        return count


@pytest.mark.django_db
def test_a_send_killed_half_way_resumes_and_messages_each_person_exactly_once(
    eventim, mail_service, dpo, box_office, thursdays, settings
):
    agent_import(box_office, [buyer(n) for n in range(8)])
    breach = record(dpo, processor=eventim)
    breaches.breach_scope_record(breach=breach, actor=dpo, scope=breaches.Scope(processor=eventim))
    breaches.breach_assess_risk(breach=breach, actor=dpo, risk="high", reasoning="r")
    breaches.breach_decide_people(breach=breach, actor=dpo, decision="tell", reason="r")
    breaches.breach_set_message(breach=breach, actor=dpo, texts=MESSAGE)
    breaches.breach_notices_queue(breach=breach, actor=dpo)
    mail.outbox.clear()
    settings.EMAIL_BACKEND = f"{__name__}.KilledAfter"
    KilledAfter.sent = 0
    with pytest.raises(SystemExit):
        breaches.breach_notices_send(breach_id=breach.pk, batch_size=5)
    assert len(messages_to(breach)) == 3
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    breaches.breach_notices_send(breach_id=breach.pk, batch_size=5)
    assert len(messages_to(breach)) == 8 and set(messages_to(breach).values()) == {1}
    # The message in flight when the worker stopped went out, but could not be recorded: it is
    # reported as failed (it may or may not have gone), never sent a second time.
    notices = breaches.breach_totals(breach)["notices"]
    assert (notices["sent"], notices["failed"], notices["queued"]) == (7, 1, 0)


@pytest.mark.django_db
def test_messages_are_refused_without_a_decision_a_message_or_a_mail_service(
    eventim, dpo, box_office, thursdays
):
    agent_import(box_office, [buyer(1)])
    breach = record(dpo, processor=eventim)
    breaches.breach_scope_record(breach=breach, actor=dpo, scope=breaches.Scope(processor=eventim))
    with pytest.raises(ValidationError, match="Decide first"):
        breaches.breach_notices_queue(breach=breach, actor=dpo)
    breaches.breach_decide_people(breach=breach, actor=dpo, decision="tell", reason="r")
    with pytest.raises(ValidationError, match="message"):
        breaches.breach_notices_queue(breach=breach, actor=dpo)
    with pytest.raises(ValidationError):
        breaches.breach_set_message(breach=breach, actor=dpo, texts={"sv": MESSAGE["sv"]})
    breaches.breach_set_message(breach=breach, actor=dpo, texts=MESSAGE)
    with pytest.raises(ValidationError, match="Sends our email"):
        breaches.breach_notices_queue(breach=breach, actor=dpo)
    assert set(breach.affected.values_list("notice", flat=True)) == {"not_queued"}


@pytest.mark.django_db
def test_the_access_report_shows_the_breach_message_sent_to_the_person(
    eventim, mail_service, dpo, box_office, thursdays, open_request
):
    import json
    import zipfile

    from privacy_requests import packages
    from privacy_requests.models import AccessPackage

    agent_import(box_office, [buyer(1, "en")])
    breach = record(dpo, processor=eventim)
    breaches.breach_scope_record(breach=breach, actor=dpo, scope=breaches.Scope(processor=eventim))
    tell_everyone(breach, dpo)
    request = open_request("access", "buyer1@example.se")
    execute(request, dpo)
    archive = zipfile.ZipFile(packages.package_path(AccessPackage.objects.get(request=request)))
    data = json.loads(archive.read("data.json"))
    (row,) = data["privacy_requests.affectedperson"]
    assert row["breach__reference"] == breach.reference and row["sent_at"]
    report = archive.read("report.html").decode()
    assert "Personal-data breaches that affected your data" in report
    assert breach.reference in report


# --- The 72-hour clock and the authority (Art. 33) ------------------------------------------------
@pytest.mark.django_db
def test_the_clock_runs_72_real_hours_across_the_change_to_summer_time(dpo, client_for):
    # Clocks in Sweden go from 02:00 to 03:00 on 29 March 2026.
    aware = datetime(2026, 3, 28, 10, 0, tzinfo=STOCKHOLM)
    real = aware.astimezone(UTC)  # real hours added in UTC (Python adds local times by the wall)
    with time_machine.travel(real + timedelta(hours=1)):
        breach = record(dpo, aware_at=aware)
        assert breach.deadline - breach.aware_at == timedelta(hours=72)
        # 72 real hours: the wall clock says 11:00, not 10:00, three days on.
        assert timezone.localtime(breach.deadline).replace(tzinfo=None) == datetime(
            2026, 3, 31, 11, 0
        )
    with time_machine.travel(real + timedelta(hours=71, minutes=30)):
        assert 0 < breach.hours_left() < 1
        page = client_for(dpo).get("/dpo/breaches/").content.decode()
        assert "overdue" not in page.split("<tbody>")[1].split("</tbody>")[0]
    with time_machine.travel(real + timedelta(hours=73, minutes=10)):
        assert breach.hours_left() < -1
        page = client_for(dpo).get("/dpo/breaches/").content.decode()
        assert "overdue by 1 h" in page


@pytest.mark.django_db
def test_the_clock_lists_overdue_breaches_first(dpo, client_for):
    now = timezone.now()
    calm = record(dpo, title="Calm", aware_at=now - timedelta(hours=5))
    late = record(dpo, title="Late", aware_at=now - timedelta(hours=80))
    told = record(dpo, title="Told", aware_at=now - timedelta(hours=90))
    breaches.breach_notify_authority(
        breach=told, actor=dpo, sent_at=now - timedelta(hours=60), text="Art. 33 text"
    )
    assert [b.title for b in breaches.breach_clock()] == ["Late", "Calm", "Told"]
    page = client_for(dpo).get("/dpo/breaches/").content.decode()
    assert page.index(late.reference) < page.index(calm.reference) < page.index(told.reference)


@pytest.mark.django_db
def test_a_late_notification_is_refused_without_a_reason(dpo):
    aware = timezone.now() - timedelta(hours=100)
    breach = record(dpo, aware_at=aware)
    sent_at = aware + timedelta(hours=73)
    with pytest.raises(ValidationError) as refused:
        breaches.breach_notify_authority(breach=breach, actor=dpo, sent_at=sent_at, text="Text")
    assert "late_reason" in refused.value.message_dict
    breach.refresh_from_db()
    assert breach.authority_notified_at is None and not AuthorityNotification.objects.exists()
    breaches.breach_notify_authority(
        breach=breach,
        actor=dpo,
        sent_at=sent_at,
        text="Text",
        late_reason="The agent told us only on the fourth day.",
    )
    breach.refresh_from_db()
    assert breach.authority_notified_at == sent_at
    assert breach.late_reason == "The agent told us only on the fourth day."
    # In time, no reason is asked; a follow-up is the next phase (Art. 33(4)).
    follow_up = breaches.breach_notify_authority(
        breach=breach, actor=dpo, sent_at=timezone.now(), text="More"
    )
    assert follow_up.phase == 2


@pytest.mark.django_db
def test_a_late_notification_without_a_reason_is_refused_on_the_page(dpo, client_for):
    aware = timezone.now() - timedelta(hours=100)
    breach = record(dpo, aware_at=aware)
    client = client_for(dpo)
    page = client.get(f"/dpo/breaches/{breach.public_id}/authority/").content.decode()
    assert "More than 72 hours" in page
    response = client.post(
        f"/dpo/breaches/{breach.public_id}/authority/",
        {"text": "Text", "sent_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 200 and "reasons for the delay" in response.content.decode()
    assert not AuthorityNotification.objects.exists()


@pytest.mark.django_db
def test_the_authority_text_covers_art_33_3_a_to_d_in_the_house_s_language(
    eventim, dpo, box_office, thursdays, settings
):
    settings.LANGUAGE_CODE = "sv"
    agent_import(box_office, [buyer(1), buyer(2)])
    breach = record(
        dpo,
        processor=eventim,
        consequences="Nätfiske mot kunderna.",
        measures_taken="Lösenorden byttes.",
        measures_proposed="Tvåfaktorsinloggning hos ombudet.",
    )
    breaches.breach_scope_record(breach=breach, actor=dpo, scope=breaches.Scope(processor=eventim))
    text = breaches.authority_text(breach)
    for part in ("(a)", "(b)", "(c)", "(d)"):
        assert part in text
    assert "Nätfiske mot kunderna." in text and "Lösenorden byttes." in text
    assert "Tvåfaktorsinloggning hos ombudet." in text and "dataskydd@example.org" in text
    assert "Eventim" in text and breach.reference in text
    assert "Approximate number of people" not in text  # in Swedish, not English


# --- The register ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_correction_is_an_event_with_before_and_after_and_an_audit_entry(dpo):
    breach = record(dpo, title="First words")
    breaches.breach_correct(breach=breach, actor=dpo, title="Better words", note="Clearer.")
    event = breach.events.get(action="corrected")
    assert event.changes == {"title": ["First words", "Better words"]} and event.actor == dpo
    entry = AuditEntry.objects.get(action="breach.corrected")
    assert entry.detail == {"fields": ["title"]} and "Better" not in str(entry.detail)
    assert list(breach.events.values_list("action", flat=True)) == ["recorded", "corrected"]


@pytest.mark.django_db
def test_a_breach_and_its_timeline_are_never_deleted(dpo):
    breach = record(dpo)
    with pytest.raises(IntegrityError), transaction.atomic():
        Breach.objects.filter(pk=breach.pk).delete()
    if connection.vendor == "postgresql":
        with pytest.raises(Exception, match="append-only"), transaction.atomic():
            BreachEvent.objects.filter(breach=breach).update(note="rewritten")
    assert Breach.objects.filter(pk=breach.pk).exists() and breach.events.count() == 1


@pytest.mark.django_db
def test_only_the_dpo_keeps_the_register(marketing, box_office, finance, dpo, client_for):
    for user in (marketing, box_office, finance):
        with pytest.raises(PermissionDenied):
            record(user)
        assert client_for(user).get("/dpo/breaches/").status_code == 403
    assert not Breach.objects.exists()
    assert client_for(dpo).get("/dpo/breaches/").status_code == 200


@pytest.mark.django_db
def test_the_facts_are_checked_and_errors_said_clearly(dpo):
    with pytest.raises(ValidationError) as refused:
        record(dpo, natures=[], aware_at=timezone.now() + timedelta(hours=1))
    assert set(refused.value.message_dict) == {"natures", "aware_at"}
    assert not Breach.objects.exists()


@pytest.mark.django_db
def test_each_register_entry_shows_its_breach_contact_and_reporting_time(eventim, client_for, dpo):
    page = client_for(dpo).get("/dpo/processors/").content.decode()
    assert "security@eventim.example" in page and "within 48 hours" in page


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_at_once_message_each_person_once(
    eventim, mail_service, dpo, box_office, thursdays
):
    if connection.vendor != "postgresql":
        pytest.skip("needs a server database with concurrent connections (PostgreSQL)")
    from tests.threads import run_at_once

    agent_import(box_office, [buyer(n) for n in range(30)])
    breach = record(dpo, processor=eventim)
    breaches.breach_scope_record(breach=breach, actor=dpo, scope=breaches.Scope(processor=eventim))
    breaches.breach_decide_people(breach=breach, actor=dpo, decision="tell", reason="r")
    breaches.breach_set_message(breach=breach, actor=dpo, texts=MESSAGE)
    AffectedPerson.objects.update(notice=AffectedPerson.Notice.QUEUED)  # as queued, task lost
    mail.outbox.clear()
    sent, errors = run_at_once(
        lambda: breaches.breach_notices_send(breach_id=breach.pk, batch_size=4)
    )
    assert errors == [] and sum(sent) == 30
    assert len(messages_to(breach)) == 30 and set(messages_to(breach).values()) == {1}
