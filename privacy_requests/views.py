"""Public pages: the privacy-request form, its verification, the download, the privacy notice."""

from django.conf import settings
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from concerthouse import public_forms, signed_links
from concerthouse.public_forms import Outcome, public_form
from concerthouse.ratelimit import DAY

from . import emails, notice, packages, services
from .forms import PrivacyRequestForm
from .models import AccessPackage, PrivacyRequest

REQUEST = "privacy-request"
VERIFY = "privacy-verify"


@public_form(REQUEST, limit_clients=False)  # counted by the form's outcome()
@never_cache
@require_http_methods(["GET", "POST"])
def request_form(request):
    form = PrivacyRequestForm(request.POST or None)
    outcome = form.outcome(request, scope=REQUEST) if request.method == "POST" else None
    if outcome is Outcome.ACCEPTED:
        data = form.cleaned_data
        services.privacy_request_submit(
            kind=data["kind"],
            email=data["email"],
            name=data["name"],
            language=get_language(),
            details=data["details"],
            wrong_data=data["wrong_data"],
            correct_data=data["correct_data"],
        )
    # Over the per-address limit (HELD) nothing is stored or sent, and the page says the same as
    # always: the limit must not tell anyone whether the address is known.
    if outcome in (Outcome.ACCEPTED, Outcome.TRAPPED, Outcome.HELD):
        return redirect("privacy_requests:sent")
    return render(request, "privacy_requests/request_form.html", {"form": form})


@require_GET
def request_sent(request):
    return render(request, "privacy_requests/request_sent.html")


@public_form(VERIFY)
@never_cache
@require_http_methods(["GET", "POST"])
def verify(request, token):
    """GET shows a button; the POST verifies, so a mail scanner following links cannot."""
    try:
        public_id = signed_links.read(
            token,
            salt=emails.VERIFY,
            max_age_days=settings.PRIVACY_VERIFICATION_DAYS,
        )
        privacy_request = PrivacyRequest.objects.get(public_id=public_id)
    except (signed_links.InvalidLink, PrivacyRequest.DoesNotExist, ValueError):
        return render(request, "privacy_requests/link_invalid.html", status=400)
    if request.method == "POST":
        person = privacy_request.email or privacy_request.public_id.hex
        if not public_forms.person_allowed(VERIFY, person):
            return public_forms.too_many(request, window_seconds=DAY)
        privacy_request = services.privacy_request_verify(request=privacy_request)
    # The same page for a known and an unknown address: nothing about the person is shown.
    return render(request, "privacy_requests/verify.html", {"privacy_request": privacy_request})


@never_cache
@require_GET
def download(request, token):
    try:
        public_id = signed_links.read(
            token, salt=emails.PACKAGE, max_age_days=settings.PRIVACY_PACKAGE_LINK_DAYS
        )
        package = AccessPackage.objects.get(public_id=public_id, expires_at__gt=timezone.now())
    except (signed_links.InvalidLink, AccessPackage.DoesNotExist, ValueError):
        return render(request, "privacy_requests/link_invalid.html", status=400)
    path = packages.package_path(package)
    if not path.exists():
        raise Http404
    AccessPackage.objects.filter(pk=package.pk, downloaded_at__isnull=True).update(
        downloaded_at=timezone.now()
    )
    return FileResponse(path.open("rb"), as_attachment=True, filename="my-data.zip")


@require_GET
def privacy_notice(request):
    return render(request, "privacy_requests/privacy_notice.html", notice.notice_context())
