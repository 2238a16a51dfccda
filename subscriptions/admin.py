"""Box office in the admin: the programme, the counter (find a person, book, cancel, seating needs),
the accounting records and the ticket-agent imports.

Seating needs are health data (Art. 9): they appear only for users with `view_health_data` (box
office and the DPO), on their own admin and on the counter page, never on a list marketing sees.
"""

import contextlib
import uuid

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from concerthouse.admin import IndexedValuesFilter, LargeTableAdmin, ReadOnlyAdmin, YearFilter
from concerthouse.audit import audit_record
from concerthouse.email_address import normalise_email
from consent.models import Channel
from customers import validators
from customers.models import Customer

from . import imports, services
from .forms import CancelForm, CounterBookingForm, CounterSeatingForm, ImportForm
from .models import (
    Concert,
    Order,
    Payment,
    PreConcertMail,
    Season,
    SeasonSubscription,
    SeatingNeed,
    Series,
    SourceNotice,
    TicketAgentImport,
)

HEALTH_PERMISSION = "customers.view_health_data"


@admin.register(Season)
class SeasonAdmin(admin.ModelAdmin):
    list_display = ("name", "starts_on", "ends_on")


class ConcertInline(admin.TabularInline):
    model = Concert
    extra = 0
    fields = ("title", "venue", "starts_at")


@admin.register(Series)
class SeriesAdmin(admin.ModelAdmin):
    list_display = ("name", "season", "code", "price_per_seat", "currency", "capacity", "seats")
    list_filter = ("season", "on_sale")
    list_select_related = ("season",)
    search_fields = ("name", "code")
    inlines = [ConcertInline]

    @admin.display(description=_("seats taken"))
    def seats(self, obj):
        return services.seats_taken(obj)


@admin.register(Concert)
class ConcertAdmin(admin.ModelAdmin):
    list_display = ("title", "series", "venue", "starts_at")
    list_filter = ("series__season", "series")
    list_select_related = ("series__season",)
    search_fields = ("title", "venue")
    date_hierarchy = "starts_at"


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    fields = (
        "kind",
        "method",
        "amount",
        "currency",
        "paid_on",
        "financial_year_ends_on",
        "reference",
    )
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class OrderYearFilter(YearFilter):
    field = "ordered_on"


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    """Accounting records: read, never edited (a correction is a new record)."""

    list_display = ("reference", "buyer_name", "amount", "currency", "ordered_on", "channel")
    # Years instead of date_hierarchy, and the countries off the hold index instead of a DISTINCT:
    # both would read every order on every page.
    list_filter = (
        OrderYearFilter,
        "channel",
        ("currency", IndexedValuesFilter),
        ("country", IndexedValuesFilter),
    )
    search_fields = ("=reference", "buyer_name")
    fields = (
        "reference",
        "buyer_name",
        "buyer_address",
        "description",
        "amount",
        "currency",
        "ordered_on",
        "channel",
        "country",
        "financial_year_ends_on",
        "held_until",
    )
    readonly_fields = (*fields,)
    inlines = [PaymentInline]

    @admin.display(description=_("kept until"))
    def held_until(self, obj):
        return obj.held_until


@admin.register(SeasonSubscription)
class SeasonSubscriptionAdmin(LargeTableAdmin):
    list_display = ("reference", "customer", "series", "seats", "status", "channel", "booked_at")
    list_filter = ("status", "channel", "series__season", "series")
    list_select_related = ("customer", "series__season")
    # Box office finds people by booking reference, address, name or phone: see
    # get_search_results, which does the searching.
    search_fields = ("=reference",)
    search_help_text = _(
        "A booking reference; or part of the person's email address, name or postal code, or "
        "their whole phone number."
    )
    raw_id_fields = ("customer",)
    fields = (
        "reference",
        "customer_link",
        "series",
        "seats",
        "price",
        "currency",
        "status",
        "channel",
        "booked_at",
        "ends_on",
        "cancelled_at",
        "order_link",
        "booked_by",
    )
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        """A booking reference exactly; otherwise the subscriptions of the people the customer
        list's search finds (part of their address, names or postal code, or their whole phone
        number, as the user's role may search them).

        Django's own search would OR the reference with the person's columns across the join,
        which PostgreSQL can answer only by joining every subscription with its person; here each
        is found through its own index."""
        term = search_term.strip()
        if not term:
            return queryset, False
        booked = queryset.filter(reference=term.upper())  # stored in capitals, a unique index
        if booked.exists():
            return booked, False
        customer_admin = self.admin_site.get_model_admin(Customer)
        people, _duplicates = customer_admin.get_search_results(
            request, Customer.objects.all(), term
        )
        return queryset.filter(customer__in=people.values("pk")), False

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if not request.user.has_perm("subscriptions.view_order"):
            # Accounting records are for box office and finance (roles table), not marketing.
            fields = [name for name in fields if name != "order_link"]
        return fields

    def has_add_permission(self, request):
        return False  # booked through the counter page, which validates and records the order

    def has_delete_permission(self, request, obj=None):
        return False  # cancelled, never deleted: the order refers to it

    @admin.display(description=_("customer"))
    def customer_link(self, obj):
        url = reverse("admin:customers_customer_change", args=[obj.customer_id])
        return format_html('<a href="{}">{}</a>', url, obj.customer)

    @admin.display(description=_("order"))
    def order_link(self, obj):
        if obj.order_id is None:
            return "—"
        url = reverse("admin:subscriptions_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{}</a>', url, obj.order)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_book": request.user.has_perm("subscriptions.book_at_counter"),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # --- the counter -----------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("counter/", view(self.counter_view), name="subscriptions_counter"),
            path("counter/book/", view(self.book_view), name="subscriptions_counter_book"),
            path("<int:pk>/cancel/", view(self.cancel_view), name="subscriptions_cancel"),
            path(
                "counter/<int:customer_pk>/seating/",
                view(self.seating_view),
                name="subscriptions_seating",
            ),
            *super().get_urls(),
        ]

    def _render(self, request, template, title, **context):
        response = TemplateResponse(
            request,
            f"admin/subscriptions/{template}",
            {**self.admin_site.each_context(request), "opts": self.opts, "title": title, **context},
        )
        response["Cache-Control"] = "no-store"
        return response

    def _counter_access(self, request):
        if not request.user.has_perm("subscriptions.book_at_counter"):
            raise PermissionDenied

    def counter_view(self, request):
        """Find a person fast: exact email, phone or booking reference, or a name."""
        self._counter_access(request)
        query = " ".join(request.GET.get("q", "").split())[:100]
        people = find_people(query) if query else []
        return self._render(
            request,
            "counter.html",
            _("Box office counter"),
            query=query,
            people=people,
            can_see_health=request.user.has_perm(HEALTH_PERMISSION),
        )

    def book_view(self, request):
        self._counter_access(request)
        customer = None
        if request.GET.get("customer") or request.POST.get("customer"):
            customer = get_object_or_404(
                Customer, pk=request.GET.get("customer") or request.POST.get("customer")
            )
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
                for field, errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(
                    request,
                    _("Booked: reference %(reference)s.") % {"reference": subscription.reference},
                )
                return redirect("admin:subscriptions_seasonsubscription_change", subscription.pk)
        return self._render(
            request, "book.html", _("Book a season subscription"), form=form, customer=customer
        )

    def cancel_view(self, request, pk):
        self._counter_access(request)
        subscription = get_object_or_404(SeasonSubscription, pk=pk)
        form = CancelForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            services.subscription_cancel(
                subscription=subscription,
                actor=request.user,
                refund_method=form.cleaned_data["refund_method"],
            )
            messages.success(request, _("The subscription was cancelled."))
            return redirect("admin:subscriptions_seasonsubscription_change", subscription.pk)
        return self._render(
            request,
            "cancel.html",
            _("Cancel %(reference)s") % {"reference": subscription.reference},
            subscription=subscription,
            form=form,
            paid=services.order_balance(subscription.order) if subscription.order else 0,
        )

    def seating_view(self, request, customer_pk):
        """Record seating needs told at the counter, with the explicit consent given there; or
        withdraw that consent, which deletes every need it allowed."""
        if not request.user.has_perm(HEALTH_PERMISSION):
            raise PermissionDenied
        customer = get_object_or_404(Customer, pk=customer_pk)
        form = CounterSeatingForm(
            request.POST if "record" in request.POST else None, language=get_language()
        )
        if request.method == "POST" and "withdraw" in request.POST:
            services.seating_consent_withdraw(
                customer=customer, channel=Channel.COUNTER_OR_PHONE, actor=request.user
            )
            messages.success(request, _("The consent was withdrawn and the seating needs deleted."))
            return redirect("admin:subscriptions_seating", customer.pk)
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
                for field, errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _("The seating needs were recorded."))
                return redirect("admin:subscriptions_seating", customer.pk)
        needs = list(customer.seating_needs.select_related("season"))
        if request.method == "GET":
            audit_record(
                action="subscription.seating_needs_viewed",
                actor=request.user,
                target=customer,
                detail={"fields": ["needs"]},
            )
        return self._render(
            request,
            "seating.html",
            _("Seating needs"),
            customer=customer,
            needs=needs,
            form=form,
        )


def find_people(query: str, *, limit: int = 20) -> list[Customer]:
    """The counter's search: an exact email, phone, booking reference or public id first (served by
    their unique indexes), otherwise names that start with the words typed."""
    # The booking reference is looked up first, on its own: OR-ed with the person's columns across
    # a join, it would make PostgreSQL join every subscription with every person to filter them.
    booked = SeasonSubscription.objects.filter(reference=query.upper()).values_list(
        "customer_id", flat=True
    )
    exact = Q(pk__in=list(booked))
    with contextlib.suppress(ValidationError):
        exact |= Q(email=normalise_email(query))
    with contextlib.suppress(ValidationError):
        exact |= Q(phone=validators.normalise_phone(query, country=Customer.Country.SWEDEN))
    with contextlib.suppress(ValueError):
        exact |= Q(public_id=uuid.UUID(query))
    people = list(Customer.objects.filter(exact)[:limit])
    if not people:
        words = query.split()
        names = Q()
        if len(words) >= 2:
            names = Q(first_name__istartswith=words[0], last_name__istartswith=words[-1])
        names |= Q(last_name__istartswith=query) | Q(first_name__istartswith=query)
        people = list(Customer.objects.filter(names).order_by("last_name", "first_name")[:limit])
    subscriptions = SeasonSubscription.objects.filter(customer__in=people).select_related(
        "series__season"
    )
    by_person = {}
    for subscription in subscriptions:
        by_person.setdefault(subscription.customer_id, []).append(subscription)
    for person in people:
        person.subscription_list = by_person.get(person.pk, [])
    return people


@admin.register(SeatingNeed)
class SeatingNeedAdmin(ReadOnlyAdmin):
    """Health data: box office and the DPO only; changed from the counter, withdrawn with consent."""

    list_display = ("customer", "season", "needs_display", "created_at")
    list_filter = ("season",)
    list_select_related = ("customer", "season")
    fields = ("customer", "season", "needs_display", "consent_event", "created_at")
    readonly_fields = fields

    @admin.display(description=_("needs"))
    def needs_display(self, obj):
        return obj.get_needs_display()

    def has_module_permission(self, request):
        return request.user.has_perm(HEALTH_PERMISSION) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(HEALTH_PERMISSION) and super().has_view_permission(
            request, obj
        )


@admin.register(PreConcertMail)
class PreConcertMailAdmin(ReadOnlyAdmin):
    list_display = ("concert", "customer", "status", "sent_at")
    list_filter = ("status", "concert")
    list_select_related = ("concert", "customer")
    raw_id_fields = ("customer",)


@admin.register(SourceNotice)
class SourceNoticeAdmin(ReadOnlyAdmin):
    list_display = ("customer", "source", "created_at", "sent_at")
    list_filter = (("source", IndexedValuesFilter),)
    list_select_related = ("customer",)


@admin.register(TicketAgentImport)
class TicketAgentImportAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "agent",
        "status",
        "rows_done",
        "created_count",
        "matched_count",
        "booked_count",
        "rejected_count",
    )
    list_filter = ("status", "agent")
    readonly_fields = (
        "agent",
        "file_name",
        "uploaded_by",
        "created_at",
        "status",
        "rows_done",
        "created_count",
        "matched_count",
        "booked_count",
        "rejected_count",
        "finished_at",
        "failure",
        "report_link",
    )
    fields = readonly_fields

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("rejected rows"))
    def report_link(self, obj):
        if not obj.rejected_count:
            return "—"
        url = reverse("admin:subscriptions_import_report", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Download the list (CSV)"))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/report/", view(self.report_view), name="subscriptions_import_report"),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                run = imports.import_create(
                    agent=form.cleaned_data["agent"],
                    upload=form.cleaned_data["file"],
                    actor=request.user,
                )
            except imports.ImportFileError as error:
                form.add_error("file", str(error))
            else:
                messages.success(request, _("The file is being imported."))
                return redirect("admin:subscriptions_ticketagentimport_change", run.pk)
        return TemplateResponse(
            request,
            "admin/subscriptions/import.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Import a ticket agent's file"),
                "form": form,
                "columns": (*imports.REQUIRED, *imports.OPTIONAL),
                "required": imports.REQUIRED,
            },
        )

    def report_view(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = get_object_or_404(TicketAgentImport, pk=pk)
        response = HttpResponse(imports.import_report(run).getvalue(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="import-{run.pk}-rejected.csv"'
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "errors": list(run.errors.order_by("row")[:200]) if run else [],
        }
        return super().change_view(request, object_id, form_url, extra_context)
