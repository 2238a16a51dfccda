"""The box-office counter: a staff tool of its own, in the admin's look, not views of the admin.

Find a person fast, book for them with the payment taken, cancel with a refund, and record or
withdraw seating needs told at the counter. Every change goes through subscriptions.services, which
checks the permission again. Seating needs are health data (Art. 9): their page needs
`view_health_data` (box office and the DPO), and every viewing of it is audited.
"""

import uuid

from django.contrib import admin, messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from concerthouse.audit import audit_record
from concerthouse.staff_auth import staff_required
from consent.models import Channel
from customers.models import Customer

from . import selectors, services
from .forms import CancelForm, CounterBookingForm, CounterSeatingForm
from .models import Order, SeasonSubscription

HEALTH_PERMISSION = "customers.view_health_data"
books_at_counter = permission_required("subscriptions.book_at_counter", raise_exception=True)
sees_health_data = permission_required(HEALTH_PERMISSION, raise_exception=True)


def _render(request, template: str, title: str, **context) -> TemplateResponse:
    # The admin's header, sidebar and breadcrumbs: box office works in the admin and comes back
    # to it. The counter's pages show personal data, hence never_cache on every view.
    return TemplateResponse(
        request,
        f"subscriptions/counter/{template}",
        {
            **admin.site.each_context(request),
            "opts": SeasonSubscription._meta,
            "title": title,
            **context,
        },
    )


def _add_errors(form, error: ValidationError) -> None:
    for field, errors in error.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@never_cache
@staff_required
@books_at_counter
def search(request):
    """Find a person fast: exact email, phone or booking reference, or a name."""
    query = " ".join(request.GET.get("q", "").split())[:100]
    return _render(
        request,
        "search.html",
        _("Box office counter"),
        query=query,
        people=selectors.find_people(query) if query else [],
        can_see_health=request.user.has_perm(HEALTH_PERMISSION),
    )


@never_cache
@staff_required
@books_at_counter
def book(request):
    customer_pk = request.POST.get("customer") or request.GET.get("customer")
    customer = get_object_or_404(Customer, pk=customer_pk) if customer_pk else None
    initial = {"booking_key": uuid.uuid4()}
    if customer is not None:
        initial |= {
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "email": customer.email,
            "phone": customer.phone,
            "street_address": customer.street_address,
            "postal_code": customer.postal_code,
            "city": customer.city,
            "country": customer.country,
            "language": customer.preferred_language,
        }
    form = CounterBookingForm(request.POST or None, language=get_language(), initial=initial)
    if not request.user.has_perm(HEALTH_PERMISSION):
        del form.fields["seating_needs"], form.fields["seating_consent"]
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            subscription = services.subscription_book(
                series=data["series"],
                seats=data["seats"],
                buyer=form.buyer(),
                channel=Order.Channel.BOX_OFFICE,
                booking_key=data["booking_key"],
                payment_method=data["payment_method"],
                seating_needs=data.get("seating_needs") or [],
                seating_notice=data.get("seating_notice"),
                # The person found at the counter, even if the email was corrected on the form.
                customer=customer,
                actor=request.user,
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(
                request,
                _("Booked: reference %(reference)s.") % {"reference": subscription.reference},
            )
            return redirect("admin:subscriptions_seasonsubscription_change", subscription.pk)
    return _render(
        request, "book.html", _("Book a season subscription"), form=form, customer=customer
    )


@never_cache
@staff_required
@books_at_counter
def cancel(request, pk: int):
    subscription = get_object_or_404(SeasonSubscription.objects.select_related("order"), pk=pk)
    form = CancelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.subscription_cancel(
            subscription=subscription,
            actor=request.user,
            refund_method=form.cleaned_data["refund_method"],
        )
        messages.success(request, _("The subscription was cancelled."))
        return redirect("admin:subscriptions_seasonsubscription_change", subscription.pk)
    return _render(
        request,
        "cancel.html",
        _("Cancel %(reference)s") % {"reference": subscription.reference},
        subscription=subscription,
        form=form,
        paid=services.order_balance(subscription.order) if subscription.order else 0,
    )


@never_cache
@staff_required
@sees_health_data
def seating(request, customer_pk: int):
    """Record seating needs told at the counter, with the explicit consent given there; or
    withdraw that consent, which deletes every need it allowed."""
    customer = get_object_or_404(Customer, pk=customer_pk)
    form = CounterSeatingForm(
        request.POST if "record" in request.POST else None, language=get_language()
    )
    if request.method == "POST" and "withdraw" in request.POST:
        services.seating_consent_withdraw(
            customer=customer, channel=Channel.COUNTER_OR_PHONE, actor=request.user
        )
        messages.success(request, _("The consent was withdrawn and the seating needs deleted."))
        return redirect("counter:seating", customer.pk)
    if request.method == "POST" and form.is_valid():
        try:
            services.seating_needs_record(
                customer=customer,
                season=form.cleaned_data["season"],
                needs=form.cleaned_data["seating_needs"],
                notice=form.cleaned_data["seating_notice"],
                channel=Channel.COUNTER_OR_PHONE,
                evidence="counter",
                actor=request.user,
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("The seating needs were recorded."))
            return redirect("counter:seating", customer.pk)
    if request.method == "GET":
        # Art. 9 data shown to a member of staff: the person may later ask who looked, and why.
        audit_record(
            action="subscription.seating_needs_viewed",
            actor=request.user,
            target=customer,
            detail={"fields": ["needs"]},
        )
    return _render(
        request,
        "seating.html",
        _("Seating needs"),
        customer=customer,
        needs=selectors.seating_needs_of(customer),
        form=form,
    )
