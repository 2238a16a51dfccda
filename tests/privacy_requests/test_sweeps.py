"""Lost tasks and a broker that is down: the sweeps finish from what the database says is owed."""

import os
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client, TestCase
from django.utils import timezone

from privacy_requests import packages, services
from privacy_requests.models import AccessPackage, PrivacyRequest, RecipientNotice
from privacy_requests.tasks import send_verification_task, sweep_task
from retention.models import Run
from retention.tasks import purge_task
from tests.factories import CustomerFactory, mailed, subscribe

from .conftest import committed, execute


def age(queryset, **fields):
    """Move timestamps back past the sweep's minute of grace."""
    past = timezone.now() - timedelta(minutes=2)
    queryset.update(**{name: past for name in fields})


@pytest.mark.django_db
def test_with_the_broker_down_a_request_is_kept_and_the_sweep_sends_its_link(broker_down):
    with committed():
        response = Client().post(
            "/sv/privacy/request/", {"kind": "access", "email": "ase@example.no"}
        )
    assert response.status_code == 302
    request = PrivacyRequest.objects.get()
    assert request.verification_sent_at is None and mail.outbox == []
    broker_down()  # the broker is back
    assert sweep_task()["verifications"] == 0  # the minute of grace
    age(PrivacyRequest.objects, created_at=True)
    assert sweep_task()["verifications"] == 1
    assert sweep_task()["verifications"] == 0
    assert len(mail.outbox) == 1 and "/sv/privacy/verify/" in mail.outbox[0].body


@pytest.mark.django_db
def test_the_verification_task_run_twice_sends_once():
    with committed():
        request = services.privacy_request_submit(
            kind="access", email="a@example.se", language="en"
        )
    assert send_verification_task(request.pk) is False
    PrivacyRequest.objects.update(verification_sent_at=None)
    assert send_verification_task(request.pk) is True
    assert send_verification_task(request.pk) is False
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_a_lost_answer_and_lost_art_19_notices_are_sent_by_the_sweep(
    open_request, dpo, processors, news
):
    mailed(subscribe(CustomerFactory(email="ase@example.no"), "news"))
    request = open_request("erasure", "ase@example.no")
    # The executor's on-commit tasks are lost: inside the test's transaction they never run.
    services.privacy_request_execute(request=request, actor=dpo)
    request.refresh_from_db()
    assert request.closing_notice_sent_at is None and request.email == "ase@example.no"
    mail.outbox.clear()
    age(PrivacyRequest.objects, closed_at=True)
    age(RecipientNotice.objects, created_at=True)
    assert sweep_task() == {
        "verifications": 0,
        "answers": 1,
        "recipient_notices": 1,
        "breach_messages": 0,
        "orphan_package_files": 0,
    }
    assert set(sweep_task().values()) == {0}
    assert {m.to[0] for m in mail.outbox} == {"ase@example.no", "privacy@mailer.example"}
    request.refresh_from_db()
    # With everything told, the request forgets the address.
    assert request.email == "" and request.contact_redacted_at is not None


@pytest.mark.django_db
def test_packages_are_deleted_after_their_time(open_request, dpo):
    CustomerFactory(email="a@example.se")
    execute(open_request("access", "a@example.se"), dpo)
    execute(open_request("access", "b@example.se"), dpo)
    old, new = AccessPackage.objects.order_by("id")
    AccessPackage.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(1))
    with TestCase.captureOnCommitCallbacks(execute=True):  # the files go once the rows have
        purge_task()
    assert not packages.package_path(old).exists()
    assert packages.package_path(new).exists()
    assert list(AccessPackage.objects.all()) == [new]
    purge_task()
    assert list(AccessPackage.objects.all()) == [new]


def make_old(path, hours: float = 2) -> None:
    then = (timezone.now() - timedelta(hours=hours)).timestamp()
    os.utime(path, (then, then))


def three_expired_packages(open_request, dpo) -> list:
    for n in range(3):
        execute(open_request("access", f"ase{n}@example.no"), dpo)
    AccessPackage.objects.update(expires_at=timezone.now() - timedelta(days=1))
    return [packages.package_path(package) for package in AccessPackage.objects.order_by("id")]


@pytest.mark.django_db
def test_a_package_file_that_cannot_be_removed_keeps_no_other_on_disk(open_request, dpo, caplog):
    paths = three_expired_packages(open_request, dpo)
    stuck = paths[0]
    stuck.unlink()
    stuck.mkdir()  # in the file's place, something unlink cannot remove
    (stuck / "inside").write_bytes(b"x")

    with TestCase.captureOnCommitCallbacks(execute=True):
        purge_task()

    assert Run.objects.get().status == Run.Status.FINISHED  # files are not the run's to fail on
    assert not AccessPackage.objects.exists()
    assert [path.exists() for path in paths] == [True, False, False]
    assert "1 access package file(s) could not be removed" in caplog.text
    assert not any(path.name in caplog.text for path in paths)


@pytest.mark.django_db
def test_package_files_whose_removal_was_lost_are_removed_by_the_sweep(open_request, dpo):
    paths = three_expired_packages(open_request, dpo)
    purge_task()  # its worker dies after the commit: the on-commit removal never runs
    assert not AccessPackage.objects.exists()
    assert all(path.exists() for path in paths)

    # Not while a file may still be a package whose row has not committed.
    assert sweep_task()["orphan_package_files"] == 0
    for path in paths:
        make_old(path)
    assert sweep_task()["orphan_package_files"] == 3
    assert not any(path.exists() for path in paths)
    assert sweep_task()["orphan_package_files"] == 0


@pytest.mark.django_db
def test_the_sweep_leaves_alone_a_package_whose_row_is_there_and_a_file_being_written(
    open_request, dpo
):
    execute(open_request("access", "ase@example.no"), dpo)
    (package,) = AccessPackage.objects.all()
    kept = packages.package_path(package)
    being_written = kept.with_name("not-yet-committed.zip")
    being_written.write_bytes(b"PK")
    make_old(kept, hours=24 * 20)

    assert sweep_task()["orphan_package_files"] == 0

    assert kept.exists() and being_written.exists()
