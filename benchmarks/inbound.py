"""The mailbox reader (newsletters/inbound.py): 10,000 bounces read from a real IMAP server.

A Dovecot of the benchmark's own on loopback (tests/dovecot.py), over TLS as in production. The
bounces are written straight into its Maildir (setting up is not what is measured); the reader
then lists, fetches, parses, claims, records and moves them as it does every minute.
"""

import os
import time

from django.test.utils import override_settings

from concerthouse import return_path
from concerthouse.models import AuditEntry
from consent.models import Purpose
from customers.models import Customer
from newsletters import inbound
from newsletters.models import Campaign, Delivery, InboundMessage
from tests import dovecot
from tests.newsletters import inbound_messages

from . import BenchmarkError, Result, benchmark, insert_select, truncate, vacuum_analyze

BOUNCES = 10_000
TARGET_PER_SECOND = 100


def _deliveries(count: int) -> list[tuple[int, str]]:
    """`count` people, each sent one message of one campaign: (delivery id, address)."""
    insert_select(
        Customer,
        {
            "email": "'bench-bounce-' || n || '@example.invalid'",
            "first_name": "'Märta'",
            "last_name": "'Ångström ' || n",
            "source": "'web_signup'",
        },
        source="generate_series(1, %s) AS n",
        params=[count],
    )
    campaign = Campaign.objects.create(
        name="Benchmark: bounces",
        purpose=Purpose.objects.get(code="news"),
        status=Campaign.Status.SENT,
    )
    insert_select(
        Delivery,
        {"campaign_id": "%s", "customer_id": "id", "status": "'sent'", "sent_at": "now()"},
        source=f"{Customer._meta.db_table} WHERE email LIKE 'bench-bounce-%%'",
        params=[campaign.pk],
    )
    vacuum_analyze(Customer, Delivery)
    return list(Delivery.objects.filter(campaign=campaign).values_list("pk", "customer__email"))


def _fill(server: dovecot.Server, deliveries) -> None:
    """Write the bounces into the user's Maildir, as the local delivery agent would: four in five
    hard (Postfix, Exchange), one in five soft (Exim, a full mailbox)."""
    server.count("INBOX")  # Dovecot makes the Maildir when it is first opened
    maildir = server.base / "mail" / dovecot.USER
    owner = maildir.stat()
    started = int(time.time())
    for number, (delivery_id, address) in enumerate(deliveries):
        verp = return_path.for_delivery(delivery_id)
        if number % 5 == 4:
            message = inbound_messages.exim_bounce(return_path=verp, recipient=address)
        elif number % 2:
            message = inbound_messages.exchange_ndr(return_path=verp, recipient=address)
        else:
            message = inbound_messages.postfix_bounce(return_path=verp, recipient=address)
        path = maildir / "new" / f"{started}.M{number}P{os.getpid()}.bench"
        path.write_bytes(message)
        os.chown(path, owner.st_uid, owner.st_gid)


@benchmark
def read_bounces() -> Result:
    """mailbox_read: list, fetch in batches, parse, claim and record set-wise, move by outcome."""
    if (reason := dovecot.available()) is not None:
        raise BenchmarkError(reason)
    truncate(Customer, Campaign, InboundMessage, AuditEntry)
    deliveries = _deliveries(BOUNCES)
    with dovecot.dovecot_server() as server:
        _fill(server, deliveries)
        with override_settings(INBOUND_MAIL_CA_FILE=server.ca_file):
            started = time.perf_counter()
            counts = inbound.mailbox_read(url=server.url)
            elapsed = time.perf_counter() - started
        left = server.count("INBOX")
    expected = {"hard_bounce": BOUNCES * 4 // 5, "soft_bounce": BOUNCES // 5}
    if counts != expected or left:
        raise BenchmarkError(f"outcomes {counts}, {left} left in the inbox; expected {expected}")
    if Delivery.objects.exclude(bounce="").count() != BOUNCES:
        raise BenchmarkError("not every bounce was recorded on its delivery")
    if Customer.objects.filter(email_undeliverable_at__isnull=False).count() != BOUNCES * 4 // 5:
        raise BenchmarkError("the hard bounces did not mark their addresses")
    return Result(
        label=f"mailbox reader, {BOUNCES:,} bounces from Dovecot over TLS (PostgreSQL)",
        value=BOUNCES / elapsed,
        unit="msg/s",
        target=TARGET_PER_SECOND,
        higher_is_better=True,
    )
