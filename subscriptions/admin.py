"""Box office in the admin: the programme, the subscriptions, the accounting records and the
ticket-agent imports. The counter (find a person, book, cancel, seating needs) is a staff tool of
its own, subscriptions/counter.py, linked from the subscriptions' list and pages.

Seating needs are health data (Art. 9): they appear only for users with `view_health_data` (box
office and the DPO), on their own admin and on the counter's page, never on a list marketing sees.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from concerthouse.admin import IndexedValuesFilter, LargeTableAdmin, ReadOnlyAdmin, YearFilter
from customers.models import Customer

from . import imports, services
from .forms import ImportForm
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
