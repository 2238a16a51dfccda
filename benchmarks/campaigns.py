"""Newsletter campaigns: selecting the audience into delivery rows, and the send rate.

The people are generated in PostgreSQL (generate_series), not through the ORM: 100,000 customers
row by row would take minutes to set up a measurement of seconds.
"""

import multiprocessing
import time

from django.conf import settings
from django.db import connections
from django.test.utils import override_settings
from django.utils import timezone

from concerthouse.models import AuditEntry
from consent.models import Consent, NoticeVersion, Purpose
from consent.selectors import notice_current
from customers.models import Customer
from newsletters.campaigns import campaign_prepare_deliveries, campaign_send
from newsletters.models import Campaign, CampaignText, Delivery

from . import BenchmarkError, Result, benchmark, insert_select, smtp_sink, truncate, vacuum_analyze

AUDIENCE = 100_000
AUDIENCE_TARGET_SECONDS = 10
SEND = 3_000
SEND_TARGET_PER_SECOND = 300

# A newsletter of ordinary length: four paragraphs, about 1 kB of text.
BODY = "\n\n".join(
    [
        "This season closes with Mahler's Second Symphony, the Resurrection, with our chorus and "
        "two soloists, on three evenings in May. Tickets for members open a week before general "
        "sale.",
        "Before that, our principal conductor leads an evening of Nordic music: Sibelius, Nielsen "
        "and a new work by a young Norwegian composer, heard here for the first time.",
        "Families are welcome on Saturday mornings: forty-five minutes of music, explained from "
        "the stage, with instruments to try in the foyer afterwards. Children enter free.",
        "The summer programme will be announced in our next letter. As always, you can change "
        "which letters you receive, or stop them, through the links below.",
    ]
)


def _insert_people(prefix: str, count: int, **columns: str) -> None:
    """`count` customers bench-<prefix>-<n>@example.invalid, with languages, countries and names
    mixed like a Nordic house's register; `columns` adds or replaces SQL expressions."""
    insert_select(
        Customer,
        {
            "email": "%s || n || '@example.invalid'",
            "first_name": "(ARRAY['Anna', 'Erik', 'Ingrid', 'Lars', 'Sofia', 'Ola'])[1 + n %% 6]",
            "last_name": "'Person ' || n",
            "phone": "'+4670' || lpad(n::text, 7, '0')",
            "preferred_language": "(ARRAY['sv', 'nb', 'en'])[1 + n %% 3]",
            "country": "(ARRAY['SE', 'NO', 'GB'])[1 + n %% 3]",
            "source": "'web_signup'",
            "last_activity_at": "now() - n * interval '1 minute'",
            **columns,
        },
        source="generate_series(1, %s) AS n",
        params=[f"bench-{prefix}-", count],
    )


def _add_consents(purpose: Purpose, prefix: str, state: str, *, every: int = 1) -> None:
    """A consent in `state` to `purpose`, on its current English wording, for every `every`-th
    person generated under `prefix`."""
    notice = notice_current(purpose=purpose, language="en")
    values = {
        "customer_id": "id",
        "purpose_id": "%s",
        "state": "%s",
        "notice_id": "%s",
        "changed_at": "now()",
    }
    if state != Consent.State.PENDING:
        values["confirmed_at"] = "now() - interval '1 day'"
    insert_select(
        Consent,
        values,
        source=f"{Customer._meta.db_table} WHERE email LIKE %s AND id %% %s = 0",
        params=[purpose.pk, state, notice.pk, f"bench-{prefix}-%", every],
    )


def _campaign(purpose: Purpose, name: str, languages) -> Campaign:
    campaign = Campaign.objects.create(
        name=name, purpose=purpose, status=Campaign.Status.SCHEDULED, scheduled_at=timezone.now()
    )
    CampaignText.objects.bulk_create(
        CampaignText(
            campaign=campaign, language=language, subject="The season's last concerts", body=BODY
        )
        for language in languages
    )
    return campaign


@benchmark
def audience_selection() -> Result:
    """campaign_prepare_deliveries: the audience query and the INSERT of its delivery rows."""
    truncate(Customer, Campaign, AuditEntry)
    news = Purpose.objects.get(code="news")
    offers = Purpose.objects.get(kind=Purpose.Kind.OFFERS)
    tracking = Purpose.objects.get(kind=Purpose.Kind.OPEN_TRACKING)

    # The audience, with other consents beside the newsletter's as real people have.
    _insert_people("audience", AUDIENCE)
    _add_consents(news, "audience", Consent.State.CONFIRMED)
    _add_consents(offers, "audience", Consent.State.CONFIRMED, every=3)
    _add_consents(tracking, "audience", Consent.State.CONFIRMED, every=2)
    # People the query must leave out: each is one rule of the audience.
    _insert_people("pending", 10_000)  # signed up, never clicked the confirmation link
    _add_consents(news, "pending", Consent.State.PENDING)
    _insert_people("withdrawn", 5_000)
    _add_consents(news, "withdrawn", Consent.State.WITHDRAWN)
    _insert_people(
        "restricted",
        1_000,
        restricted_at="now()",
        restriction_ground=f"'{Customer.RestrictionGround.ACCURACY_CONTESTED}'",
    )
    _add_consents(news, "restricted", Consent.State.CONFIRMED)
    _insert_people("objecting", 1_000, marketing_objection_at="now()")
    _add_consents(news, "objecting", Consent.State.CONFIRMED)
    _insert_people("offers-only", 20_000)  # on another list only
    _add_consents(offers, "offers-only", Consent.State.CONFIRMED)
    vacuum_analyze(Customer, Consent, Delivery)
    campaign = _campaign(news, "Benchmark: audience selection", ["en"])

    started = time.perf_counter()
    created = campaign_prepare_deliveries(campaign)
    elapsed = time.perf_counter() - started

    if created != AUDIENCE:
        raise BenchmarkError(f"{created:,} delivery rows instead of {AUDIENCE:,}")
    outsiders = campaign.deliveries.exclude(customer__email__startswith="bench-audience-")
    if outsiders.exists():
        raise BenchmarkError("people outside the audience got a delivery row")
    return Result(
        label=f"campaign audience + delivery rows, {AUDIENCE:,} consenting people (PostgreSQL)",
        value=elapsed,
        unit="s",
        target=AUDIENCE_TARGET_SECONDS,
    )


def _sender(campaign_id: int, results) -> None:
    """One worker process's share of a campaign."""
    try:
        results.put(campaign_send(campaign_id=campaign_id))
    finally:
        connections.close_all()


@benchmark
def send_rate() -> Result:
    """campaign_send: claiming batches, rendering each message, SMTP, marking the rows sent."""
    truncate(Customer, Campaign, AuditEntry)
    # A list of its own, so that this audience is exactly the people generated here.
    purpose, _created = Purpose.objects.get_or_create(
        code="bench-send",
        defaults={"kind": Purpose.Kind.NEWSLETTER, "name": "Benchmark newsletter"},
    )
    for language in ("sv", "nb", "en"):
        NoticeVersion.objects.get_or_create(
            purpose=purpose,
            language=language,
            version=1,
            defaults={"label": "Benchmark newsletter", "text": "Generated by `manage.py bench`."},
        )
    tracking = Purpose.objects.get(kind=Purpose.Kind.OPEN_TRACKING)
    _insert_people("send", SEND)
    _add_consents(purpose, "send", Consent.State.CONFIRMED)
    # Half get the open pixel, so that both kinds of message are part of the rate.
    _add_consents(tracking, "send", Consent.State.CONFIRMED, every=2)
    vacuum_analyze(Customer, Consent, Delivery)
    campaign = _campaign(purpose, "Benchmark: send rate", ["sv", "nb", "en"])
    if campaign_prepare_deliveries(campaign) != SEND:
        raise BenchmarkError("the audience is not the people generated for it")

    with (
        smtp_sink() as sink,
        override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=sink.port,
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_TIMEOUT=30,  # a stalled sink fails the benchmark instead of hanging it
        ),
    ):
        # As deployed: NEWSLETTER_SENDERS tasks share the campaign, each in its own worker
        # process (celery worker --concurrency). Forked here, after the settings are overridden
        # and with no open database connection for the children to inherit.
        connections.close_all()
        senders = settings.NEWSLETTER_SENDERS
        results = multiprocessing.get_context("fork").Queue()
        processes = [
            multiprocessing.get_context("fork").Process(target=_sender, args=(campaign.pk, results))
            for _ in range(senders)
        ]
        started = time.perf_counter()
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        elapsed = time.perf_counter() - started
        sent = sum(results.get(timeout=5) for _ in processes)
        received = sink.received

    if not sent == received == SEND:
        raise BenchmarkError(f"{sent:,} sent and {received:,} received, not {SEND:,}")
    deliveries = campaign.deliveries
    if deliveries.exclude(status=Delivery.Status.SENT).exists():
        raise BenchmarkError("delivery rows left unsent")
    if deliveries.filter(tracked=True).count() != SEND // 2:
        raise BenchmarkError("the open pixel went to the wrong people")
    return Result(
        label=f"campaign send to local SMTP sink, {SEND:,} messages, {senders} sender{'s' if senders > 1 else ''}",
        value=sent / elapsed,
        unit="msg/s",
        target=SEND_TARGET_PER_SECOND,
        higher_is_better=True,
    )
