"""In a real browser: no page breaks its own Content-Security-Policy, and none fetches anything from
another site. Chromium reports every blocked script, style or image on the console."""

from urllib.parse import urlsplit

import pytest

from tests.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PUBLIC = [
    "/sv/",
    "/nb/newsletter/",
    "/en/preferences/",
    "/sv/subscriptions/",
    "/nb/privacy/",
    "/en/privacy/request/",
    "/sv/newsletter/confirm/not-a-token/",
]
STAFF = [
    "/admin/",
    "/admin/customers/customer/",
    "/admin/customers/customer/add/",
    "/admin/subscriptions/seasonsubscription/",
    "/dpo/",
    "/dpo/retention/",
    "/dpo/record/",
    "/dpo/processors/",
    "/dpo/requests/register/",
]


@pytest.fixture
def watched(page, live_server):
    """The page, with every console report of a blocked resource and every foreign request."""
    seen = {"violations": [], "foreign": []}
    here = urlsplit(live_server.url).netloc
    page.on(
        "console",
        lambda message: (
            "Content Security Policy" in message.text and seen["violations"].append(message.text)
        ),
    )
    page.on(
        "request",
        lambda request: (
            urlsplit(request.url).scheme in ("http", "https")
            and urlsplit(request.url).netloc != here
            and seen["foreign"].append(request.url)
        ),
    )
    return page, seen


def test_the_public_pages_keep_their_policy_and_stay_on_this_site(watched):
    page, seen = watched
    for url in PUBLIC:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        # The stylesheet applied: CSP would have blocked an inline one, not this.
        assert page.evaluate("document.styleSheets.length") >= 1, url
    assert seen == {"violations": [], "foreign": []}


def test_the_admin_and_the_dpo_dashboard_keep_their_policy(watched, dpo):
    page, seen = watched
    log_in(page, "dpo")
    for url in STAFF:
        page.goto(url)
        page.wait_for_load_state("networkidle")
    assert seen == {"violations": [], "foreign": []}
