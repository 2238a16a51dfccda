import uuid
from datetime import datetime

from django.contrib import admin
from django.db import connections
from django.db.models import Max, Min
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import AuditEntry
from .paginator import CappedPaginator

admin.site.site_header = _("Audience register")
admin.site.site_title = _("Audience register")
admin.site.index_title = _("Administration")


class LargeTableAdmin(admin.ModelAdmin):
    """For changelists over tables of a million rows (customers, the consent ledger, the delivery
    and audit logs, orders, subscriptions): nothing on a page counts the whole table."""

    # Counts at most 10,001 rows, and says "more than 10,000" beyond (concerthouse/paginator.py).
    paginator = CappedPaginator
    # Django's "(N total)" beside a search is a COUNT(*) of the whole table.
    show_full_result_count = False
    # Facet counts are one COUNT per filter choice over the filtered table.
    show_facets = admin.ShowFacets.NEVER


def indexed_values(model, field_name: str) -> list:
    """The distinct non-null values of a column that leads an index, in order. On PostgreSQL by
    hopping along the index, one probe per distinct value (a loose index scan), where a DISTINCT
    would read every row; elsewhere (SQLite's small tables) by Django's DISTINCT."""
    connection = connections[model._default_manager.db]
    if connection.vendor != "postgresql":
        values = model._default_manager.order_by(field_name).values_list(field_name, flat=True)
        return [value for value in values.distinct() if value is not None]
    quote = connection.ops.quote_name
    table, column = quote(model._meta.db_table), quote(model._meta.get_field(field_name).column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE v(value) AS ("  # noqa: S608 (names from the model)
            f"(SELECT {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY {column} LIMIT 1) "
            f"UNION ALL SELECT (SELECT {column} FROM {table} WHERE {column} > v.value "
            f"ORDER BY {column} LIMIT 1) FROM v WHERE v.value IS NOT NULL"
            ") SELECT value FROM v WHERE value IS NOT NULL"
        )
        return [value for (value,) in cursor.fetchall()]


class IndexedValuesFilter(admin.AllValuesFieldListFilter):
    """Django's "all values" filter for a big table's column that leads an index: the values come
    from `indexed_values`, not from a DISTINCT over every row on every page of the changelist."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        if field_path == field.name:  # a column of this model, not of a related one
            self.lookup_choices = indexed_values(model, field.name)


class YearFilter(admin.SimpleListFilter):
    """The years of a date column, for a big table in place of `date_hierarchy`, whose first level
    is a DISTINCT over every row: the years between the first and the last date (two probes of the
    column's index). Subclass with the `field` to filter on."""

    title = _("year")
    parameter_name = "year"
    field = ""

    def lookups(self, request, model_admin):
        span = model_admin.get_queryset(request).aggregate(
            first=Min(self.field), last=Max(self.field)
        )
        if span["first"] is None:
            return []
        first, last = (
            timezone.localtime(v) if isinstance(v, datetime) and timezone.is_aware(v) else v
            for v in span.values()
        )
        return [(str(year), str(year)) for year in range(last.year, first.year - 1, -1)]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            # A range over the index, in the current time zone (Django's __year lookup).
            return queryset.filter(**{f"{self.field}__year": int(self.value())})
        return queryset


class AtYearFilter(YearFilter):
    field = "at"


class ReadOnlyAdmin(LargeTableAdmin):
    """For records the system writes and nobody edits: the audit log, the consent ledger, the
    delivery log. Staff read them; changes go through services."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """Read-only for the DPO: an append-only log that nobody edits or deletes through the admin."""

    list_display = ("at", "actor", "action", "target_type", "target_id", "purpose", "redacted_at")
    # No date_hierarchy and no plain "all values" filters: each would read the whole log on every
    # page. The values come off the indexes on (action, at) and (target_type, ...).
    list_filter = (
        AtYearFilter,
        ("action", IndexedValuesFilter),
        ("target_type", IndexedValuesFilter),
    )
    list_select_related = ("actor",)
    search_fields = ("=target_id",)
    search_help_text = _("The public id of a person or record.")

    def get_search_results(self, request, queryset, search_term):
        """The entries about one public id: target_id is the second column of the index on
        (target_type, target_id, at), so the search names every target type to use it (a
        text search of the UUID, Django's iexact, would read every entry)."""
        if not search_term.strip():
            return queryset, False
        try:
            target_id = uuid.UUID(search_term.strip())
        except ValueError:
            return queryset.none(), False
        types = indexed_values(AuditEntry, "target_type")
        return queryset.filter(target_type__in=types, target_id=target_id), False
