"""Staff sign-in: password and second factor, lock-out, short sessions, sessions that end."""

import io
import logging
import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from concerthouse.models import AuditEntry
from concerthouse.roles import Role
from concerthouse.settings import base
from tests.factories import authenticator_code, make_staff, sign_in

LOGIN = "/admin/login/"
ADMIN = "/admin/"
DASHBOARD = "/dpo/"
pytestmark = pytest.mark.django_db


def log_in(client, user, *, password=None, code=None, next_url=ADMIN):
    return client.post(
        f"{LOGIN}?next={next_url}",
        {
            "username": user.username,
            "password": password or "pw-" + user.username,
            "otp_token": authenticator_code(user) if code is None else code,
            "next": next_url,
        },
    )


def reaches(client, url) -> bool:
    response = client.get(url)
    if response.status_code == 302:
        assert response["Location"].startswith(LOGIN), response["Location"]
        return False
    assert response.status_code == 200, (url, response.status_code)
    return True


def signed_in_messages(response) -> list[str]:
    return [str(e) for e in response.context["form"].non_field_errors()]


# --- the second factor ------------------------------------------------------------------------------


def test_a_password_and_the_code_reach_the_admin_and_the_dashboard(dpo):
    client = Client()
    response = log_in(client, dpo, next_url=DASHBOARD)
    assert response.status_code == 302 and response["Location"] == DASHBOARD
    assert reaches(client, ADMIN) and reaches(client, DASHBOARD)


def test_the_password_alone_signs_nobody_in(dpo):
    client = Client()
    response = log_in(client, dpo, code="")
    assert response.status_code == 200
    assert signed_in_messages(response) == [
        "Please enter the correct username and password for a staff account. "
        "Note that both fields may be case-sensitive."
    ]
    assert not reaches(client, ADMIN) and not reaches(client, DASHBOARD)


def test_a_session_signed_in_by_password_only_reaches_neither_the_admin_nor_the_dashboard(dpo):
    client = Client()
    client.force_login(dpo)  # authenticated, but no device verified in this session
    assert not reaches(client, ADMIN)
    assert not reaches(client, DASHBOARD)
    assert not reaches(client, "/admin/customers/customer/")
    assert not reaches(client, "/dpo/retention/")


def test_a_wrong_code_reads_as_a_wrong_password(dpo):
    wrong_code = log_in(Client(), dpo, code="000000")
    wrong_password = log_in(Client(), dpo, password="not-the-password")
    assert signed_in_messages(wrong_code) == signed_in_messages(wrong_password)


def test_a_code_works_once(marketing):
    code = authenticator_code(marketing)
    first = Client()
    assert log_in(first, marketing, code=code).status_code == 302
    assert reaches(first, ADMIN)

    replayed = Client()
    assert log_in(replayed, marketing, code=code).status_code == 200
    assert not reaches(replayed, ADMIN)
    # The next code the app shows works, once django-otp's pause after a failure has passed.
    with time_machine.travel(timezone.now() + timedelta(seconds=3)):
        assert log_in(replayed, marketing).status_code == 302


def test_an_account_without_an_authenticator_cannot_sign_in(marketing):
    TOTPDevice.objects.filter(user=marketing).delete()
    client = Client()
    assert log_in(client, marketing, code="123456").status_code == 200
    assert not reaches(client, ADMIN)


def test_removing_the_authenticator_ends_the_verified_sessions(marketing):
    client = sign_in(Client(), marketing)
    assert reaches(client, ADMIN)
    TOTPDevice.objects.filter(user=marketing).delete()
    assert not reaches(client, ADMIN)


def test_staff_totp_gives_a_new_key_and_the_old_one_stops_working(marketing):
    old_code = authenticator_code(marketing)
    old_key = TOTPDevice.objects.get(user=marketing).key
    out = io.StringIO()
    call_command("staff_totp", "marketing", stdout=out)

    device = TOTPDevice.objects.get(user=marketing)
    assert device.key != old_key
    assert device.config_url in out.getvalue()  # the otpauth:// link to scan
    if authenticator_code(marketing) != old_code:  # one in a million the keys show the same code
        assert log_in(Client(), marketing, code=old_code).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(seconds=3)):  # the pause after a failure
        assert log_in(Client(), marketing).status_code == 302


# --- lock-out ------------------------------------------------------------------------------------------


def test_five_bad_passwords_leave_the_account_open(box_office):
    for _ in range(5):
        assert log_in(Client(), box_office, password="guess").status_code == 200
    client = Client()
    assert log_in(client, box_office).status_code == 302
    assert reaches(client, ADMIN)


def test_the_sixth_bad_password_locks_the_account(box_office):
    for attempt in range(1, 7):
        response = log_in(Client(), box_office, password=f"guess-{attempt}")
        assert response.status_code == (429 if attempt == 6 else 200), attempt
    assert "locked" in response.content.decode()

    # Now even the right password and code are refused, from any computer.
    client = Client(REMOTE_ADDR="192.0.2.77")
    locked = log_in(client, box_office)
    assert locked.status_code == 429
    assert not reaches(client, ADMIN)
    assert AuditEntry.objects.filter(action="staff.locked_out", actor=box_office).exists()


def test_wrong_codes_count_towards_the_lock_out(box_office):
    for _ in range(6):
        log_in(Client(), box_office, code="000000")
    assert log_in(Client(), box_office).status_code == 429


def test_the_lock_out_ends_after_its_time(box_office):
    for attempt in range(6):
        log_in(Client(), box_office, password=f"guess-{attempt}")
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        client = Client()
        assert log_in(client, box_office).status_code == 302
        assert reaches(client, ADMIN)


def test_guessing_one_password_across_accounts_locks_the_address():
    people = [make_staff(f"staff{n}", Role.MARKETING) for n in range(7)]
    for person in people[:6]:
        log_in(Client(REMOTE_ADDR="198.51.100.9"), person, password="Sommar2026!")
    assert log_in(Client(REMOTE_ADDR="198.51.100.9"), people[6]).status_code == 429
    assert log_in(Client(REMOTE_ADDR="198.51.100.10"), people[6]).status_code == 302


def test_no_username_or_address_in_the_log_of_failures_and_lock_outs(box_office, caplog):
    caplog.set_level(logging.DEBUG)
    for attempt in range(7):
        log_in(Client(REMOTE_ADDR="203.0.113.5"), box_office, password=f"guess-{attempt}")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "AXES" in text  # the lines are there, and say nothing of whom
    assert "boxoffice" not in text and "203.0.113.5" not in text


# --- sessions ----------------------------------------------------------------------------------------


def test_a_deactivated_account_s_sessions_end(box_office):
    client = Client()
    log_in(client, box_office, next_url=DASHBOARD)
    assert reaches(client, ADMIN)
    get_user_model().objects.filter(pk=box_office.pk).update(is_active=False)
    assert not reaches(client, ADMIN)
    assert not reaches(client, "/dpo/requests/register/")


def test_an_account_no_longer_staff_reaches_nothing(dpo):
    client = sign_in(Client(), dpo)
    get_user_model().objects.filter(pk=dpo.pk).update(is_staff=False)
    assert not reaches(client, ADMIN) and not reaches(client, DASHBOARD)


def test_a_password_change_signs_out_every_other_session(marketing):
    laptop, phone = Client(), Client()
    log_in(laptop, marketing)
    log_in(phone, marketing)
    new_password = "Långsam-Cello-Stämning-42"
    response = laptop.post(
        "/admin/password_change/",
        {
            "old_password": "pw-marketing",
            "new_password1": new_password,
            "new_password2": new_password,
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    assert reaches(laptop, ADMIN)  # the session that changed it stays
    assert not reaches(phone, ADMIN)


def test_an_idle_session_ends_after_half_an_hour_and_each_request_renews_it(marketing):
    client = sign_in(Client(), marketing)
    start = timezone.now()
    with time_machine.travel(start + timedelta(minutes=25)):
        assert reaches(client, ADMIN)  # renewed here
    with time_machine.travel(start + timedelta(minutes=50)):
        assert reaches(client, ADMIN)
    with time_machine.travel(start + timedelta(minutes=81)):
        assert not reaches(client, ADMIN)


def test_the_session_cookie_is_http_only_and_ends_with_the_browser(marketing):
    response = log_in(Client(), marketing)
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and not cookie["expires"] and not cookie["max-age"]


# --- passwords -----------------------------------------------------------------------------------------


def test_passwords_are_hashed_with_argon2id():
    with override_settings(PASSWORD_HASHERS=base.PASSWORD_HASHERS):
        assert make_password("Långsam-Cello-Stämning-42").startswith("argon2$argon2id$")


@pytest.mark.parametrize("password", ["kort", "password1234", "123456789012", "marketing-staff"])
def test_weak_passwords_are_refused(marketing, password):
    with override_settings(AUTH_PASSWORD_VALIDATORS=base.AUTH_PASSWORD_VALIDATORS):
        marketing.username = "marketing-staff"
        with pytest.raises(ValidationError):
            validate_password(password, user=marketing)


def test_the_login_page_asks_for_the_code():
    html = Client().get(LOGIN).content.decode()
    assert re.search(r'<input[^>]+name="otp_token"[^>]+autocomplete="one-time-code"', html)


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_a_proxy_the_lock_out_counts_the_visitor_not_the_proxy():
    people = [make_staff(f"staff{n}", Role.MARKETING) for n in range(7)]
    for person in people[:6]:
        proxied = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.9")
        log_in(proxied, person, password="Sommar2026!")
    other_visitor = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.10")
    assert log_in(other_visitor, people[6]).status_code == 302
