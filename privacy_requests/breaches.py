"""The DPO dashboard's breach register (/dpo/breaches/): thin views, every write through
privacy_requests.breach_services."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from concerthouse.staff_auth import staff_required

from . import breach_services as services
from .forms import (
    AuthorityForm,
    BreachForm,
    CorrectionForm,
    MessageForm,
    NoteForm,
    PeopleDecisionForm,
    RiskForm,
    ScopeForm,
)
from .models import Breach

manages_breaches = permission_required(services.MANAGE, raise_exception=True)


def _errors_to_form(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for name, errors in error.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


@staff_required
@manages_breaches
def breach_list(request):
    now = timezone.now()
    return render(
        request,
        "privacy_requests/dashboard/breaches/list.html",
        {
            "open": services.breach_clock(now),
            "closed": Breach.objects.filter(closed_at__isnull=False).order_by("-closed_at")[:100],
        },
    )


@staff_required
@manages_breaches
@require_http_methods(["GET", "POST"])
def breach_new(request):
    form = BreachForm(request.POST or None, systems=services.systems())
    if request.method == "POST" and form.is_valid():
        try:
            breach = services.breach_record(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            _errors_to_form(form, error)
        else:
            messages.success(request, _("The breach is recorded."))
            return redirect("dpo:breach", public_id=breach.public_id)
    return render(
        request,
        "privacy_requests/dashboard/breaches/form.html",
        {"form": form, "title": _("Record a personal-data breach")},
    )


def _breach(public_id) -> Breach:
    return get_object_or_404(
        Breach.objects.select_related("processor", "created_by"), public_id=public_id
    )


@staff_required
@manages_breaches
def breach_detail(request, public_id):
    breach = _breach(public_id)
    initial = {
        f"{part}_{language}": texts.get(part, "")
        for language, texts in (breach.people_message or {}).items()
        for part in MessageForm.LABELS
    }
    return render(
        request,
        "privacy_requests/dashboard/breaches/detail.html",
        {
            "breach": breach,
            "hours_left": breach.hours_left(),
            "events": breach.events.select_related("actor"),
            "scopes": breach.scopes.select_related("processor"),
            "notifications": breach.notifications.all(),
            "totals": services.breach_totals(breach),
            "risk_form": RiskForm(
                initial={"risk": breach.risk, "reasoning": breach.risk_reasoning}
            ),
            "people_form": PeopleDecisionForm(
                initial={
                    "decision": breach.people_decision,
                    "reason": breach.people_decision_reason,
                }
            ),
            "message_form": MessageForm(initial=initial),
            "close_form": NoteForm(),
            "systems": dict(services.systems()),
        },
    )


@staff_required
@manages_breaches
@require_http_methods(["GET", "POST"])
def breach_correct(request, public_id):
    breach = _breach(public_id)
    form = CorrectionForm(request.POST or None, instance=breach, systems=services.systems())
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name != "note"}
        try:
            services.breach_correct(
                breach=breach, actor=request.user, note=form.cleaned_data["note"], **changes
            )
        except ValidationError as error:
            _errors_to_form(form, error)
        else:
            messages.success(request, _("The correction is on the timeline."))
            return redirect("dpo:breach", public_id=public_id)
    return render(
        request,
        "privacy_requests/dashboard/breaches/form.html",
        {"form": form, "breach": breach, "title": _("Correct or complete the facts")},
    )


@staff_required
@manages_breaches
@require_POST
def breach_act(request, public_id, action):
    """The decisions taken on the breach's page: each a service call, its errors shown there."""
    breach = _breach(public_id)
    user = request.user
    try:
        if action == "risk":
            form = RiskForm(request.POST)
            if not form.is_valid():
                raise ValidationError(_("Choose the risk and give the reasoning."))
            services.breach_assess_risk(breach=breach, actor=user, **form.cleaned_data)
        elif action == "people":
            form = PeopleDecisionForm(request.POST)
            if not form.is_valid():
                raise ValidationError(_("Choose whether the people are told, and why."))
            services.breach_decide_people(breach=breach, actor=user, **form.cleaned_data)
        elif action == "message":
            form = MessageForm(request.POST)
            if not form.is_valid():
                raise ValidationError(_("Write every part of the message in every language."))
            services.breach_set_message(breach=breach, actor=user, texts=form.texts())
        elif action == "queue":
            queued = services.breach_notices_queue(breach=breach, actor=user)
            messages.info(request, _("Messages queued: %(count)s.") % {"count": queued})
        elif action == "close":
            form = NoteForm(request.POST)
            if not form.is_valid():
                raise ValidationError(_("Say why the breach can be closed."))
            services.breach_close(breach=breach, actor=user, note=form.cleaned_data["note"])
        else:
            raise ValidationError(_("Unknown action."))
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Done."))
    return redirect("dpo:breach", public_id=public_id)


@staff_required
@manages_breaches
@require_http_methods(["GET", "POST"])
def breach_scope(request, public_id):
    """Describe the scope, see whom it reaches (nothing written), then record it."""
    breach = _breach(public_id)
    initial = {
        "processor": breach.processor,
        "system": breach.system,
        "categories": breach.data_categories,
        "until": breach.ended_at,
    }
    form = ScopeForm(request.POST or None, initial=initial, systems=services.systems())
    affected = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        addresses = data["addresses"].split() if data["addresses"].strip() else None
        try:
            scope = services.Scope(
                processor=data["processor"],
                system=data["system"],
                categories=tuple(data["categories"]),
                since=data["since"],
                until=data["until"],
                addresses=tuple(addresses) if addresses is not None else None,
            )
            if "record" in request.POST:
                recorded = services.breach_scope_record(
                    breach=breach, actor=request.user, scope=scope
                )
                messages.success(
                    request,
                    _("Recorded: %(people)s people, %(added)s of them new to this breach.")
                    % {"people": recorded.people, "added": recorded.added},
                )
                return redirect("dpo:breach", public_id=public_id)
            affected = services.breach_scope_count(scope=scope)
        except ValidationError as error:
            _errors_to_form(form, error)
    return render(
        request,
        "privacy_requests/dashboard/breaches/scope.html",
        {"breach": breach, "form": form, "affected": affected},
    )


@staff_required
@manages_breaches
@require_http_methods(["GET", "POST"])
def breach_authority(request, public_id):
    """The Art. 33(3) text generated from the entry, and the record of what was sent and when."""
    breach = _breach(public_id)
    form = AuthorityForm(
        request.POST or None,
        initial={"text": services.authority_text(breach), "sent_at": timezone.localtime()},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.breach_notify_authority(
                breach=breach,
                actor=request.user,
                sent_at=form.cleaned_data["sent_at"],
                text=form.cleaned_data["text"],
                late_reason=form.cleaned_data["late_reason"],
                reference=form.cleaned_data["reference"],
            )
        except ValidationError as error:
            _errors_to_form(form, error)
        else:
            messages.success(request, _("The notification to the authority is recorded."))
            return redirect("dpo:breach", public_id=public_id)
    return render(
        request,
        "privacy_requests/dashboard/breaches/authority.html",
        {
            "breach": breach,
            "form": form,
            "phase": breach.notifications.count() + 1,
            "late": breach.authority_notified_at is None and timezone.now() > breach.deadline,
        },
    )


urlpatterns = [
    path("", breach_list, name="breaches"),
    path("new/", breach_new, name="breach_new"),
    path("<uuid:public_id>/", breach_detail, name="breach"),
    path("<uuid:public_id>/correct/", breach_correct, name="breach_correct"),
    path("<uuid:public_id>/scope/", breach_scope, name="breach_scope"),
    path("<uuid:public_id>/authority/", breach_authority, name="breach_authority"),
    path("<uuid:public_id>/<slug:action>/", breach_act, name="breach_act"),
]
