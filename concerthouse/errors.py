"""The error pages: 400 (and 413), 403 (and a failed CSRF check), 404, 429 and 500.

Translated, and showing nothing of the request: no path, no data sent, no exception text, no stack
trace. The language links lead to the home pages, not to the address asked for (which may hold
anything the visitor typed). 500.html is rendered without a request or context processors, since
whatever failed may be among them.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.urls import reverse
from django.utils import translation
from django.views.decorators.csrf import requires_csrf_token


def _home_links() -> list[tuple[str, str, str]]:
    links = []
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            links.append((code, translation.get_language_info(code)["name_local"], reverse("home")))
    return links


def _page(request, template: str, *, status: int, **context):
    return render(request, template, {"language_links": _home_links(), **context}, status=status)


@requires_csrf_token
def bad_request(request, exception=None, *, too_large: bool | None = None):
    if too_large is None:
        too_large = isinstance(exception, RequestDataTooBig)
    return _page(request, "400.html", status=413 if too_large else 400, too_large=too_large)


@requires_csrf_token
def permission_denied(request, exception=None):
    return _page(request, "403.html", status=403)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: the form is refused; the reason is Django's, for a developer only."""
    return _page(request, "403.html", status=403, csrf=True)


@requires_csrf_token
def page_not_found(request, exception=None):
    return _page(request, "404.html", status=404)


def too_many_requests(request, *, retry_after: int):
    response = _page(request, "429.html", status=429, retry_tomorrow=retry_after > 3600)
    response["Retry-After"] = str(retry_after)
    return response


def server_error(request):
    try:
        body = loader.get_template("500.html").render(
            {"house_name": settings.HOUSE_NAME, "house_contact_email": settings.HOUSE_CONTACT_EMAIL}
        )
    except Exception:
        body = "<!DOCTYPE html><title>500</title><h1>500</h1>"
    return HttpResponseServerError(body)
