from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import AuditEntry

admin.site.site_header = _("Audience register")
admin.site.site_title = _("Audience register")
admin.site.index_title = _("Administration")


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records the system writes and nobody edits: the audit log, the consent ledger, the
    delivery log. Staff read them; changes go through services."""

    show_full_result_count = False

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
    list_filter = ("action", "target_type")
    list_select_related = ("actor",)
    search_fields = ("=target_id", "action")
    date_hierarchy = "at"
