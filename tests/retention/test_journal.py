"""The erasure journal: an Art. 17 erasure survives the restore of a database backup."""

import hashlib
import io
import json
import zipfile
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test import TestCase
from django.utils import timezone

from concerthouse.models import AuditEntry, ErasureJournalEntry
from concerthouse.privacy import journal
from consent.models import Consent, ConsentEvent
from consent.selectors import notice_current
from customers.models import Customer
from newsletters.models import Campaign, Delivery, Signup, SignupIntake
from newsletters.services import (
    is_suppressed,
    newsletter_signup,
    signup_intakes_process,
    signup_receive,
)
from privacy_requests import services as privacy
from privacy_requests.models import AccessPackage, PrivacyRequest
from privacy_requests.packages import package_path
from subscriptions import services as subscriptions
from subscriptions.models import Order, Payment, SeasonSubscription
from tests.factories import CustomerFactory, subscribe
from tests.privacy_requests.test_handling import rows_mentioning
from tests.subscriptions.conftest import buyer

pytestmark = pytest.mark.django_db

EMAIL = "marta.angstrom@example.se"
PHONE = "+46701234567"


def committed():
    """Run the on-commit callbacks (the journal task, the answer) as a real commit would."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def verified_request(kind: str, email: str, **fields) -> PrivacyRequest:
    """A request as if sent from the public form and confirmed from its email."""
    with committed():
        request = privacy.privacy_request_submit(kind=kind, email=email, language="sv", **fields)
        return privacy.privacy_request_verify(request=request)


def erase(email: str, dpo) -> PrivacyRequest:
    request = verified_request("erasure", email)
    with committed():
        return privacy.privacy_request_execute(request=request, actor=dpo)


def reapply(*arguments) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("reapply_erasures", *arguments, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def database_dump() -> str:
    out = io.StringIO()
    call_command("dumpdata", use_base_manager=True, stdout=out)
    return out.getvalue()


class Backup:
    """A backup of the whole database, restored as an operator restores one: into emptied tables,
    the erasure journal's table with the rest. The journal file is not in the database."""

    def __init__(self, path):
        self.path = path

    def take(self) -> None:
        call_command("dumpdata", use_base_manager=True, output=str(self.path), verbosity=0)

    def restore(self) -> None:
        # Inside the test's transaction PostgreSQL still holds deferred foreign-key checks, past
        # which it refuses to TRUNCATE: run them now, as a commit would have.
        connection.check_constraints()
        call_command("flush", interactive=False, inhibit_post_migrate=True, verbosity=0)
        call_command("loaddata", str(self.path), verbosity=0)


@pytest.fixture
def backup(tmp_path):
    return Backup(tmp_path / "backup.json")


@pytest.fixture
def marta(thursdays, box_office, news, family_list):
    """Märta with what a person leaves here: a season subscription with its order and payment,
    the consent ledger, a pending newsletter signup and a delivery."""
    subscription = subscriptions.subscription_book(
        series=thursdays,
        seats=2,
        buyer=buyer(EMAIL),
        channel="box_office",
        payment_method="card",
        actor=box_office,
    )
    person = subscribe(subscription.customer, "news")
    newsletter_signup(
        email=EMAIL, language="sv", notices=[notice_current(purpose=family_list, language="sv")]
    )
    campaign = Campaign.objects.create(name="Autumn season", purpose=news)
    Delivery.objects.create(campaign=campaign, customer=person)
    return Customer.objects.get(pk=person.pk)


def rows_of(person) -> dict[str, int]:
    return {
        "subscriptions": SeasonSubscription.objects.filter(customer=person.pk).count(),
        "consent events": ConsentEvent.objects.filter(customer=person.pk).count(),
        "consents": Consent.objects.filter(customer=person.pk).count(),
        "signups": Signup.objects.filter(customer=person.pk).count(),
        "deliveries": Delivery.objects.filter(customer=person.pk).count(),
        "orders": Order.objects.filter(customer=person.pk).count(),
        "audit entries": AuditEntry.objects.filter(
            target_type="customers.customer", target_id=person.public_id
        ).count(),
    }


# --- The journal -------------------------------------------------------------------------------
def test_an_erasure_is_journalled_as_keyed_hashes_in_the_table_and_after_commit_in_the_file(
    dpo, erasure_journal_file, settings
):
    person = CustomerFactory(
        email="Ase.Odegard@Example.no", first_name="Åse", last_name="Ødegård", phone="912 34 567"
    )
    request = verified_request("erasure", "ase.odegard@example.no", name="Åse Ødegård")

    with TestCase.captureOnCommitCallbacks() as callbacks:
        privacy.privacy_request_execute(request=request, actor=dpo)
    entry = ErasureJournalEntry.objects.get()
    # Not in the file before the erasure has committed: a rolled-back erasure leaves no line.
    assert entry.written_at is None and not erasure_journal_file.exists()
    for callback in callbacks:
        callback()

    entry.refresh_from_db()
    assert entry.written_at is not None
    assert entry.person_hash == journal.person_hash(person.public_id)
    assert entry.email_hash == journal.email_hash("ase.odegard@example.no")
    assert entry.email_hash == journal.email_hash(" ASE.Odegard@example.NO ")  # normalised
    assert journal.read_file() == [
        {
            "id": str(entry.id),
            "erased_at": entry.erased_at.isoformat(),
            "person": entry.person_hash,
            "email": entry.email_hash,
        }
    ]
    # Keyed: no plain digest of the values, and another key gives other hashes.
    for value in ("ase.odegard@example.no", str(person.public_id), person.public_id.hex):
        for digest in (hashlib.sha256, hashlib.sha1, hashlib.md5):
            assert digest(value.encode()).hexdigest() not in (entry.person_hash, entry.email_hash)
    settings.BLIND_INDEX_KEY = "another-key"
    assert journal.person_hash(person.public_id) != entry.person_hash
    assert journal.email_hash("ase.odegard@example.no") != entry.email_hash
    # Nothing in clear, in the row or in the file.
    row = json.dumps(
        list(ErasureJournalEntry.objects.values_list()), default=str, ensure_ascii=False
    )
    text = erasure_journal_file.read_text(encoding="utf-8")
    for clear in (
        "ase.odegard",
        "example.no",
        "@",
        "Åse",
        "Ødegård",
        "4791234567",
        str(person.public_id),
        person.public_id.hex,
    ):
        assert clear.lower() not in row.lower(), clear
        assert clear.lower() not in text.lower(), clear


def test_a_refused_erasure_writes_no_journal_entry(dpo, erasure_journal_file):
    CustomerFactory(email="ase@example.no")
    request = verified_request("erasure", "ase@example.no")
    with committed():
        privacy.privacy_request_reject(request=request, actor=dpo, reason="Not the owner.")
    assert not ErasureJournalEntry.objects.exists()
    assert not erasure_journal_file.exists()
    assert Customer.objects.filter(email="ase@example.no").exists()


# --- A restored backup ---------------------------------------------------------------------------
def test_a_restored_backup_is_erased_again_by_reapply_and_a_second_reapply_changes_nothing(
    marta, dpo, backup, erasure_journal_file
):
    public_id = marta.public_id
    before = rows_of(marta)
    assert all(before.values()), before
    access = verified_request("access", EMAIL)
    with committed():
        privacy.privacy_request_execute(request=access, actor=dpo)
    order, payment = Order.objects.get(), Payment.objects.get()
    backup.take()

    erase(EMAIL, dpo)
    entry = ErasureJournalEntry.objects.get()
    assert not Customer.objects.filter(public_id=public_id).exists()
    assert is_suppressed(EMAIL)

    backup.restore()
    # The backup brings everything back, and the journal's table forgets the erasure.
    person = Customer.objects.get(public_id=public_id)
    assert rows_of(person) == before
    assert PrivacyRequest.objects.get(pk=access.pk).email == EMAIL
    assert not is_suppressed(EMAIL)
    assert not ErasureJournalEntry.objects.exists()
    assert len(journal.read_file()) == 1

    out, err = reapply()

    assert "1 erasures in the journal (1 missing from the database, put back)" in out
    assert "1 people erased again" in out
    assert err == ""
    assert not Customer.objects.filter(public_id=public_id).exists()
    assert rows_of(person) == dict.fromkeys(before, 0)
    # The accounting records stay under the bookkeeping hold, no longer linked to the person.
    order.refresh_from_db()
    assert order.customer is None and order.buyer_name == "Märta Ångström"
    assert Payment.objects.get() == payment and payment.order_id == order.pk
    assert is_suppressed(EMAIL)
    access.refresh_from_db()
    assert (access.email, access.name) == ("", "")
    restored = ErasureJournalEntry.objects.get()
    assert (restored.id, restored.person_hash, restored.email_hash) == (
        entry.id,
        entry.person_hash,
        entry.email_hash,
    )
    assert restored.erased_at == entry.erased_at and restored.written_at is not None
    assert len(journal.read_file()) == 1  # not written twice
    assert rows_mentioning([EMAIL, PHONE, str(public_id), public_id.hex]) == []

    state, file = database_dump(), erasure_journal_file.read_text()
    out, err = reapply()

    assert "1 erasures in the journal (0 missing from the database, put back)" in out
    assert "0 people erased again; 0 rows holding an erased address" in out
    assert database_dump() == state
    assert erasure_journal_file.read_text() == file


def test_reapply_erases_the_person_again_and_leaves_her_erasure_request_answerable(
    marta, dpo, backup
):
    """The backup was taken after Märta's erasure request was confirmed and before it was
    carried out. Restored, the request is open again and owes its answer: reapply erases her
    again and keeps the request's address for that answer, as the first erasure did."""
    request = verified_request("erasure", EMAIL, name="Märta Ångström")
    backup.take()
    with committed():
        privacy.privacy_request_execute(request=request, actor=dpo)
    backup.restore()

    out, _err = reapply()

    assert "1 people erased again" in out
    assert not Customer.objects.filter(pk=marta.pk).exists()
    request.refresh_from_db()
    assert (request.state, request.email, request.name, request.customer) == (
        PrivacyRequest.State.OPEN,
        EMAIL,
        "Märta Ångström",
        None,
    )
    # The DPO answers it again, there being nothing left to erase; then it forgets her.
    with committed():
        privacy.privacy_request_execute(request=request, actor=dpo)
    request.refresh_from_db()
    assert request.state == PrivacyRequest.State.COMPLETED
    assert (request.email, request.name) == ("", "")
    # Only the accounting record, under the bookkeeping hold, still names her.
    assert rows_mentioning([EMAIL, "Ångström"]) == ["subscriptions_order.buyer_name: Ångström"]


def test_reapply_anonymises_a_restored_request_made_before_the_person_was_in_the_register(
    dpo, backup
):
    earlier = verified_request("access", EMAIL, name="Märta Ångström")
    with committed():
        privacy.privacy_request_execute(request=earlier, actor=dpo)  # nothing held yet
    backup.take()
    CustomerFactory(email=EMAIL)
    erase(EMAIL, dpo)
    backup.restore()
    assert not Customer.objects.exists()
    assert PrivacyRequest.objects.get(pk=earlier.pk).email == EMAIL

    out, _err = reapply()

    assert "0 people erased again; 1 rows holding an erased address" in out
    earlier.refresh_from_db()
    assert (earlier.email, earlier.name) == ("", "")
    assert rows_mentioning([EMAIL, "Ångström"]) == []


def test_reapply_deletes_a_restored_signup_received_before_the_erasure_not_one_received_after(
    dpo, news, backup, broker_down
):
    """A signup the form received and no worker had recorded yet (the broker was down) holds the
    address itself. Restored with a backup from that moment, it would sign the erased person up
    again; one that arrives after the erasure is someone writing to us anew, and stays."""
    notice = notice_current(purpose=news, language="sv")
    with committed():
        signup_receive(email=EMAIL, language="sv", notice_ids=[notice.pk], first_name="Märta")
    backup.take()
    broker_down()  # the broker is back
    signup_intakes_process()
    erase(EMAIL, dpo)
    backup.restore()
    assert not Customer.objects.exists()
    with time_machine.travel(timezone.now() + timedelta(seconds=5), tick=False):
        # As the form stores it; no worker has recorded it yet.
        newcomer = SignupIntake.objects.create(email=EMAIL, language="sv", notice_ids=[notice.pk])

    out, _err = reapply()

    assert "0 people erased again; 1 rows holding an erased address" in out
    assert list(SignupIntake.objects.values_list("pk", flat=True)) == [newcomer.pk]


def test_reapply_spares_a_person_and_a_request_that_came_with_the_address_after_the_erasure(
    marta, dpo, news
):
    erase(EMAIL, dpo)
    with committed():
        again = newsletter_signup(
            email=EMAIL,
            language="sv",
            notices=[notice_current(purpose=news, language="sv")],
            first_name="Märta",
        )
    later = verified_request("access", EMAIL, name="Märta Ångström")

    out, _err = reapply()

    assert "0 people erased again; 0 rows holding an erased address" in out
    newcomer = Customer.objects.get(pk=again.customer_id)
    assert newcomer.email == EMAIL and newcomer.public_id != marta.public_id
    assert Signup.objects.filter(customer=newcomer).exists()
    later.refresh_from_db()
    assert (later.email, later.name) == (EMAIL, "Märta Ångström")


# --- File and table stand in for each other ------------------------------------------------------
def test_reapply_reads_the_file_when_the_table_lost_the_entry(marta, dpo, tmp_path):
    rows = tmp_path / "customers.json"
    call_command("dumpdata", "customers.customer", output=str(rows), verbosity=0)
    erase(EMAIL, dpo)
    (line,) = journal.read_file()
    ErasureJournalEntry.objects.all().delete()  # a restore rolled the table back
    call_command("loaddata", str(rows), verbosity=0)  # and brought the person back
    assert Customer.objects.filter(public_id=marta.public_id).exists()

    out, _err = reapply()

    assert "(1 missing from the database, put back); 1 people erased again" in out
    assert not Customer.objects.filter(public_id=marta.public_id).exists()
    assert str(ErasureJournalEntry.objects.get().id) == line["id"]
    assert journal.read_file() == [line]


def test_reapply_reads_the_table_when_the_file_is_missing(
    marta, dpo, tmp_path, erasure_journal_file
):
    rows = tmp_path / "customers.json"
    call_command("dumpdata", "customers.customer", output=str(rows), verbosity=0)
    request = verified_request("erasure", EMAIL)
    # The journal task was lost (the broker was down): the entry is in the table only.
    with TestCase.captureOnCommitCallbacks(execute=False):
        privacy.privacy_request_execute(request=request, actor=dpo)
    entry = ErasureJournalEntry.objects.get()
    assert not erasure_journal_file.exists()
    call_command("loaddata", str(rows), verbosity=0)
    assert Customer.objects.filter(public_id=marta.public_id).exists()

    out, err = reapply()

    assert "No journal file" in err
    assert "1 erasures in the journal (0 missing from the database, put back)" in out
    assert "1 people erased again" in out
    assert not Customer.objects.filter(public_id=marta.public_id).exists()
    # And the entry is in the file now, for the next restore.
    assert [line["id"] for line in journal.read_file()] == [str(entry.id)]


# --- Found while writing these tests -------------------------------------------------------------
def test_an_erasure_removes_an_access_package_made_for_the_person_before(marta, dpo):
    access = verified_request("access", EMAIL)
    with committed():
        privacy.privacy_request_execute(request=access, actor=dpo)
    package = AccessPackage.objects.get()
    assert EMAIL.encode() in zipfile.ZipFile(package_path(package)).read("data.json")

    erase(EMAIL, dpo)

    assert not package_path(package).exists()
    assert not AccessPackage.objects.filter(pk=package.pk).exists()


def test_reapply_puts_back_in_the_file_the_entries_the_file_lost(marta, dpo, erasure_journal_file):
    erase(EMAIL, dpo)
    entry = ErasureJournalEntry.objects.get()
    erasure_journal_file.unlink()  # the journal's disk was lost

    reapply()

    assert [line["id"] for line in journal.read_file()] == [str(entry.id)]


def test_a_torn_last_line_in_the_journal_file_does_not_stop_reapply(
    marta, dpo, backup, erasure_journal_file
):
    backup.take()
    erase(EMAIL, dpo)
    with erasure_journal_file.open("a", encoding="utf-8") as file:
        file.write('{"id": "5b0c2e1a-')  # the machine died in the middle of a line
    backup.restore()

    reapply()

    assert not Customer.objects.filter(public_id=marta.public_id).exists()
