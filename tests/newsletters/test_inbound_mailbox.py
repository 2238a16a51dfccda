"""The mailbox reader against a real IMAP server (Dovecot on loopback, over TLS): what each kind
of message that comes back changes in the register, that each is acted on once, and that nothing
hostile stops the reader or is lost."""

import re
from datetime import timedelta
from urllib.parse import unquote

import pytest
import time_machine
from django.core import mail, signing
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from consent.models import Channel, Consent, ConsentEvent
from customers.models import Customer
from newsletters import campaigns, inbound, links, services
from newsletters.models import Campaign, CampaignText, Delivery, InboundMessage, Suppression
from newsletters.tasks import read_mailbox_task
from tests.factories import CustomerFactory, subscribe
from tests.threads import run_at_once

from . import inbound_messages as messages

FOLDER = "Registry-{}".format


def send_campaign(purpose, name="Spring"):
    campaign = Campaign.objects.create(
        name=name,
        purpose=purpose,
        status=Campaign.Status.SCHEDULED,
        scheduled_at=timezone.now() - timedelta(seconds=1),
    )
    CampaignText.objects.create(
        campaign=campaign, language="en", subject="Spring season", body="Hello.\n\nTickets now."
    )
    mail.outbox.clear()
    campaigns.campaign_send(campaign_id=campaign.pk)
    return {message.to[0]: message for message in mail.outbox}


def return_path_of(sent, address):
    return sent[address].from_email


def mailto_subject(message):
    mailto = re.search(r"<(mailto:[^>]+)>", message.extra_headers["List-Unsubscribe"]).group(1)
    return unquote(mailto.split("subject=", 1)[1])


def read_mailbox():
    return read_mailbox_task.delay().get()


@pytest.fixture
def marta(news, family_list):
    return subscribe(
        CustomerFactory(email="marta@example.se", first_name="Märta", last_name="Ångström"),
        "news",
        "family",
        "offers",
    )


@pytest.fixture
def aase(news):
    return subscribe(
        CustomerFactory(email="ase@example.no", first_name="Åse", last_name="Ødegård"), "news"
    )


@pytest.mark.django_db
def test_a_postfix_hard_bounce_marks_the_address_undeliverable_and_nothing_else(
    mailbox, marta, news
):
    sent = send_campaign(news)
    verp = return_path_of(sent, "marta@example.se")
    mailbox.append(messages.postfix_bounce(return_path=verp, recipient="marta@example.se"))

    assert read_mailbox() == {"hard_bounce": 1}

    delivery = Delivery.objects.get(customer=marta)
    assert delivery.bounce == Delivery.Bounce.HARD
    assert delivery.bounce_status == "5.1.1"
    assert "User unknown" in delivery.bounce_diagnostic and delivery.bounced_at is not None
    marta.refresh_from_db()
    assert marta.email_undeliverable_reason == Customer.UndeliverableReason.HARD_BOUNCE
    assert marta.email_undeliverable_at is not None
    # Not a withdrawal of consent, not a suppression.
    assert Consent.objects.filter(customer=marta, state=Consent.State.CONFIRMED).count() == 3
    assert not services.is_suppressed("marta@example.se")
    assert mailbox.count("INBOX") == 0 and mailbox.count(FOLDER("Hard-bounces")) == 1
    row = InboundMessage.objects.get()
    assert (row.kind, row.outcome, row.moved) == ("dsn", "hard_bounce", True)


@pytest.mark.django_db
def test_an_exchange_online_report_is_a_hard_bounce_too(mailbox, aase, news):
    sent = send_campaign(news)
    mailbox.append(
        messages.exchange_ndr(
            return_path=return_path_of(sent, "ase@example.no"), recipient="ase@example.no"
        )
    )
    read_mailbox()
    delivery = Delivery.objects.get(customer=aase)
    assert (delivery.bounce, delivery.bounce_status) == ("hard", "5.1.10")
    assert "RecipientNotFound" in delivery.bounce_diagnostic
    aase.refresh_from_db()
    assert aase.email_undeliverable


@pytest.mark.django_db
def test_soft_bounces_mark_the_address_only_after_the_configured_count_within_the_window(
    mailbox, settings, aase, news
):
    settings.NEWSLETTER_SOFT_BOUNCE_LIMIT = 3
    for number in range(3):
        sent = send_campaign(news, name=f"Letter {number}")
        mailbox.append(
            messages.exim_bounce(
                return_path=return_path_of(sent, "ase@example.no"), recipient="ase@example.no"
            )
        )
        assert read_mailbox() == {"soft_bounce": 1}
        aase.refresh_from_db()
        # The first two leave the address alone; the third within the window marks it.
        assert aase.email_undeliverable is (number == 2)
    assert aase.email_undeliverable_reason == Customer.UndeliverableReason.SOFT_BOUNCES
    assert set(Delivery.objects.values_list("bounce_status", flat=True)) == {"5.2.2"}
    assert mailbox.count(FOLDER("Soft-bounces")) == 3


@pytest.mark.django_db
def test_soft_bounces_older_than_the_window_do_not_count(mailbox, settings, aase, news):
    settings.NEWSLETTER_SOFT_BOUNCE_LIMIT = 2
    sent = send_campaign(news, name="Old")
    mailbox.append(
        messages.exim_bounce(
            return_path=return_path_of(sent, "ase@example.no"), recipient="ase@example.no"
        )
    )
    read_mailbox()
    Delivery.objects.update(bounced_at=timezone.now() - timedelta(days=31))
    sent = send_campaign(news, name="New")
    mailbox.append(
        messages.exim_bounce(
            return_path=return_path_of(sent, "ase@example.no"), recipient="ase@example.no"
        )
    )
    read_mailbox()
    aase.refresh_from_db()
    assert not aase.email_undeliverable


@pytest.mark.django_db
def test_an_old_exim_plain_text_bounce_is_read_from_its_failed_recipients_header(
    mailbox, aase, news
):
    sent = send_campaign(news)
    mailbox.append(
        messages.exim_plain_bounce(
            return_path=return_path_of(sent, "ase@example.no"), recipient="ase@example.no"
        )
    )
    assert read_mailbox() == {"hard_bounce": 1}
    assert Delivery.objects.get().bounce_status == "5.1.1"


@pytest.mark.django_db
def test_undeliverable_people_get_no_campaign_and_a_new_confirmed_signup_clears_it(
    mailbox, django_capture_on_commit_callbacks, marta, news
):
    sent = send_campaign(news)
    mailbox.append(
        messages.postfix_bounce(
            return_path=return_path_of(sent, "marta@example.se"), recipient="marta@example.se"
        )
    )
    read_mailbox()
    assert send_campaign(news, name="Next") == {}

    with django_capture_on_commit_callbacks(execute=True):
        signup = services.newsletter_signup(
            email="Marta@Example.se",
            language="sv",
            notices=[Consent.objects.filter(customer=marta).first().notice],
        )
    # The confirmation is the one message an undeliverable address still gets: the person asked
    # for it just now, and following its link is what shows the address works again.
    assert [m.to for m in mail.outbox] == [["marta@example.se"]]
    services.signup_confirm(signup=signup)
    marta.refresh_from_db()
    assert not marta.email_undeliverable and marta.email_undeliverable_reason == ""
    assert list(send_campaign(news, name="After")) == ["marta@example.se"]


@pytest.mark.django_db
def test_an_arf_complaint_is_an_unsubscribe_by_the_person_with_the_report_as_evidence(
    mailbox, marta, news
):
    sent = send_campaign(news)
    mailbox.append(messages.arf_report(return_path=return_path_of(sent, "marta@example.se")))

    assert read_mailbox() == {"complaint": 1}

    assert not Consent.objects.filter(
        customer=marta, state__in=[Consent.State.CONFIRMED, Consent.State.PENDING]
    ).exists()
    events = ConsentEvent.objects.filter(customer=marta, action=ConsentEvent.Action.WITHDRAWN)
    assert events.count() == 3
    assert {event.channel for event in events} == {Channel.SPAM_COMPLAINT}
    assert all(event.actor_id is None for event in events)
    for event in events:
        assert re.fullmatch(r"ARF report [0-9a-f]{16}", event.evidence)
        assert "@" not in event.evidence
    assert Suppression.objects.get().reason == Suppression.Reason.COMPLAINED
    assert Delivery.objects.get().complained_at is not None
    marta.refresh_from_db()
    assert not marta.email_undeliverable  # a complaint is not a bounce
    assert mailbox.count(FOLDER("Complaints")) == 1


@pytest.mark.django_db
def test_a_not_spam_report_changes_nothing_and_is_left_for_staff(mailbox, marta, news):
    sent = send_campaign(news)
    mailbox.append(
        messages.arf_report(
            return_path=return_path_of(sent, "marta@example.se"), feedback_type="not-spam"
        )
    )
    assert read_mailbox() == {"staff": 1}
    assert Consent.objects.filter(customer=marta, state=Consent.State.CONFIRMED).count() == 3


@pytest.mark.django_db
def test_a_mail_to_the_unsubscribe_address_withdraws_the_list_it_names_only(mailbox, marta, news):
    sent = send_campaign(news)
    subject = mailto_subject(sent["marta@example.se"])
    mailbox.append(
        messages.unsubscribe_mail(to="dataskydd@example.org", subject=subject),
    )

    assert read_mailbox() == {"unsubscribed": 1}

    states = dict(Consent.objects.filter(customer=marta).values_list("purpose__code", "state"))
    assert states == {"news": "withdrawn", "family": "confirmed", "offers": "confirmed"}
    event = ConsentEvent.objects.get(customer=marta, action=ConsentEvent.Action.WITHDRAWN)
    assert event.channel == Channel.MAIL_UNSUBSCRIBE and "@" not in event.evidence
    assert mailbox.count(FOLDER("Unsubscribed")) == 1


@pytest.mark.django_db
def test_a_reply_quoting_the_token_in_its_subject_unsubscribes_too(mailbox, marta, news):
    sent = send_campaign(news)
    subject = "Re: " + mailto_subject(sent["marta@example.se"])
    mailbox.append(messages.unsubscribe_mail(to="dataskydd@example.org", subject=subject))
    assert read_mailbox() == {"unsubscribed": 1}


@pytest.mark.django_db
def test_forged_and_expired_tokens_are_left_for_staff_and_change_nothing(mailbox, marta, news):
    sent = send_campaign(news)
    good = mailto_subject(sent["marta@example.se"]).split()[1]
    value, timestamp, signature = good.split(":")
    forged = f"{value}:{timestamp}:{'A' * len(signature)}"
    # Valid when made, read more than NEWSLETTER_MAIL_UNSUBSCRIBE_DAYS (365) later.
    expired = signing.dumps([marta.public_id.hex, "news"], salt=links.MAIL_UNSUBSCRIBE)
    forged_bounce = re.sub(
        r"\.[A-Za-z0-9_-]{43}@", "." + "B" * 43 + "@", return_path_of(sent, "marta@example.se")
    )
    mailbox.append(
        messages.unsubscribe_mail(to="dataskydd@example.org", subject=f"unsubscribe {forged}"),
        messages.unsubscribe_mail(to="dataskydd@example.org", subject=f"unsubscribe {expired}"),
        messages.unsubscribe_mail(to="dataskydd@example.org", subject="please stop"),
        messages.postfix_bounce(return_path=forged_bounce, recipient="marta@example.se"),
        messages.arf_report(return_path=forged_bounce),
    )

    with time_machine.travel(timezone.now() + timedelta(days=400)):
        assert read_mailbox() == {"staff": 5}
    reasons = sorted(InboundMessage.objects.values_list("reason", flat=True))
    assert reasons == [
        "expired_token",
        "forged_return_path",
        "forged_return_path",
        "forged_token",
        "no_token",
    ]
    assert Consent.objects.filter(customer=marta, state=Consent.State.CONFIRMED).count() == 3
    marta.refresh_from_db()
    assert not marta.email_undeliverable and not Delivery.objects.get().bounce
    assert mailbox.count(FOLDER("For-staff")) == 5


@pytest.mark.django_db
def test_an_automatic_reply_changes_nothing_and_is_kept(mailbox, marta, news):
    sent = send_campaign(news)
    mailbox.append(messages.out_of_office(to=return_path_of(sent, "marta@example.se")))
    assert read_mailbox() == {"no_action": 1}
    assert mailbox.count(FOLDER("No-action")) == 1
    assert Consent.objects.filter(customer=marta, state=Consent.State.CONFIRMED).count() == 3


@pytest.mark.django_db
def test_a_delay_notice_is_not_a_bounce(mailbox, aase, news):
    sent = send_campaign(news)
    delayed = messages.postfix_bounce(
        return_path=return_path_of(sent, "ase@example.no"), recipient="ase@example.no"
    ).replace(b"Action: failed", b"Action: delayed")
    mailbox.append(delayed)
    assert read_mailbox() == {"no_action": 1}
    assert Delivery.objects.get().bounce == ""


@pytest.mark.django_db
def test_a_bounce_of_a_booking_confirmation_is_matched_by_its_signed_return_path(
    mailbox, settings, aase
):
    """Mail that is no campaign's carries a return path signed for its one recipient
    (concerthouse/mail_backend.py): a bounce whose Final-Recipient is that address is certain."""
    from concerthouse import return_path

    verp = return_path.for_address("ase@example.no")
    other = return_path.for_address("someone-else@example.no")
    mailbox.append(
        messages.postfix_bounce(return_path=verp, recipient="ase@example.no"),
    )
    assert read_mailbox() == {"hard_bounce": 1}
    aase.refresh_from_db()
    assert aase.email_undeliverable

    # A report that names another address than the one the return path was made for is not.
    erik = CustomerFactory(email="erik@example.se")
    mailbox.append(messages.postfix_bounce(return_path=other, recipient="erik@example.se"))
    assert read_mailbox() == {"staff": 1}
    erik.refresh_from_db()
    assert not erik.email_undeliverable
    assert InboundMessage.objects.filter(reason="recipient_not_certain").count() == 1


@pytest.mark.django_db
def test_hostile_and_broken_messages_are_left_for_staff_and_never_stop_the_reader(
    mailbox, marta, news
):
    sent = send_campaign(news)
    verp = return_path_of(sent, "marta@example.se")
    huge = (
        b"From: x@example.net\r\nTo: dataskydd@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
        b"see attachment\r\n--b\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + (
            b"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n"
            * 80_000
        )
        + b"--b--\r\n"
    )
    broken_mime = (
        b"From: x@example.net\r\nTo: "
        + verp.encode()
        + b"\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="nope"\r\n\r\n'
        b"--nope\r\nContent-Type: message/delivery-status\r\n\r\n\r\n\r\n--wrong\r\n\x00\xff\xfe"
    )
    wrong_charset = (
        b"From: =?x-klingon?b?AAAA?= <x@example.net>\r\nTo: dataskydd@example.org\r\n"
        b"Subject: =?utf-8?b?invalid base64?= \xe5\xe4\xf6\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n=E5=E4=F6 =ZZ\r\n"
    )
    garbage = b"\x00\x01\x02 not a message at all \xff" * 100
    good = messages.postfix_bounce(return_path=verp, recipient="marta@example.se")
    mailbox.append(huge, broken_mime, wrong_charset, garbage, good)

    assert read_mailbox() == {"staff": 4, "hard_bounce": 1}

    assert InboundMessage.objects.get(reason="too_large").outcome == "staff"
    assert mailbox.count(FOLDER("For-staff")) == 4 and mailbox.count("INBOX") == 0
    marta.refresh_from_db()
    assert marta.email_undeliverable  # the good one in the same batch was acted on


@pytest.mark.django_db
def test_a_second_run_acts_on_nothing_and_the_management_command_says_so(
    mailbox, capsys, marta, news
):
    sent = send_campaign(news)
    mailbox.append(messages.arf_report(return_path=return_path_of(sent, "marta@example.se")))
    call_command("read_mailbox")
    assert "Complaint" in capsys.readouterr().out
    call_command("read_mailbox")
    assert "The mailbox is empty." in capsys.readouterr().out
    assert ConsentEvent.objects.filter(action=ConsentEvent.Action.WITHDRAWN).count() == 3


@pytest.mark.django_db
def test_a_reader_that_died_after_acting_is_followed_by_one_that_only_moves_the_message(
    mailbox, settings, marta, news
):
    sent = send_campaign(news)
    mailbox.append(messages.arf_report(return_path=return_path_of(sent, "marta@example.se")))
    # The first reader acts and commits, then dies before it moves the message.
    with inbound.mailbox_open() as box:
        (uid,) = box.uids()
        parsed = inbound.classify(box.bodies([uid])[uid])
        name = f"{box.address.user}@{box.address.host}/{box.address.mailbox}"
        inbound.process_batch(mailbox=name, uidvalidity=box.uidvalidity, messages={uid: parsed})
    assert mailbox.count("INBOX") == 1
    events = ConsentEvent.objects.filter(action=ConsentEvent.Action.WITHDRAWN).count()
    # While it might still be alive, its message is its own to move.
    assert read_mailbox() == {}
    assert mailbox.count("INBOX") == 1
    InboundMessage.objects.update(processed_at=timezone.now() - timedelta(minutes=10))

    assert read_mailbox() == {"complaint": 1}

    assert ConsentEvent.objects.filter(action=ConsentEvent.Action.WITHDRAWN).count() == events
    assert InboundMessage.objects.get().moved
    assert mailbox.count(FOLDER("Complaints")) == 1 and mailbox.count("INBOX") == 0


@pytest.mark.django_db
def test_without_a_mailbox_configured_the_task_does_nothing(settings):
    settings.INBOUND_MAIL_URL = ""
    assert read_mailbox() == {}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_readers_at_once_act_on_each_message_once(mailbox, news):
    if connection.vendor != "postgresql":
        pytest.skip("needs a server database with concurrent connections (PostgreSQL)")
    people = [subscribe(CustomerFactory(email=f"fan{n}@example.se"), "news") for n in range(24)]
    sent = send_campaign(news)
    for number, person in enumerate(people):
        verp = return_path_of(sent, person.email)
        if number % 3 == 0:
            mailbox.append(messages.arf_report(return_path=verp))
        elif number % 3 == 1:
            mailbox.append(messages.postfix_bounce(return_path=verp, recipient=person.email))
        else:
            mailbox.append(messages.exim_bounce(return_path=verp, recipient=person.email))

    _results, errors = run_at_once(lambda: inbound.mailbox_read(batch_size=5))

    assert errors == []
    assert InboundMessage.objects.count() == 24
    # Each complaint withdrew once, each bounce was recorded once, and every message was moved.
    assert ConsentEvent.objects.filter(action=ConsentEvent.Action.WITHDRAWN).count() == 8
    assert Delivery.objects.filter(bounce="hard").count() == 8
    assert Delivery.objects.filter(bounce="soft").count() == 8
    assert Customer.objects.filter(email_undeliverable_at__isnull=False).count() == 8
    from concerthouse.models import AuditEntry

    assert AuditEntry.objects.filter(action="customer.email_undeliverable").count() == 8
    assert AuditEntry.objects.filter(action="newsletter.complaint_received").count() == 8
    assert mailbox.count("INBOX") == 0
    assert mailbox.count(FOLDER("Complaints")) == 8
    assert mailbox.count(FOLDER("Hard-bounces")) == 8
    assert mailbox.count(FOLDER("Soft-bounces")) == 8
