from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from concerthouse.public_forms import PublicForm, email_field, free_text_field, name_field

from .models import PrivacyRequest


class PrivacyRequestFields(forms.Form):
    """What the person wants, and where to reach them. No reason, no ID copy."""

    kind = forms.ChoiceField(
        label=_("What do you want?"),
        choices=PrivacyRequest.Kind.choices,
        widget=forms.RadioSelect,
    )
    email = email_field(_("Your email address"))
    name = name_field(_("Your name"), max_length=200, required=False)
    details = free_text_field(_("Anything you want to add (optional)"), max_length=2000)
    wrong_data = free_text_field(_("For a correction: what is wrong?"), max_length=1000, rows=2)
    correct_data = free_text_field(
        _("For a correction: what should it be?"), max_length=1000, rows=2
    )

    def clean(self):
        data = super().clean()
        if data.get("kind") == PrivacyRequest.Kind.RECTIFICATION and not (
            data.get("wrong_data", "").strip() and data.get("correct_data", "").strip()
        ):
            self.add_error("wrong_data", _("Say what is wrong and what it should be."))
        return data


class PrivacyRequestForm(PublicForm, PrivacyRequestFields):
    """The public form, with the honeypot."""


class RegisterRequestForm(PrivacyRequestFields):
    """Staff registering a request received by phone, at the counter or by letter."""

    channel = forms.ChoiceField(
        label=_("Received"),
        choices=[c for c in PrivacyRequest.Channel.choices if c[0] != PrivacyRequest.Channel.WEB],
    )
    language = forms.ChoiceField(label=_("The person's language"), choices=settings.LANGUAGES)
    identity_check = forms.CharField(
        label=_("How did you check who the person is?"),
        max_length=200,
        help_text=_("For example: asked for the booking reference and the postal address."),
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=forms.Textarea)


class RestrictionForm(forms.Form):
    ground = forms.ChoiceField(label=_("Ground"))

    def __init__(self, *args, grounds, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ground"].choices = grounds
