"""Ticket-agent (biljettombud) imports: the promises of subscriptions/imports.py, through the
services and tasks and through the upload in the admin as box office uses it."""

import csv
import io
import logging
import smtplib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.mail import EmailMultiAlternatives
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from concerthouse.models import AuditEntry
from concerthouse.privacy.map import declaration_for
from consent.models import Consent, ConsentEvent
from customers.models import Customer
from customers.services import customer_restrict
from newsletters.models import Suppression
from newsletters.services import suppression_add
from subscriptions import imports, services, tasks
from subscriptions.models import (
    ImportRowError,
    Order,
    Payment,
    SeasonSubscription,
    SourceNotice,
    TicketAgentImport,
)
from tests.factories import CustomerFactory

from .conftest import committed

Reason = ImportRowError.Reason
COLUMNS = [
    "order_id",
    "email",
    "first_name",
    "last_name",
    "series",
    "seats",
    "amount",
    "purchased_on",
    "phone",
    "street_address",
    "postal_code",
    "city",
    "country",
    "language",
]


def purchased(days_ago: int = 3) -> str:
    return (timezone.localdate() - timedelta(days=days_ago)).isoformat()


def row(order_id, email, first_name="Märta", last_name="Ångström", **changes) -> dict:
    """One line of an agent's export, as Eventim writes it for a Swedish buyer."""
    values = {
        "order_id": order_id,
        "email": email,
        "first_name": first_name,
        "last_name": last_name,
        "series": "thu",
        "seats": "2",
        "amount": "2900.00",
        "purchased_on": purchased(),
        "phone": "070-123 45 67",
        "street_address": "Storgatan 1",
        "postal_code": "702 10",
        "city": "Örebro",
        "country": "SE",
        "language": "sv",
    }
    values.update(changes)
    return values


def csv_file(rows, *, columns=COLUMNS, delimiter=";", encoding="utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(columns)
    for values in rows:
        writer.writerow([values.get(name, "") for name in columns])
    return out.getvalue().encode(encoding)


def upload(content: bytes, name="eventim-export.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def imported(content: bytes, *, actor, agent="Eventim") -> TicketAgentImport:
    """Upload and import as a commit would: the import task, then the Art. 14 notices task."""
    with committed():
        run = imports.import_create(agent=agent, upload=upload(content), actor=actor)
    run.refresh_from_db()
    return run


def errors_of(run) -> list[tuple]:
    return list(run.errors.order_by("row").values_list("row", "column", "reason"))


def stored_files() -> list:
    folder = settings.PRIVATE_MEDIA_ROOT / "imports"
    return sorted(folder.iterdir()) if folder.exists() else []


# --- Bad rows ------------------------------------------------------------------------------------
def test_bad_rows_are_reported_by_number_column_and_reason_and_the_good_ones_are_stored(
    box_office, thursdays, caplog
):
    caplog.set_level(logging.DEBUG)
    content = csv_file(
        [
            row("A1", "erik.lind@example.se", "Erik", "Lind"),  # row 2: good
            row("A2", "", "Saga", "Norén"),  # 3
            row("A3", "saga.noren@", "Saga", "Norén"),  # 4
            row("A4", "sven.berg@example.se", "Sven", "Berg", phone="12"),  # 5
            row("A5", "tove.ek@example.se", "Tove", "Ek", series="sunday-brunch"),  # 6
            row("A6", "ulf.holm@example.se", "Ulf", "Holm", seats="två"),  # 7
            row("A7", "vera.sund@example.se", "Vera", "Sund", purchased_on="igår"),  # 8
            row("A8", "wilma.ros@example.se", "Wilma", "R" * 151),  # 9
            row("A9", "yngve.dahl@example.se", "Yngve", "Dahl", seats="0"),  # 10
            row("A10", "anna.falk@example.se", "Anna", "Falk", amount="gratis"),  # 11
            row("A11", "ingrid.sjo@example.se", "Ingrid", "Sjö"),  # 12: good
            # Amounts the price column cannot hold: rejected, not a failed batch at every retry.
            row("A12", "anna.falk@example.se", "Anna", "Falk", amount="1e30"),  # 13
            row("A13", "anna.falk@example.se", "Anna", "Falk", amount="100 000 000"),  # 14
            row("A14", "anna.falk@example.se", "Anna", "Falk", amount="NaN"),  # 15
            # A date in the future: a typo, and one past Python's last year at that.
            row("A15", "anna.falk@example.se", "Anna", "Falk", purchased_on="9999-12-31"),  # 16
            row("A16", "anna.falk@example.se", "Anna", "Falk", purchased_on=purchased(-3)),  # 17
        ]
    )

    run = imported(content, actor=box_office)

    assert errors_of(run) == [
        (3, "email", Reason.MISSING),
        (4, "email", Reason.BAD_EMAIL),
        (5, "phone", Reason.BAD_PHONE),
        (6, "series", Reason.UNKNOWN_SERIES),
        (7, "seats", Reason.BAD_NUMBER),
        (8, "purchased_on", Reason.BAD_DATE),
        (9, "last_name", Reason.TOO_LONG),
        (10, "seats", Reason.BAD_NUMBER),
        (11, "amount", Reason.BAD_NUMBER),
        (13, "amount", Reason.BAD_NUMBER),
        (14, "amount", Reason.BAD_NUMBER),
        (15, "amount", Reason.BAD_NUMBER),
        (16, "purchased_on", Reason.BAD_DATE),
        (17, "purchased_on", Reason.BAD_DATE),
    ]
    assert (run.status, run.rows_done, run.rejected_count) == (run.Status.DONE, 16, 14)
    assert (run.created_count, run.booked_count) == (2, 2)
    assert sorted(Customer.objects.values_list("email", flat=True)) == [
        "erik.lind@example.se",
        "ingrid.sjo@example.se",
    ]
    assert SeasonSubscription.objects.count() == Order.objects.count() == 2

    # A rejected row is a number and a reason: no field could hold what was in it.
    assert {f.name for f in ImportRowError._meta.concrete_fields} == {
        "id",
        "run",
        "row",
        "column",
        "reason",
    }
    values = ["Saga", "Norén", "saga.noren@", "Sven", "Berg", "sven.berg@example.se", "två"]
    values += ["igår", "sunday-brunch", "R" * 151, "gratis", "Wilma", "wilma.ros@example.se"]
    stored = [str(v) for e in run.errors.values() for v in e.values()]
    stored += [str(v) for v in TicketAgentImport.objects.filter(pk=run.pk).values().get().values()]
    assert not [value for value in values if any(value in text for text in stored)]
    # Nor does anything the import logs: not the addresses, not the names.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    logged += "\n".join(str(r.args) for r in caplog.records)
    assert "@" not in logged
    for name in ("Erik", "Lind", "Ingrid", "Sjö", "Saga", "Norén", "Wilma"):
        assert name not in logged


def test_box_office_downloads_the_rejected_rows_without_their_values(
    box_office, client_for, thursdays
):
    run = imported(
        csv_file(
            [
                row("B1", "erik.lind@example.se", "Erik", "Lind"),
                row("B2", "erik.lind@example", "Erik", "Lind"),
                row("B3", "tove.ek@example.se", "Tove", "Ek", series="brunch"),
            ]
        ),
        actor=box_office,
    )
    client = client_for(box_office)

    report = client.get(reverse("admin:subscriptions_import_report", args=[run.pk]))
    page = client.get(reverse("admin:subscriptions_ticketagentimport_change", args=[run.pk]))

    assert report.status_code == 200 and report["Content-Type"] == "text/csv"
    assert list(csv.reader(io.StringIO(report.content.decode()))) == [
        ["row", "column", "reason"],
        ["3", "email", str(Reason.BAD_EMAIL.label)],
        ["4", "series", str(Reason.UNKNOWN_SERIES.label)],
    ]
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="rejected-rows"' in html
    for text in (report.content.decode(), html):
        assert "erik.lind" not in text and "Tove" not in text and "brunch" not in text


# --- Matching people -----------------------------------------------------------------------------
def test_people_are_matched_by_normalised_email_and_an_existing_customer_is_not_duplicated(
    box_office, thursdays
):
    known = CustomerFactory(email="ase.odegard@example.no", first_name="Åse", last_name="Ødegård")
    content = csv_file(
        [
            row("C1", "  Ase.Odegard@Example.NO ", "Åse", "Ødegård", country="NO", phone=""),
            row("C2", "Marta.Angstrom@example.se", "Märta", "Ångström"),
            row("C3", " marta.angstrom@EXAMPLE.se", "Märta", "Ångström"),
        ]
    )

    run = imported(content, actor=box_office)

    assert Customer.objects.count() == 2
    new = Customer.objects.get(email="marta.angstrom@example.se")
    assert list(known.season_subscriptions.values_list("order__reference", flat=True)) == [
        "eventim:C1"
    ]
    assert sorted(new.season_subscriptions.values_list("order__reference", flat=True)) == [
        "eventim:C2",
        "eventim:C3",
    ]
    assert (run.created_count, run.matched_count, run.booked_count, run.rejected_count) == (
        1,
        1,
        3,
        0,
    )
    known.refresh_from_db()
    # The known person keeps their own record and source; the purchase makes them a customer.
    assert (known.first_name, known.source, known.kind) == (
        "Åse",
        Customer.Source.WEB_SIGNUP,
        Customer.Kind.CUSTOMER,
    )
    assert known.relationship_started_on == timezone.localdate()
    # Through the customers service, as a booking at the counter: audited, by who uploaded.
    started = AuditEntry.objects.get(action="customer.relationship_started")
    assert (started.target_id, started.actor) == (known.public_id, box_office)


def test_a_row_whose_new_person_is_refused_is_rejected_and_their_next_row_creates_them(
    box_office, thursdays
):
    content = csv_file(
        [
            row("A1", "erik.lind@example.se", "Erik", "Lind", phone="12"),
            row("A2", "ERIK.LIND@example.se", "Erik", "Lind", phone="070-765 43 21"),
            row("A3", "erik.lind@example.se", "Erik", "Lind"),
        ]
    )

    run = imported(content, actor=box_office)

    # The customers service refused the first row's person; the second one's it created.
    assert errors_of(run) == [(2, "phone", Reason.BAD_PHONE)]
    erik = Customer.objects.get()
    assert (erik.email, erik.phone) == ("erik.lind@example.se", "+46707654321")
    assert sorted(erik.orders.values_list("reference", flat=True)) == ["eventim:A2", "eventim:A3"]
    assert (run.created_count, run.matched_count, run.booked_count) == (1, 0, 2)
    assert AuditEntry.objects.filter(action="customer.created").count() == 1
    assert SourceNotice.objects.get().customer == erik


def test_a_known_person_is_booked_whatever_phone_the_file_gives_them(box_office, thursdays):
    """The import keeps a known person's record as it is, so it does not judge what it would
    not store."""
    known = CustomerFactory(email="ase.odegard@example.no", phone="+47 912 34 567")

    run = imported(csv_file([row("K1", known.email, phone="12")]), actor=box_office)

    assert (run.rejected_count, run.booked_count, run.matched_count) == (0, 1, 1)
    known.refresh_from_db()
    assert known.phone == "+4791234567"


def test_the_same_new_person_in_two_batches_is_one_person_with_two_subscriptions(
    box_office, thursdays, settings
):
    settings.IMPORT_BATCH_SIZE = 2
    content = csv_file(
        [
            row("D1", "erik.lind@example.se", "Erik", "Lind"),
            row("D2", "saga.noren@example.se", "Saga", "Norén"),
            row("D3", "ERIK.LIND@example.se", "Erik", "Lind"),
        ]
    )

    run = imported(content, actor=box_office)

    assert Customer.objects.count() == 2
    erik = Customer.objects.get(email="erik.lind@example.se")
    assert erik.season_subscriptions.count() == 2
    assert run.created_count == 2 and run.booked_count == 3
    assert SourceNotice.objects.filter(customer=erik).count() == 1


def test_every_person_created_records_the_agent_as_source_and_the_audit_names_no_one(
    box_office, thursdays
):
    content = csv_file(
        [
            row("E1", "erik.lind@example.se", "Erik", "Lind"),
            row(
                "E2",
                "kari.nordmann@example.no",
                "Kari",
                "Nordmann",
                country="NO",
                language="",
                phone="+47 912 34 567",
            ),
        ]
    )

    run = imported(content, actor=box_office, agent="Ticketmaster Norge")

    people = Customer.objects.order_by("email")
    assert [(p.source, p.source_detail) for p in people] == [
        (Customer.Source.TICKET_AGENT, "Ticketmaster Norge"),
        (Customer.Source.TICKET_AGENT, "Ticketmaster Norge"),
    ]
    assert [p.kind for p in people] == [Customer.Kind.CUSTOMER] * 2
    assert [p.preferred_language for p in people] == ["sv", "nb"]
    assert set(SourceNotice.objects.values_list("source", flat=True)) == {"Ticketmaster Norge"}
    assert Order.objects.filter(reference__startswith="ticketmaster-norge:").count() == 2
    created = AuditEntry.objects.filter(action="customer.created")
    assert set(created.values_list("target_id", flat=True)) == {p.public_id for p in people}
    assert {e.actor_id for e in created} == {box_office.pk}
    entries = str(list(created.values()))
    assert "@" not in entries and "Erik" not in entries and "Nordmann" not in entries
    assert str(run.public_id) in entries


# --- What the import must not do -----------------------------------------------------------------
def test_an_address_on_the_suppression_list_is_not_imported_again(box_office, thursdays):
    suppression_add(email="gone@example.se", reason=Suppression.Reason.ERASED)
    content = csv_file(
        [
            row("F1", " Gone@Example.se ", "Gunnar", "Borttagen"),
            row("F2", "erik.lind@example.se", "Erik", "Lind"),
        ]
    )

    run = imported(content, actor=box_office)

    assert errors_of(run) == [(2, "email", Reason.SUPPRESSED)]
    assert not Customer.objects.filter(email="gone@example.se").exists()
    assert not Order.objects.filter(reference="eventim:F1").exists()
    assert [m.to for m in mail.outbox] == [["erik.lind@example.se"]]


def test_an_import_never_creates_marketing_consent(box_office, thursdays):
    known = CustomerFactory(email="ase.odegard@example.no")
    # Whatever the agent's file says about newsletters, the person did not say it to the house.
    columns = [*COLUMNS, "newsletter", "marketing_opt_in"]
    content = csv_file(
        [
            row("G1", "erik.lind@example.se", newsletter="yes", marketing_opt_in="1"),
            row("G2", known.email, newsletter="ja", marketing_opt_in="true"),
        ],
        columns=columns,
    )

    run = imported(content, actor=box_office)

    assert run.booked_count == 2
    assert Consent.objects.count() == 0
    assert ConsentEvent.objects.count() == 0


def test_a_restricted_person_is_rejected_and_left_as_they_were(box_office, dpo, thursdays):
    person = customer_restrict(
        customer=CustomerFactory(email="ase.odegard@example.no"),
        actor=dpo,
        ground=Customer.RestrictionGround.ACCURACY_CONTESTED,
    )
    before = Customer.objects.filter(pk=person.pk).values().get()

    run = imported(
        csv_file([row("H1", "ASE.ODEGARD@example.no", "Åse", "Ødegård")]), actor=box_office
    )

    assert errors_of(run) == [(2, "", Reason.RESTRICTED)]
    assert Customer.objects.filter(pk=person.pk).values().get() == before
    assert not SeasonSubscription.objects.exists() and not Order.objects.exists()
    assert run.matched_count == 0 and run.booked_count == 0
    assert mail.outbox == []


# --- The Art. 14 notice --------------------------------------------------------------------------
NOTICE_PEOPLE = [
    # email, names, country, language column, the language the person is written to in
    ("marta.angstrom@example.se", "Märta", "Ångström", "SE", "sv", "sv"),
    ("ase.odegard@example.no", "Åse", "Ødegård", "NO", "no", "nb"),
    ("jane.doe@example.com", "Jane", "Doe", "GB", "en", "en"),
]


def test_each_new_person_gets_one_art_14_notice_in_their_language(box_office, thursdays):
    CustomerFactory(email="known@example.se")
    content = csv_file(
        [
            row(f"N{i}", email, first, last, country=country, language=column, phone="")
            for i, (email, first, last, country, column, _lang) in enumerate(NOTICE_PEOPLE)
        ]
        + [row("N9", "known@example.se", "Känd", "Person")]
    )

    imported(content, actor=box_office, agent="Eventim")

    # The known person already had the house's notice when they gave their data: none for them.
    assert sorted(m.to[0] for m in mail.outbox) == sorted(p[0] for p in NOTICE_PEOPLE)
    for email, _first, _last, _country, _column, language in NOTICE_PEOPLE:
        [message] = [m for m in mail.outbox if m.to == [email]]
        body = message.body
        with translation.override(language):
            assert message.subject == gettext("How %(house)s received your details") % {
                "house": settings.HOUSE_NAME
            }
            expected = [
                # who we are
                settings.HOUSE_NAME,
                settings.HOUSE_CONTACT_EMAIL,
                gettext("Who we are"),
                # what we received: the fields the file gave, named in the person's language
                gettext("What we received"),
                gettext("email address").capitalize(),
                gettext("first name").capitalize(),
                gettext("Your booking: the series, the number of seats and the price"),
                # why, and for how long
                "6(1)(b)",
                gettext("How long we keep it"),
                # the periods as the map words them, from the settings
                str(declaration_for(Customer).retention.description),
                # the rights, and where to use them
                gettext("Your rights"),
                f"{settings.HOUSE_SITE_URL}/{language}/privacy/request/",
                "Integritetsskyddsmyndigheten (IMY)",
            ]
            if language != "en":  # the house's own wording, not only Django's, is translated
                assert gettext("Who we are") != "Who we are"
                assert gettext("Your rights") != "Your rights"
        # from whom
        assert body.count("Eventim") >= 2
        for text in expected:
            assert text in body, (language, text)
        assert gettext("phone number").capitalize() not in body  # the file gave no phone
        assert "unsubscribe" not in body.lower()  # a notice the law requires, not marketing
    # Written in the person's language: the wording differs between the three.
    bodies = {m.to[0]: m.body for m in mail.outbox}
    assert len({bodies[p[0]].split("\n")[0] for p in NOTICE_PEOPLE}) == 3
    assert SourceNotice.objects.filter(sent_at__isnull=True).count() == 0


def test_sending_the_notices_again_sends_none_twice(box_office, thursdays):
    content = csv_file(
        [row("S1", "erik.lind@example.se", "Erik", "Lind"), row("S2", "saga.n@example.se")]
    )
    imported(content, actor=box_office)
    assert len(mail.outbox) == 2

    with committed():
        assert services.source_notices_send() == 0
        assert tasks.send_source_notices_task.delay().get() == 0
        tasks.sweep_task.delay()

    assert len(mail.outbox) == 2
    assert SourceNotice.objects.filter(sent_at__isnull=False).count() == 2


def test_a_notice_whose_task_was_lost_is_sent_once_by_the_next_run(
    box_office, thursdays, broker_down
):
    # The broker is down at the end of the import: the notice is owed, not lost.
    content = csv_file([row("L1", "erik.lind@example.se", "Erik", "Lind")])
    with committed():
        run = imports.import_create(agent="Eventim", upload=upload(content), actor=box_office)
    imports.import_run(run_id=run.pk)
    assert mail.outbox == []
    assert SourceNotice.objects.get().sent_at is None

    assert services.source_notices_send() == 1
    assert services.source_notices_send() == 0
    assert len(mail.outbox) == 1


# --- Running again, and resuming -----------------------------------------------------------------
def test_the_same_file_imported_twice_books_nothing_the_second_time(box_office, thursdays):
    content = csv_file(
        [row("R1", "erik.lind@example.se", "Erik", "Lind"), row("R2", "saga.n@example.se")]
    )
    imported(content, actor=box_office)
    counts = (Customer.objects.count(), Order.objects.count(), SeasonSubscription.objects.count())

    again = imported(content, actor=box_office)

    assert errors_of(again) == [(2, "", Reason.DUPLICATE_ORDER), (3, "", Reason.DUPLICATE_ORDER)]
    assert (again.booked_count, again.created_count, again.matched_count) == (0, 0, 0)
    assert (
        Customer.objects.count(),
        Order.objects.count(),
        SeasonSubscription.objects.count(),
    ) == counts
    assert Payment.objects.count() == 2
    assert len(mail.outbox) == 2


def test_an_order_repeated_within_one_file_is_booked_once(box_office, thursdays):
    content = csv_file(
        [row("R1", "erik.lind@example.se", "Erik", "Lind"), row("R1", "erik.lind@example.se")]
    )

    run = imported(content, actor=box_office)

    assert errors_of(run) == [(3, "", Reason.DUPLICATE_ORDER)]
    assert Order.objects.count() == SeasonSubscription.objects.count() == 1


def test_a_finished_import_run_again_does_nothing(box_office, thursdays):
    run = imported(csv_file([row("Z1", "erik.lind@example.se")]), actor=box_office)

    assert tasks.import_task.delay(run.pk).get() == 1
    run.refresh_from_db()

    assert (run.rows_done, run.booked_count, run.rejected_count) == (1, 1, 0)
    assert Order.objects.count() == 1


def test_an_interrupted_import_resumes_after_the_last_batch_with_nothing_doubled_or_half_written(
    box_office, thursdays, settings, monkeypatch
):
    settings.IMPORT_BATCH_SIZE = 3
    content = csv_file(
        [
            row("I1", "erik.lind@example.se", "Erik", "Lind"),  # batch 1: rows 2-4
            row("I2", "saga.noren@example.se", "Saga", "Norén"),
            row("I3", "tove.ek@example.se", "Tove", "Ek"),
            row("I4", "ulf.holm@example.se", "Ulf", "Holm"),  # batch 2: rows 5-7
            row("I5", "erik.lind@example.se", "Erik", "Lind"),
            row("I6", "bad@", "Vera", "Sund"),
            row("I7", "wilma.ros@example.se", "Wilma", "Ros"),  # batch 3: rows 8-9
            row("I8", "ulf.holm@example.se", "Ulf", "Holm"),
        ]
    )
    real_start, calls = imports.customers_start_relationship, []

    def worker_killed_in_batch_two(**kwargs):
        calls.append(kwargs)
        # Called in batch two, the first with a person already known (Erik, from batch one).
        real_start(**kwargs)  # the batch has created its people and booked its rows by now...
        if len(calls) == 1:
            raise RuntimeError("worker killed")  # ...and dies before its commit

    monkeypatch.setattr(imports, "customers_start_relationship", worker_killed_in_batch_two)
    run = imports.import_create(agent="Eventim", upload=upload(content), actor=box_office)
    with pytest.raises(RuntimeError):
        imports.import_run(run_id=run.pk)

    # Batch 1 committed; of batch 2 nothing at all.
    run.refresh_from_db()
    assert (run.status, run.rows_done, run.created_count, run.booked_count) == (
        run.Status.RUNNING,
        3,
        3,
        3,
    )
    assert Customer.objects.count() == SourceNotice.objects.count() == 3
    assert Order.objects.count() == SeasonSubscription.objects.count() == Payment.objects.count()
    assert Order.objects.count() == 3
    assert AuditEntry.objects.filter(action="customer.created").count() == 3
    assert not ImportRowError.objects.exists()
    assert not Customer.objects.filter(email="ulf.holm@example.se").exists()
    assert imports.import_path(run).exists()  # kept until read to the end

    # The sweep finds the stalled run and finishes it.
    TicketAgentImport.objects.filter(pk=run.pk).update(
        created_at=timezone.now() - timedelta(minutes=11)
    )
    with committed():
        assert tasks.sweep_task.delay().get()["imports"] == 1

    run.refresh_from_db()
    assert run.status == run.Status.DONE and run.rows_done == 8
    assert errors_of(run) == [(7, "email", Reason.BAD_EMAIL)]
    assert sorted(Order.objects.values_list("reference", flat=True)) == [
        f"eventim:I{n}" for n in (1, 2, 3, 4, 5, 7, 8)
    ]
    assert Customer.objects.count() == SourceNotice.objects.count() == 5
    assert AuditEntry.objects.filter(action="customer.created").count() == 5
    assert SeasonSubscription.objects.count() == Payment.objects.count() == 7
    assert (run.created_count, run.booked_count, run.rejected_count) == (5, 7, 1)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        Customer.objects.values_list("email", flat=True)
    )
    assert not imports.import_path(run).exists()


def test_a_batch_costs_the_same_queries_for_50_rows_as_for_500(box_office, thursdays):
    """Set-based: every statement of a batch covers all its rows (IMPORT_BATCH_SIZE, 1000)."""
    statements = {}
    for size in (50, 500):
        content = csv_file(
            [
                row(f"Q{size}-{n}", f"q{size}.{n}@example.se", "Q", f"Person {n}")
                for n in range(size)
            ]
        )
        run = imports.import_create(agent="Eventim", upload=upload(content), actor=box_office)
        with CaptureQueriesContext(connection) as queries:
            imports.import_run(run_id=run.pk)
        run.refresh_from_db()
        assert run.booked_count == run.created_count == size
        statements[size] = [query["sql"].split()[0] for query in queries.captured_queries]

    # The rows go in with a COPY a table on PostgreSQL, which the query log does not show, and
    # with bulk_create elsewhere, which SQLite's limit on parameters cuts into several INSERTs.
    reads_and_updates = {
        size: [kind for kind in kinds if kind != "INSERT"] for size, kinds in statements.items()
    }
    assert reads_and_updates[50] == reads_and_updates[500]
    assert len(reads_and_updates[500]) <= 30


# --- The file ------------------------------------------------------------------------------------
def test_the_uploaded_file_is_deleted_once_imported(box_office, thursdays):
    content = csv_file([row("X1", "erik.lind@example.se")])
    run = imports.import_create(agent="Eventim", upload=upload(content), actor=box_office)
    assert imports.import_path(run).read_bytes() == content  # only until the worker reads it

    imports.import_run(run_id=run.pk)

    assert stored_files() == []


def test_box_office_uploads_a_file_in_the_admin_and_it_is_imported(
    box_office, client_for, thursdays
):
    client = client_for(box_office)
    content = csv_file([row("U1", "erik.lind@example.se", "Erik", "Lind")])

    with committed():
        response = client.post(
            reverse("admin:subscriptions_ticketagentimport_add"),
            {"agent": "Eventim", "file": upload(content)},
        )

    run = TicketAgentImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:subscriptions_ticketagentimport_change", args=[run.pk]
    )
    assert (run.status, run.booked_count, run.uploaded_by) == (run.Status.DONE, 1, box_office)
    assert run.file_name == "eventim-export.csv"
    assert stored_files() == []
    assert [m.to for m in mail.outbox] == [["erik.lind@example.se"]]


@pytest.mark.parametrize("language", ["sv", "nb", "en"])
def test_a_file_missing_required_columns_is_refused_at_upload_and_nothing_is_stored(
    box_office, client_for, thursdays, language
):
    columns = [c for c in COLUMNS if c not in ("email", "purchased_on")]
    content = csv_file([row("M1", "erik.lind@example.se")], columns=columns)

    with committed():
        response = client_for(box_office).post(
            reverse("admin:subscriptions_ticketagentimport_add"),
            {"agent": "Eventim", "file": upload(content)},
            headers={"accept-language": language},
        )

    assert response.status_code == 200
    with translation.override(language):
        message = gettext("Columns missing from the file: %(columns)s") % {
            "columns": "email, purchased_on"
        }
    assert response.context["form"].errors["file"] == [message]
    if language != "en":
        assert message != "Columns missing from the file: email, purchased_on", "untranslated"
    assert not TicketAgentImport.objects.exists()
    assert not Customer.objects.exists() and not Order.objects.exists()
    assert stored_files() == []


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\x81\x8d\x8f\x90\x9d" * 50,
    ],
    ids=["empty", "a spreadsheet, not CSV"],
)
def test_a_file_that_is_not_a_csv_export_is_refused_at_upload(
    box_office, client_for, thursdays, content
):
    with committed():
        response = client_for(box_office).post(
            reverse("admin:subscriptions_ticketagentimport_add"),
            {"agent": "Eventim", "file": upload(content, name="eventim.xlsx")},
        )

    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert not TicketAgentImport.objects.exists()
    assert stored_files() == []


def test_marketing_cannot_upload_a_file(marketing, client_for, thursdays):
    content = csv_file([row("P1", "erik.lind@example.se")])

    response = client_for(marketing).post(
        reverse("admin:subscriptions_ticketagentimport_add"),
        {"agent": "Eventim", "file": upload(content)},
    )

    assert response.status_code == 403
    assert not TicketAgentImport.objects.exists() and stored_files() == []


NORDIC = [
    ("Åse", "Ødegård", "ase.odegard@example.no", "NO"),
    ("Märta", "Ångström", "marta.angstrom@example.se", "SE"),
    ("Ærlig", "Øvrebø", "aerlig@example.no", "NO"),
    ("Örjan", "Käll", "orjan.kall@example.se", "SE"),
]


@pytest.mark.parametrize(
    ("delimiter", "encoding"),
    [(";", "cp1252"), (",", "cp1252"), (";", "utf-8"), (",", "utf-8"), (";", "utf-8-sig")],
)
def test_nordic_names_are_read_from_windows_1252_or_utf_8_with_either_delimiter(
    box_office, thursdays, delimiter, encoding
):
    content = csv_file(
        [
            row(
                f"W{n}",
                email,
                first,
                last,
                country=country,
                language="",
                phone="",
                # Each delimiter inside a quoted value, and a decimal comma in the amount.
                street_address="Storgatan 1, lgh 1102; 2 tr",
                city="Malmö" if country == "SE" else "Tromsø",
                amount="2 900,50",
                purchased_on=(timezone.localdate() - timedelta(days=2)).strftime("%d.%m.%Y"),
            )
            for n, (first, last, email, country) in enumerate(NORDIC)
        ],
        delimiter=delimiter,
        encoding=encoding,
    )

    run = imported(content, actor=box_office)

    assert run.rejected_count == 0 and run.created_count == len(NORDIC)
    for first, last, email, country in NORDIC:
        person = Customer.objects.get(email=email)
        assert (person.first_name, person.last_name, person.country) == (first, last, country)
        assert person.street_address == "Storgatan 1, lgh 1102; 2 tr"
        assert person.city in ("Malmö", "Tromsø")
        order = person.orders.get()
        assert order.buyer_name == f"{first} {last}"
        assert order.amount == Decimal("2900.50")
        assert order.ordered_on == timezone.localdate() - timedelta(days=2)
    assert Customer.objects.get(email="ase.odegard@example.no").preferred_language == "nb"


def test_a_file_with_only_a_header_imports_nothing_and_is_deleted(box_office, thursdays):
    run = imported(csv_file([]), actor=box_office)

    assert run.status == run.Status.DONE
    assert (run.rows_done, run.created_count, run.booked_count, run.rejected_count) == (0, 0, 0, 0)
    assert not Customer.objects.exists() and not SourceNotice.objects.exists()
    assert mail.outbox == []
    assert stored_files() == []


def test_the_longest_names_the_file_may_hold_are_booked(box_office, thursdays):
    content = csv_file(
        [
            row(
                "O" * 40,
                "long@example.se",
                "Å" * 150,
                "Ø" * 150,
                street_address="S" * 200,
                postal_code="1" * 20,
                city="C" * 100,
            )
        ]
    )

    run = imported(content, actor=box_office)

    assert (run.rejected_count, run.booked_count) == (0, 1)
    assert Order.objects.get().buyer_name.startswith("Å" * 150)


def test_a_nul_character_in_a_value_is_dropped_not_a_failed_batch(box_office, thursdays):
    run = imported(
        csv_file([row("V1", "erik.lind@example.se", "Erik\x00", "Lind")]), actor=box_office
    )

    assert (run.status, run.booked_count) == (run.Status.DONE, 1)
    assert Customer.objects.get().first_name == "Erik"


def test_a_file_that_breaks_midway_fails_with_the_row_and_keeps_the_rows_before(
    box_office, thursdays, settings
):
    settings.IMPORT_BATCH_SIZE = 2
    good = [row(f"K{n}", f"k{n}@example.se", "K", f"Person {n}") for n in range(3)]
    # An opening quote never closed: the csv module reads the rest of the file as one field.
    broken = csv_file(good) + b'K9;"k9@example.se;K;Person\r\n' + b"x" * 140_000 + b"\r\n"

    run = imported(broken, actor=box_office)

    assert run.status == run.Status.FAILED
    assert "Row 5 " in run.failure
    assert (run.rows_done, run.booked_count) == (3, 3)
    assert Order.objects.count() == 3
    assert len(mail.outbox) == 3  # the people it did create are told all the same
    assert stored_files() == []


def test_a_person_who_signs_up_while_the_batch_runs_is_matched_not_duplicated(
    box_office, thursdays, monkeypatch
):
    # The signup commits between the batch's look-up and its INSERT: the look-up missed them.
    signed_up = CustomerFactory(email="erik.lind@example.se")
    real_known = imports._known_people
    monkeypatch.setattr(
        imports, "_known_people", lambda emails: real_known(emails - {signed_up.email})
    )
    content = csv_file(
        [
            row("Y1", "erik.lind@example.se", "Erik", "Lind"),
            row("Y2", "saga.noren@example.se", "Saga", "Norén"),
        ]
    )

    run = imported(content, actor=box_office)

    assert Customer.objects.count() == 2
    assert signed_up.season_subscriptions.count() == 1
    assert (run.created_count, run.matched_count, run.booked_count) == (1, 1, 2)
    assert list(SourceNotice.objects.values_list("customer__email", flat=True)) == [
        "saga.noren@example.se"
    ]
    assert [m.to for m in mail.outbox] == [["saga.noren@example.se"]]


def test_a_file_with_only_the_required_columns_is_imported(box_office, thursdays):
    content = csv_file(
        [row("J1", "erik.lind@example.se", "Erik", "Lind")], columns=list(imports.REQUIRED)
    )

    run = imported(content, actor=box_office)

    assert (run.booked_count, run.rejected_count) == (1, 0)
    person = Customer.objects.get()
    assert (person.phone, person.city, person.country) == ("", "", settings.HOUSE_COUNTRY)
    assert SeasonSubscription.objects.get().currency == thursdays.currency


def test_a_refused_address_is_logged_without_it_and_the_others_still_get_their_notice(
    box_office, thursdays, monkeypatch, caplog
):
    content = csv_file(
        [
            row("T1", "gone.away@example.se", "Gone", "Away"),
            row("T2", "erik.lind@example.se", "Erik", "Lind"),
        ]
    )
    run = imports.import_create(agent="Eventim", upload=upload(content), actor=box_office)
    imports.import_run(run_id=run.pk)  # no commit, so no task: the notices wait to be sent
    real_send = EmailMultiAlternatives.send

    def mail_server(message, *args, **kwargs):
        if message.to == ["gone.away@example.se"]:
            # What a server answers for an unknown mailbox: the address is in the error's text.
            raise smtplib.SMTPRecipientsRefused(
                {"gone.away@example.se": (550, b"5.1.1 <gone.away@example.se>: no such user")}
            )
        return real_send(message, *args, **kwargs)

    monkeypatch.setattr(EmailMultiAlternatives, "send", mail_server)
    caplog.set_level(logging.DEBUG)

    assert services.source_notices_send() == 1

    assert [m.to for m in mail.outbox] == [["erik.lind@example.se"]]
    assert "gone.away" not in caplog.text and "Gone" not in caplog.text
    refused = SourceNotice.objects.get(customer__email="gone.away@example.se")
    # Tried again once the claim times out (the next sweeps), not in a loop now.
    assert refused.sent_at is None and refused.claimed_at is not None
    assert services.source_notices_send() == 0
    SourceNotice.objects.filter(pk=refused.pk).update(
        claimed_at=timezone.now() - services.SOURCE_NOTICE_CLAIM_TIMEOUT - timedelta(minutes=1)
    )
    monkeypatch.setattr(EmailMultiAlternatives, "send", real_send)
    assert services.source_notices_send() == 1
    assert mail.outbox[-1].to == ["gone.away@example.se"]


def test_a_file_larger_than_a_form_body_may_be_is_uploaded_and_imported(
    box_office, client_for, thursdays
):
    # A file part does not count toward DATA_UPLOAD_MAX_MEMORY_SIZE (1 MB): only IMPORT_MAX_BYTES
    # bounds it. Here 1.5 MB: one order and the same order again, thousands of times.
    padding = "x" * 300
    rows = [row("B1", "erik.lind@example.se", "Erik", "Lind")]
    rows += [row("B1", "erik.lind@example.se", street_address=padding)] * 4000
    content = csv_file(rows)
    assert len(content) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE * 1.4

    with committed():
        response = client_for(box_office).post(
            reverse("admin:subscriptions_ticketagentimport_add"),
            {"agent": "Eventim", "file": upload(content)},
        )

    assert response.status_code == 302
    run = TicketAgentImport.objects.get()
    assert (run.status, run.booked_count) == (run.Status.DONE, 1)
    assert Order.objects.count() == 1
