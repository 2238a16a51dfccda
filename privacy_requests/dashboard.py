"""The DPO's dashboard: its own pages, not the admin; every action through a service."""

from collections import Counter
from datetime import date

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from concerthouse.privacy.erasure import holds_for_display
from concerthouse.privacy.map import declaration_for
from concerthouse.privacy.person import (
    lift_notice_sent,
    people,
    restricted,
    restriction_grounds,
)
from concerthouse.staff_auth import staff_required

from . import emails, notice, services
from .forms import ReasonForm, RegisterRequestForm, RestrictionForm
from .models import PrivacyRequest, Processor, RecipientNotice

handles_requests = permission_required(services.HANDLE, raise_exception=True)


def _month(day: date) -> str:
    return f"{day.year}-{day.month:02d}"


def _statistics(today: date) -> list[dict]:
    """Requests received per month over the last twelve, and the share answered in time."""
    first = date(today.year - 1, today.month, 1)
    received = Counter()
    closed = Counter()
    on_time = Counter()
    rows = PrivacyRequest.objects.filter(received_at__date__gte=first).values_list(
        "received_at", "closed_at", "due_on", "extended_due_on"
    )
    for received_at, closed_at, due_on, extended in rows:
        month = _month(timezone.localdate(received_at))
        received[month] += 1
        if closed_at is not None:
            closed[month] += 1
            on_time[month] += timezone.localdate(closed_at) <= (extended or due_on)
    months, year, month = [], first.year, first.month
    for _step in range(13):
        months.append(f"{year}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    peak = max(received.values(), default=0) or 1
    return [
        {
            "month": key,
            "received": received[key],
            "height": round(100 * received[key] / peak),
            "top": 100 - round(100 * received[key] / peak),
            "on_time": round(100 * on_time[key] / closed[key]) if closed[key] else None,
        }
        for key in months
    ]


@staff_required
@handles_requests
def queue(request):
    today = timezone.localdate()
    kind = request.GET.get("kind", "")
    state = request.GET.get("state", PrivacyRequest.State.OPEN)
    requests = PrivacyRequest.objects.select_related("assigned_to")
    if kind in PrivacyRequest.Kind.values:
        requests = requests.filter(kind=kind)
    if state in PrivacyRequest.State.values:
        requests = requests.filter(state=state)
    # Overdue first, then by the days left: the deadline is the extended one where there is one.
    # Ordered by the database, so that the page's limit never cuts off an overdue request.
    deadline = Coalesce("extended_due_on", "due_on")
    rows = list(requests.order_by(deadline.asc(nulls_last=True), "created_at")[:500])
    return render(
        request,
        "privacy_requests/dashboard/queue.html",
        {
            "rows": [(r, r.days_left(today)) for r in rows],
            "kinds": PrivacyRequest.Kind.choices,
            "states": PrivacyRequest.State.choices,
            "kind": kind,
            "state": state,
            "statistics": _statistics(today),
            "overdue": sum(1 for r in rows if r.is_open and r.days_left(today) < 0),
        },
    )


def _rectifiable_fields(privacy_request):
    person = privacy_request.customer
    if person is None:
        return []
    declaration = declaration_for(type(person))
    return [
        (name, type(person)._meta.get_field(name).verbose_name, getattr(person, name))
        for name in declaration.rectifiable
    ]


@staff_required
@handles_requests
def detail(request, public_id):
    privacy_request = get_object_or_404(
        PrivacyRequest.objects.select_related("customer", "assigned_to", "registered_by"),
        public_id=public_id,
    )
    # Who may be assigned: whoever holds the permission, through a group, directly or as superuser.
    codename = services.HANDLE.split(".", 1)[1]
    handlers = (
        get_user_model()
        .objects.filter(
            Q(groups__permissions__codename=codename)
            | Q(user_permissions__codename=codename)
            | Q(is_superuser=True),
            is_active=True,
            is_staff=True,
        )
        .distinct()
        .order_by("username")
    )
    package = privacy_request.packages.order_by("-created_at").first()
    return render(
        request,
        "privacy_requests/dashboard/detail.html",
        {
            "r": privacy_request,
            "days_left": privacy_request.days_left(),
            "events": privacy_request.events.select_related("actor"),
            "notices": privacy_request.recipient_notices.select_related("processor", "done_by"),
            "handlers": handlers,
            "rectifiable": _rectifiable_fields(privacy_request),
            "holds": holds_for_display(privacy_request.erasure_holds),
            "grounds": restriction_grounds(),
            "package_url": emails.package_url(package, language=privacy_request.language)
            if package
            else None,
            "restricted": privacy_request.customer_id is not None
            and people().filter(restricted(), pk=privacy_request.customer_id).exists(),
            # Art. 18(3): when the person was told their restriction will be lifted.
            "lift_told": lift_notice_sent(privacy_request.customer)
            if privacy_request.customer is not None
            else None,
            "can_extend": privacy_request.is_open
            and privacy_request.extended_due_on is None
            and timezone.localdate() <= privacy_request.due_on,
        },
    )


@staff_required
@handles_requests
@require_POST
def act(request, public_id, action):
    privacy_request = get_object_or_404(PrivacyRequest, public_id=public_id)
    user = request.user
    try:
        if action == "assign":
            assignee = get_user_model().objects.filter(pk=request.POST.get("assignee")).first()
            services.privacy_request_assign(request=privacy_request, actor=user, assignee=assignee)
        elif action in ("extend", "reject"):
            form = ReasonForm(request.POST)
            if not form.is_valid():
                raise ValidationError(_("Give a reason."))
            service = {
                "extend": services.privacy_request_extend,
                "reject": services.privacy_request_reject,
            }[action]
            service(request=privacy_request, actor=user, reason=form.cleaned_data["reason"])
        elif action == "execute":
            changes, ground = None, ""
            if privacy_request.kind == PrivacyRequest.Kind.RECTIFICATION:
                changes = {
                    name: request.POST[name]
                    for name, _label, current in _rectifiable_fields(privacy_request)
                    if name in request.POST and request.POST[name] != str(current)
                }
            if privacy_request.kind == PrivacyRequest.Kind.RESTRICTION:
                form = RestrictionForm(request.POST, grounds=restriction_grounds())
                ground = form.cleaned_data["ground"] if form.is_valid() else ""
            services.privacy_request_execute(
                request=privacy_request, actor=user, changes=changes, ground=ground
            )
        elif action == "announce_lift":
            services.privacy_request_announce_lift(request=privacy_request, actor=user)
        elif action == "lift":
            services.privacy_request_lift_restriction(request=privacy_request, actor=user)
        elif action == "notice_done":
            notice_ = get_object_or_404(
                RecipientNotice, pk=request.POST.get("notice"), request=privacy_request
            )
            services.recipient_notice_done(notice=notice_, actor=user)
        else:
            raise ValidationError(_("Unknown action."))
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Done."))
    return redirect("dpo:request", public_id=public_id)


@staff_required
@permission_required(services.REGISTER, raise_exception=True)
@require_http_methods(["GET", "POST"])
def register(request):
    """Box office (and the DPO) register a request received by phone, at the counter or by mail."""
    form = RegisterRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            registered = services.privacy_request_register(
                actor=request.user,
                kind=data["kind"],
                channel=data["channel"],
                email=data["email"],
                name=data["name"],
                language=data["language"],
                identity_check=data["identity_check"],
                details=data["details"],
                wrong_data=data["wrong_data"],
                correct_data=data["correct_data"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                _("The request is registered; it is due on %(due)s.")
                % {"due": registered.due_on.isoformat()},
            )
            if request.user.has_perm(services.HANDLE):
                return redirect("dpo:request", public_id=registered.public_id)
            return redirect("dpo:register")
    return render(request, "privacy_requests/dashboard/register.html", {"form": form})


@staff_required
@handles_requests
def record_of_processing(request):
    """Art. 30: printable (static/css/print.css) in each language, chosen on the page: the record
    goes to the authority or an auditor in theirs, whatever the DPO's browser says."""
    language = request.GET.get("language", "")
    if language not in dict(settings.LANGUAGES):
        language = translation.get_language()
    with translation.override(language):
        return render(
            request,
            "privacy_requests/dashboard/record.html",
            {
                **notice.record_context(),
                "language": language,
                "languages": [
                    (code, translation.get_language_info(code)["name_local"])
                    for code, _name in settings.LANGUAGES
                ],
                "today": timezone.localdate(),
            },
        )


@staff_required
@handles_requests
def processors(request):
    return render(
        request,
        "privacy_requests/dashboard/processors.html",
        {"processors": Processor.objects.all()},
    )
