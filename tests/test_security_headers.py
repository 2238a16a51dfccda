"""Every response carries the security headers; production passes `check --deploy`; no page loads
anything from a third party; names with markup in them render as text for staff."""

import re
import subprocess
import sys
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.test import Client, override_settings

from concerthouse.settings import base
from privacy_requests import services as privacy_services
from privacy_requests.models import PrivacyRequest
from tests.factories import CustomerFactory
from tests.test_settings import PRODUCTION, ROOT, load_settings

pytestmark = pytest.mark.django_db

# Every public page, in each language where it has one, and the pages an invalid link leads to.
PUBLIC_PAGES = [
    f"/{language}{path}"
    for language in ("sv", "nb", "en")
    for path in (
        "/",
        "/newsletter/",
        "/newsletter/thanks/",
        "/newsletter/confirm/not-a-token/",
        "/preferences/",
        "/preferences/not-a-token/",
        "/unsubscribe/not-a-token/",
        "/subscriptions/",
        "/subscriptions/booked/not-a-token/",
        "/privacy/",
        "/privacy/request/",
        "/privacy/request/sent/",
        "/privacy/verify/not-a-token/",
        "/privacy/download/not-a-token/",
        "/no-such-page/",
    )
] + ["/", "/health/", "/o/not-a-token.gif", "/admin/login/", "/dpo/", "/static/css/site.css"]

HSTS = {"SECURE_HSTS_SECONDS": 31536000, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True}


def header_values() -> dict[str, str]:
    return {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'; object-src 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    }


@override_settings(**HSTS)
@pytest.mark.parametrize("url", PUBLIC_PAGES)
def test_every_page_carries_the_security_headers(url):
    response = Client().get(url, secure=True)
    assert response.status_code in (200, 302, 400, 404), response.status_code
    for name, value in header_values().items():
        assert response.headers.get(name) == value, (url, name)
    permissions = response.headers["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "browsing-topics"):
        assert f"{feature}=()" in permissions


@override_settings(**HSTS)
def test_a_form_post_answer_carries_them_too():
    response = Client().post("/en/newsletter/", {"email": "not an address"}, secure=True)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["X-Frame-Options"] == "DENY"


class References(HTMLParser):
    """Every address a page makes the browser fetch or send to."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self.style_attributes = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            if attributes.get(name):
                self.urls.append(attributes[name])
        if tag == "script" and not attributes.get("src"):
            self.inline_scripts += 1
        if "style" in attributes or any(name.startswith("on") for name in attributes):
            self.style_attributes += 1


def test_no_public_page_refers_to_another_site_or_runs_inline_script():
    for url in PUBLIC_PAGES:
        response = Client().get(url)
        if "text/html" not in response.get("Content-Type", ""):
            continue
        page = References()
        page.feed(response.content.decode())
        fetched = [u for u in page.urls if not u.startswith(("mailto:", "tel:", "#"))]
        assert [u for u in fetched if urlsplit(u).netloc not in ("", "testserver")] == [], url
        assert page.inline_scripts == 0 and page.style_attributes == 0, url


def test_the_staff_pages_run_no_inline_script(client_for, dpo):
    client = client_for(dpo)
    for url in (
        "/admin/",
        "/admin/customers/customer/",
        "/dpo/",
        "/dpo/retention/",
        "/dpo/record/",
    ):
        page = References()
        page.feed(client.get(url).content.decode())
        assert page.inline_scripts == 0 and page.style_attributes == 0, url


def test_the_cookies_cannot_be_read_by_script(client):
    response = client.get("/en/newsletter/")
    assert response.cookies["csrftoken"]["httponly"]
    assert response.cookies["csrftoken"]["samesite"] == "Lax"


# --- production -------------------------------------------------------------------------------------

STRONG_SECRETS = {
    **PRODUCTION,
    "SECRET_KEY": "k7#Qm2vX9-pL4wZ8nR1tY6uB3eH5jD0sF@aG&cV*xN!oI%yM^Tq8rW3zE6",
    "BLIND_INDEX_KEY": "Zr8Lq2Wm5Xn9Vb3Kt7Jh1Gf4Ds6Ap0Yc",
}


def test_check_deploy_is_clean_with_the_production_settings():
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "concerthouse.settings.production"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**env, **STRONG_SECRETS},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def production_value(expression: str, environment=None) -> str:
    script = f"import django; django.setup(); from django.conf import settings; print({expression})"
    env = {**STRONG_SECRETS, **(environment or {})}
    result = load_settings("concerthouse.settings.production", env)
    assert result.stdout.strip() == "started", result.stderr
    completed = subprocess.run(  # noqa: S603 (the test's own script)
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "concerthouse.settings.production"}
        | env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def test_production_requires_the_second_factor_whatever_the_environment_says():
    flag = production_value(
        "settings.STAFF_REQUIRE_SECOND_FACTOR", {"STAFF_REQUIRE_SECOND_FACTOR": "false"}
    )
    assert flag == "True"


def test_production_cookies_are_secure_host_only_and_hashes_argon2():
    values = production_value(
        "settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, settings.SESSION_COOKIE_NAME,"
        " settings.CSRF_COOKIE_NAME, settings.PASSWORD_HASHERS[0], settings.SECURE_HSTS_SECONDS"
    )
    assert values == (
        "True True __Host-sessionid __Host-csrftoken "
        "django.contrib.auth.hashers.Argon2PasswordHasher 31536000"
    )
    assert base.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


# --- markup in names ----------------------------------------------------------------------------------

MARKUP = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_names_with_markup_render_as_text_in_the_admin_and_the_dashboard(client_for, dpo):
    # Such a name can come from a ticket agent's file or a staff member's typing.
    customer = CustomerFactory(first_name=MARKUP, last_name="Ångström" + MARKUP)
    privacy_services.privacy_request_submit(
        kind="access", email=customer.email, name=MARKUP, language="sv"
    )
    request = PrivacyRequest.objects.get()
    client = client_for(dpo)
    showing_the_name = [
        "/admin/customers/customer/",
        f"/admin/customers/customer/?q={customer.email}",
        f"/admin/customers/customer/{customer.pk}/change/",
        f"/dpo/requests/{request.public_id}/",
    ]
    for url in [
        *showing_the_name,
        "/dpo/?state=",
        f"/admin/customers/customer/{customer.pk}/history/",
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html, url
        if url in showing_the_name:
            assert re.search(r"&lt;script&gt;alert\((&quot;|&#x27;|&#34;)x", html), url
