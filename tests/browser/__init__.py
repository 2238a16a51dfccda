"""Browser tests: Playwright driving Debian's Chromium against the live server."""

from django.contrib.auth import get_user_model

from tests.factories import authenticator_code


def log_in(page, username):
    """Sign in on the staff login page with the password and the authenticator's code."""
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-" + username)
    page.fill("#id_otp_token", authenticator_code(get_user_model().objects.get(username=username)))
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
