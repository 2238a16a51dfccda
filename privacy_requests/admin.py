from django import forms
from django.conf import settings
from django.contrib import admin
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from concerthouse.privacy.map import Category

from .models import EEA, Processor


class ProcessorForm(forms.ModelForm):
    """The register's entry, its purposes written in every language of the house (the notice, the
    record and the access report show them in the reader's)."""

    data_categories = forms.MultipleChoiceField(
        label=_("data categories"),
        choices=Category.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = Processor
        fields = [
            "name",
            "role",
            "kind",
            "recipient_code",
            "data_categories",
            "country",
            "third_country",
            "transfer_basis",
            "contract_date",
            "erasure_contact",
            "breach_contact",
            "breach_reporting_hours",
            "is_active",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for code, text in (self.instance.purposes or {}).items():
            self.initial.setdefault(f"purposes_{code}", text)

    def clean(self):
        data = super().clean()
        if data.get("kind") in ("ticket_agent", "ad_platform") and not data.get("recipient_code"):
            self.add_error(
                "recipient_code",
                _("A ticket agent or an ad platform needs the code our records name it by."),
            )
        basis = data.get("transfer_basis")
        outside = data.get("third_country") or (data.get("country") and data["country"] not in EEA)
        if outside and basis == Processor.TransferBasis.NONE:
            self.add_error(
                "transfer_basis", _("Data leaves the EU/EEA: choose the basis of the transfer.")
            )
        return data

    def save(self, commit=True):
        self.instance.purposes = {
            code: self.cleaned_data[f"purposes_{code}"].strip()
            for code, _name in settings.LANGUAGES
        }
        return super().save(commit)


# One field per language of the house, declared on the class so that the admin lays them out.
for _code, _name in settings.LANGUAGES:
    ProcessorForm.declared_fields[f"purposes_{_code}"] = ProcessorForm.base_fields[
        f"purposes_{_code}"
    ] = forms.CharField(
        label=format_lazy("{} ({})", _("purposes"), _name),
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("What they do with the data, for whom."),
    )


@admin.register(Processor)
class ProcessorAdmin(admin.ModelAdmin):
    """The register of processors and recipients (Art. 28, 30), kept by the DPO."""

    form = ProcessorForm
    list_display = (
        "name",
        "role",
        "kind",
        "country",
        "transfer_basis",
        "contract_date",
        "is_active",
    )
    list_filter = ("role", "kind", "is_active")
    search_fields = ("name",)

    def has_delete_permission(self, request, obj=None):
        # Notices already sent point at the entry: deactivate it instead.
        return False
