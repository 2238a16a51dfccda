from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from concerthouse.public_forms import EmailAddressField

from . import validators
from .models import Customer
from .services import DUPLICATE_EMAIL, EDITABLE_FIELDS


class CustomerAdminForm(forms.ModelForm):
    """Contact and relationship fields only: identifiers, restriction and objection have their own
    audited views, so they can never ride along in an ordinary save."""

    class Meta:
        model = Customer
        fields = EDITABLE_FIELDS
        field_classes = {"email": EmailAddressField}  # normalised as it is cleaned

    def clean_email(self):
        email = self.cleaned_data["email"]
        if Customer.objects.with_email(email).exclude(pk=self.instance.pk).exists():
            raise ValidationError(DUPLICATE_EMAIL, code="duplicate_email")
        return email

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("phone"):
            try:
                cleaned["phone"] = validators.normalise_phone(
                    cleaned["phone"], country=cleaned.get("country") or self.instance.country
                )
            except ValidationError as error:
                self.add_error("phone", error)
        return cleaned


class IdentifiersForm(forms.Form):
    national_id = forms.CharField(
        label=_("New national identity number"),
        required=False,
        max_length=20,
        help_text=_("Leave empty to keep the current one."),
    )
    remove_national_id = forms.BooleanField(label=_("Remove the national ID"), required=False)
    bank_account = forms.CharField(
        label=_("New bank account"),
        required=False,
        max_length=40,
        help_text=_("Leave empty to keep the current one."),
    )
    remove_bank_account = forms.BooleanField(label=_("Remove the bank account"), required=False)
    purpose = forms.ChoiceField(
        label=_("Purpose"),
        choices=[("", "---------"), *Customer.IdentifiersPurpose.choices],
        required=False,
    )

    def changes(self) -> dict[str, str | None]:
        """For customer_set_identifiers: a new value, "" to remove, or None to keep."""
        data = self.cleaned_data
        result = {}
        for name in ("national_id", "bank_account"):
            if data[f"remove_{name}"]:
                result[name] = ""
            elif data[name].strip():
                result[name] = data[name]
            else:
                result[name] = None
        return result


class RestrictionForm(forms.Form):
    ground = forms.ChoiceField(
        label=_("Ground"), choices=Customer.RestrictionGround.choices, widget=forms.RadioSelect
    )


class ObjectionForm(forms.Form):
    channel = forms.ChoiceField(
        label=_("Received through"),
        choices=Customer.ObjectionChannel.choices,
        widget=forms.RadioSelect,
    )
