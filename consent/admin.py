from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from concerthouse.admin import AtYearFilter, ReadOnlyAdmin

from .models import Consent, ConsentEvent, NoticeVersion, Purpose


class NoticeVersionInline(admin.StackedInline):
    """New wording is a new version; versions people have seen are never edited."""

    model = NoticeVersion
    extra = 0
    fields = ("language", "version", "label", "text", "published_at")
    readonly_fields = ("published_at",)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Purpose)
class PurposeAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "kind", "is_active", "position")
    list_filter = ("kind", "is_active")
    list_editable = ("position",)
    prepopulated_fields = {"code": ("name",)}
    inlines = [NoticeVersionInline]

    def get_prepopulated_fields(self, request, obj=None):
        return self.prepopulated_fields if obj is None else {}

    def get_readonly_fields(self, request, obj=None):
        # A purpose's identity is what its consents refer to; its name and offer may change.
        return ("code", "kind") if obj is not None else ()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    list_display = ("customer", "purpose", "state", "changed_at", "confirmed_at")
    list_filter = ("purpose", "state")
    list_select_related = ("customer", "purpose")
    raw_id_fields = ("customer",)
    search_fields = ("=customer__email",)
    search_help_text = _("Exact email address.")


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "customer", "purpose", "action", "channel", "notice", "actor")
    # Years instead of date_hierarchy, whose first level reads every entry of the ledger.
    list_filter = (AtYearFilter, "action", "channel", "purpose")
    list_select_related = ("customer", "purpose", "notice", "notice__purpose", "actor")
    raw_id_fields = ("customer",)
    search_fields = ("=customer__email",)
    search_help_text = _("Exact email address.")
