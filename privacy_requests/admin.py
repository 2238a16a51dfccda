from django.contrib import admin

from .models import Processor


@admin.register(Processor)
class ProcessorAdmin(admin.ModelAdmin):
    """The register of processors and recipients (Art. 28, 30), kept by the DPO."""

    list_display = ("name", "role", "country", "transfer_basis", "contract_date", "is_active")
    list_filter = ("role", "is_active")
    search_fields = ("name",)

    def has_delete_permission(self, request, obj=None):
        # Notices already sent point at the entry: deactivate it instead.
        return False
