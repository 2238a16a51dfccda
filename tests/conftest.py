import email
import email.policy
import os
import shutil
import socket
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections
from django.utils import timezone

from concerthouse.roles import Role
from consent.models import NoticeVersion, Purpose
from customers.models import Customer
from customers.services import customer_set_identifiers
from subscriptions.models import Season, Series
from tests.factories import FODSELSNUMMER, CustomerFactory, make_staff, sign_in

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def news(db):
    """The newsletter list every install starts with (consent.defaults)."""
    return Purpose.objects.get(code="news")


@pytest.fixture
def family_list(db):
    """A second list, made by staff as a house would."""
    purpose = Purpose.objects.create(code="family", kind=Purpose.Kind.NEWSLETTER, name="Family")
    for language, label in (
        ("sv", "Familjekonserter"),
        ("nb", "Familiekonserter"),
        ("en", "Family concerts"),
    ):
        NoticeVersion.objects.create(
            purpose=purpose, language=language, version=1, label=label, text=label + "."
        )
    return purpose


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on loopback (aiosmtpd) that Django's SMTP backend delivers to."""
    controller_module = pytest.importorskip("aiosmtpd.controller")
    handler = CollectingHandler()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = controller_module.Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    handler.port = port
    yield handler
    controller.stop()


class CollectingHandler:
    """Keeps every message the server accepts, parsed, and as it came (bytes and envelope)."""

    def __init__(self):
        self.messages = []
        self.raw = []
        self.envelope_senders = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        self.raw.append(envelope.original_content or envelope.content)
        self.envelope_senders.append(envelope.mail_from)
        return "250 Message accepted"


@pytest.fixture
def mailbox(settings):
    """A Dovecot IMAP server of the test's own on loopback (tests/dovecot.py), over TLS with a
    throwaway certificate the settings trust, and the registry's inbound mailbox pointed at it."""
    from tests import dovecot

    if (reason := dovecot.available()) is not None:
        pytest.skip(f"mailbox test: {reason}")
    with dovecot.dovecot_server() as server:
        settings.INBOUND_MAIL_URL = server.url
        settings.INBOUND_MAIL_CA_FILE = server.ca_file
        yield server


@pytest.fixture(autouse=True)
def private_files(settings, tmp_path):
    """Access packages go to a directory of the test's own."""
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    return settings.PRIVATE_MEDIA_ROOT


@pytest.fixture(autouse=True)
def erasure_journal_file(settings, tmp_path):
    """The erasure journal goes to a file of the test's own, never to the project's private/."""
    settings.ERASURE_JOURNAL_PATH = tmp_path / "journal" / "erasure-journal.jsonl"
    return settings.ERASURE_JOURNAL_PATH


@pytest.fixture(autouse=True)
def source_language():
    """A request through the test client leaves its language active in the thread; every test
    starts from the source language instead of the last page's."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def empty_cache():
    """Rate limits count in the cache: every test starts with none used."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def broker_down(monkeypatch):
    """A broker nobody listens on, and no retries: `delay` fails as it does when Redis is down.
    Call the fixture's value to bring the broker back (tasks run eagerly again)."""
    from concerthouse.celery import app as celery_app

    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
    for name in ("broker_url", "broker_write_url"):
        monkeypatch.setattr(celery_app.conf, name, "redis://127.0.0.1:1/0")
    monkeypatch.setattr(celery_app.conf, "task_publish_retry", False)
    monkeypatch.setattr(celery_app.conf, "broker_connection_timeout", 1)
    # Connection pools are made once per process: start from none, so the new URL is used.
    monkeypatch.setattr(celery_app, "_pool", None)
    monkeypatch.setattr(celery_app.amqp, "_producer_pool", None)

    def back_up():
        monkeypatch.setattr(celery_app.conf, "task_always_eager", True)

    return back_up


@pytest.fixture
def season(db):
    """The season under way."""
    today = timezone.localdate()
    return Season.objects.create(
        name="2026/27", starts_on=today - timedelta(days=60), ends_on=today + timedelta(days=200)
    )


@pytest.fixture
def thursdays(season):
    """A series on sale in the season under way."""
    return Series.objects.create(
        season=season,
        code="thu",
        name="Torsdagsserien",
        price_per_seat=Decimal("1450.00"),
        currency="SEK",
        capacity=100,
    )


@pytest.fixture
def marketing(db):
    return make_staff("marketing", Role.MARKETING)


@pytest.fixture
def box_office(db):
    return make_staff("boxoffice", Role.BOX_OFFICE)


@pytest.fixture
def finance(db):
    return make_staff("finance", Role.FINANCE)


@pytest.fixture
def dpo(db):
    return make_staff("dpo", Role.DPO)


@pytest.fixture
def aase(finance):
    """A Norwegian customer whose national ID and bank account finance has recorded."""
    customer = CustomerFactory(
        email="ase.odegard@example.no", first_name="Åse", last_name="Ødegård", country="NO"
    )
    return customer_set_identifiers(
        customer=customer,
        actor=finance,
        purpose=Customer.IdentifiersPurpose.REFUNDS,
        national_id=FODSELSNUMMER,
        bank_account="8601.11.17947",  # stored compact, as KONTONUMMER
    )


@pytest.fixture
def client_for(client):
    """A test client signed in as the given member of staff, second factor included."""

    def login(user):
        return sign_in(client, user)

    return login


@pytest.fixture
def page(live_server):
    """A Playwright page in Debian's Chromium, pointed at the live server."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"browser test: no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser test: playwright missing")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between page actions are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(15_000)
        yield context.new_page()
        # Under Playwright's event loop, Django's connections belong to the loop's context: close
        # them here, or PostgreSQL cannot drop the test database at the end of the run.
        connections.close_all()
        context.close()
        browser.close()


def pytest_sessionfinish(session, exitstatus):
    # On CI every test must run: a skipped browser or PostgreSQL test fails the run there.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("CI") == "true" and skipped and session.exitstatus == 0:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; every test must run here.")
        session.exitstatus = 1


@pytest.fixture
def recipient_register(db):
    """The processor register of a house that sends email and exports audiences to Meta and
    Google: campaigns and exports are refused to recipients it does not name."""
    from concerthouse.privacy.map import RecipientKind
    from privacy_requests.models import Processor

    def entry(name, kind, code="", **extra):
        return Processor.objects.create(
            name=name,
            role=Processor.Role.PROCESSOR,
            kind=kind,
            recipient_code=code,
            purposes={"en": f"{name}.", "sv": f"{name} (sv).", "nb": f"{name} (nb)."},
            data_categories=["contact"],
            country="SE",
            erasure_contact=f"privacy@{code or kind}.example",
            **extra,
        )

    return {
        "mail": entry("Mail service", RecipientKind.MAIL),
        "meta": entry("Meta", RecipientKind.AD_PLATFORM, "meta"),
        "google": entry("Google", RecipientKind.AD_PLATFORM, "google"),
    }
