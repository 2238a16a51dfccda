"""Public pages: signup, confirmation, preference centre, one-click unsubscribe, the open pixel.

None of them needs a login; the signed token in the URL is the authority, and none of them says
whether an address is known.
"""

import base64

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from concerthouse import public_forms, signed_links
from concerthouse.public_forms import Outcome, public_form
from concerthouse.ratelimit import DAY
from consent.models import Consent, Purpose
from consent.selectors import notices_current
from customers.models import Customer

from . import campaigns, links, services
from .forms import EmailForm, OptInAgainForm, PreferencesForm, SignupForm
from .models import Signup

# A transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _invalid_link(request, *, expired_help: str = "signup"):
    return render(request, "newsletters/link_invalid.html", {"next": expired_help}, status=400)


# Rate-limit scopes (concerthouse/public_forms.py): each form counts apart.
SIGNUP = "newsletter-signup"
CONFIRM = "newsletter-confirm"
PREFERENCES = "newsletter-preferences"
PREFERENCE_LINK = "newsletter-preference-link"
UNSUBSCRIBE = "newsletter-unsubscribe"


@public_form(SIGNUP, limit_clients=False)  # counted by the form's outcome()
@never_cache
@require_http_methods(["GET", "POST"])
def signup(request):
    form = SignupForm(request.POST or None, language=get_language())
    outcome = form.outcome(request, scope=SIGNUP) if request.method == "POST" else None
    if outcome in (Outcome.TRAPPED, Outcome.HELD):
        return _signup_done()  # the same answer; nothing stored or sent
    if outcome is Outcome.ACCEPTED:
        data = form.cleaned_data
        try:
            services.signup_receive(
                email=data["email"],
                language=data["language"],
                notice_ids=form.chosen_notice_ids(),
                first_name=data["first_name"],
                last_name=data["last_name"],
            )
        except ValidationError as error:
            form.add_error(None if hasattr(error, "error_dict") else "email", error)
        else:
            # The same page whether the address was new, pending or already confirmed.
            return _signup_done()
    return render(request, "newsletters/signup.html", {"form": form})


def _signup_done():
    return redirect("newsletters:signup_done")


@require_GET
def signup_done(request):
    return render(request, "newsletters/signup_done.html")


def _signup_from(token: str) -> Signup:
    public_id = signed_links.read(
        token, salt=links.CONFIRM, max_age_days=settings.NEWSLETTER_CONFIRMATION_DAYS
    )
    signup = Signup.objects.select_related("customer").filter(public_id=public_id).first()
    if signup is None:
        raise signed_links.InvalidLink
    return signup


@public_form(CONFIRM)
@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request, token):
    """GET shows what will be confirmed and a button; only the POST confirms, so that a mail
    scanner that follows every link cannot confirm on the person's behalf."""
    try:
        signup = _signup_from(token)
    except signed_links.InvalidLink:
        return _invalid_link(request)
    if request.method == "POST":
        if not public_forms.person_allowed(CONFIRM, signup.customer.public_id.hex):
            return public_forms.too_many(request, window_seconds=DAY)
        signup = services.signup_confirm(signup=signup)
    pending = Consent.objects.filter(
        customer=signup.customer, state=Consent.State.PENDING
    ).select_related("notice")
    return render(
        request,
        "newsletters/confirm.html",
        {
            "signup": signup,
            "pending": [consent.notice.label for consent in pending],
            "preferences_url": links.preferences_url(signup.customer, language=get_language()),
        },
    )


def _customer_from_preferences(token: str) -> Customer:
    public_id = signed_links.read(
        token, salt=links.PREFERENCES, max_age_days=settings.NEWSLETTER_PREFERENCE_LINK_DAYS
    )
    customer = Customer.objects.filter(public_id=public_id).first()
    if customer is None:
        raise signed_links.InvalidLink
    return customer


@public_form(PREFERENCES)
@never_cache
@require_http_methods(["GET", "POST"])
def preferences(request, token):
    try:
        customer = _customer_from_preferences(token)
    except signed_links.InvalidLink:
        return _invalid_link(request, expired_help="preferences")
    language = get_language()
    action = request.POST.get("action") if request.method == "POST" else None
    form = PreferencesForm(
        request.POST if action == "save" else None, language=language, customer=customer
    )
    opt_in = OptInAgainForm(request.POST if action == "opt_in" else None, language=language)
    done, changes = None, []
    if action:
        # Withdrawing and objecting are never limited per person (Art. 7(3), 21(3)): they are
        # idempotent, so a repeat writes nothing. Saving choices writes to the consent ledger,
        # and opting in again sends an email.
        if action not in ("withdraw_all", "object") and not public_forms.person_allowed(
            PREFERENCES, customer.public_id.hex
        ):
            return public_forms.too_many(request, window_seconds=DAY)
        try:
            if action == "withdraw_all":
                changes = services.preferences_withdraw_all(customer=customer)
                done = "withdrawn"
            elif action == "object":
                changes = services.preferences_object(customer=customer)
                done = "objected"
            elif action == "opt_in" and opt_in.is_valid():
                services.preferences_opt_in_again(
                    customer=customer, notices=opt_in.cleaned_data["lists"], language=language
                )
                done = "opt_in_sent"
            elif action == "save" and form.is_valid():
                changes = services.preferences_update(
                    customer=customer, chosen=form.cleaned_data["chosen"]
                )
                done = "saved"
        except ValidationError as error:
            (opt_in if action == "opt_in" else form).add_error(None, error)
        if done:
            customer.refresh_from_db()
            form = PreferencesForm(language=language, customer=customer)
            opt_in = OptInAgainForm(language=language)
    return render(
        request,
        "newsletters/preferences.html",
        {
            "form": form,
            "opt_in": opt_in,
            "customer": customer,
            "done": done,
            "changes": _changes_in_words(changes, language=language),
        },
    )


def _changes_in_words(events, *, language: str) -> dict[str, list[str]]:
    """What a choice changed, each consent by the wording the person knows it by: the page says
    exactly this, and "nothing changed" when it is empty."""
    notices = notices_current(purposes=[event.purpose for event in events], language=language)
    result = {"confirmed": [], "withdrawn": [], "accessibility_withdrawn": False}
    for event in events:
        notice = notices.get(event.purpose_id)
        result[event.action].append(notice.label if notice else event.purpose.name)
        if event.action == "withdrawn" and event.purpose.kind == Purpose.Kind.ACCESSIBILITY:
            result["accessibility_withdrawn"] = True
    return result


@public_form(PREFERENCE_LINK, limit_clients=False)  # counted by the form's outcome()
@never_cache
@require_http_methods(["GET", "POST"])
def preferences_request(request):
    """Ask for a fresh preference link by email: the same answer for every address."""
    form = EmailForm(request.POST or None)
    outcome = form.outcome(request, scope=PREFERENCE_LINK) if request.method == "POST" else None
    if outcome is Outcome.ACCEPTED:
        services.preference_link_request(email=form.cleaned_data["email"], language=get_language())
    if outcome in (Outcome.ACCEPTED, Outcome.TRAPPED, Outcome.HELD):
        return render(request, "newsletters/preferences_requested.html")
    return render(request, "newsletters/preferences_request.html", {"form": form})


def _invalid_unsubscribe(request):
    if request.method == "POST" and not public_forms.client_allowed(request, UNSUBSCRIBE):
        return public_forms.too_many(request)
    return _invalid_link(request, expired_help="preferences")


# Per client, only POSTs with a bad link count: mail providers send the one-click POSTs of all
# their users from a few servers, and a valid link must always unsubscribe (Art. 7(3)). A repeat
# is idempotent and writes nothing, so there is no per-person limit either.
@public_form(UNSUBSCRIBE, limit_clients=False)
@csrf_exempt  # RFC 8058: mail providers POST without cookies; the signed URL is the authority
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token):
    """GET shows a button and changes nothing (link scanners follow GETs); POST unsubscribes,
    answers 200 without a redirect, and is idempotent."""
    try:
        public_id, code = signed_links.read(token, salt=links.UNSUBSCRIBE)
    except (signed_links.InvalidLink, ValueError, TypeError):  # a signed value of the wrong shape
        return _invalid_unsubscribe(request)
    customer = Customer.objects.filter(public_id=public_id).first()
    purpose = Purpose.objects.filter(code=code).first()
    if purpose is None:
        return _invalid_unsubscribe(request)
    done = request.method == "POST"
    if done and customer is not None:  # an erased person has nothing left to unsubscribe
        services.unsubscribe(customer=customer, purpose=purpose)
    notice = notices_current(purposes=[purpose], language=get_language()).get(purpose.pk)
    return render(
        request,
        "newsletters/unsubscribe.html",
        {
            "done": done,
            "list_label": notice.label if notice else purpose.name,
            "preferences_url": links.preferences_url(customer, language=get_language())
            if customer
            else None,
        },
    )


@never_cache
@require_GET
def open_pixel(request, token):
    """Counts an open for a message that carried a pixel, when the person consented to it."""
    try:
        delivery_id = signed_links.read(token, salt=links.OPEN)
    except signed_links.InvalidLink:
        delivery_id = None
    if isinstance(delivery_id, int):
        campaigns.delivery_record_open(delivery_id=delivery_id)
    return HttpResponse(PIXEL, content_type="image/gif")
