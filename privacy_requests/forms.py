from django import forms
from django.conf import settings
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from concerthouse.privacy.map import Category
from concerthouse.public_forms import PublicForm, email_field, free_text_field, name_field

from .models import Breach, PrivacyRequest, Processor


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


# --- Personal-data breaches -------------------------------------------------------------------------
class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


def _categories_field(label, required=False):
    return forms.MultipleChoiceField(
        label=label,
        choices=Category.choices,
        widget=forms.CheckboxSelectMultiple,
        required=required,
    )


class BreachForm(forms.ModelForm):
    """The facts of a breach: recorded once, then corrected through events."""

    natures = forms.MultipleChoiceField(
        label=_("What was breached"),
        choices=Breach.Nature.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    data_categories = _categories_field(_("Data categories"))
    system = forms.ChoiceField(label=_("System involved"), required=False)

    class Meta:
        model = Breach
        fields = [
            "title",
            "description",
            "aware_at",
            "discovered",
            "discovery_details",
            "natures",
            "processor",
            "system",
            "started_at",
            "ended_at",
            "data_categories",
            "consequences",
            "measures_taken",
            "measures_proposed",
        ]
        widgets = {
            "aware_at": DateTimeInput(),
            "started_at": DateTimeInput(),
            "ended_at": DateTimeInput(),
            "description": forms.Textarea(attrs={"rows": 3}),
            "discovery_details": forms.Textarea(attrs={"rows": 2}),
            "consequences": forms.Textarea(attrs={"rows": 2}),
            "measures_taken": forms.Textarea(attrs={"rows": 2}),
            "measures_proposed": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, systems=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["system"].choices = [("", "—"), *systems]
        self.fields["processor"].queryset = Processor.objects.filter(is_active=True)


class CorrectionForm(BreachForm):
    note = forms.CharField(
        label=_("Why the correction"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class RiskForm(forms.Form):
    risk = forms.ChoiceField(
        label=_("Risk to people"),
        choices=[c for c in Breach.Risk.choices if c[0] != Breach.Risk.UNASSESSED],
        widget=forms.RadioSelect,
    )
    reasoning = forms.CharField(
        label=_("Why"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )


class PeopleDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Telling the people affected"),
        choices=[c for c in Breach.PeopleDecision.choices if c[0]],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=_("Why"), max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )


class ScopeForm(forms.Form):
    """What the breach reached; every part given narrows it."""

    processor = forms.ModelChoiceField(
        label=_("A processor or recipient of the register"),
        queryset=Processor.objects.none(),
        required=False,
    )
    system = forms.ChoiceField(label=_("A system of our own"), required=False)
    categories = _categories_field(_("Only these data categories"))
    since = forms.DateTimeField(
        label=_("Only data passed on from"), required=False, widget=DateTimeInput()
    )
    until = forms.DateTimeField(
        label=_("Data held by (the end of the window)"), required=False, widget=DateTimeInput()
    )
    addresses = forms.CharField(
        label=_("Addresses a processor supplied (one a line)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args, systems=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["processor"].queryset = Processor.objects.filter(is_active=True)
        self.fields["system"].choices = [("", "—"), *systems]

    def clean(self):
        data = super().clean()
        if not (
            data.get("processor") or data.get("system") or (data.get("addresses") or "").strip()
        ):
            raise forms.ValidationError(
                _("Say what the breach reached: a recipient, a system or a list of addresses.")
            )
        return data


class AuthorityForm(forms.Form):
    text = forms.CharField(label=_("Text sent"), widget=forms.Textarea(attrs={"rows": 16}))
    sent_at = forms.DateTimeField(label=_("Sent"), widget=DateTimeInput())
    reference = forms.CharField(
        label=_("The authority's reference"), max_length=100, required=False
    )
    late_reason = forms.CharField(
        label=_("Reasons for the delay, if sent after 72 hours"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class MessageForm(forms.Form):
    """The message to the people, in every language of the house."""

    LABELS = {
        "happened": _("What happened, in plain words"),
        "consequences": _("What it may mean for them"),
        "measures": _("What we have done and will do, and what they can do"),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for code, name in settings.LANGUAGES:
            for part, label in self.LABELS.items():
                self.fields[f"{part}_{code}"] = forms.CharField(
                    label=format_lazy("{} ({})", label, name),
                    max_length=5000,
                    widget=forms.Textarea(attrs={"rows": 2}),
                )

    def texts(self) -> dict:
        return {
            code: {part: self.cleaned_data[f"{part}_{code}"] for part in self.LABELS}
            for code, _name in settings.LANGUAGES
        }


class NoteForm(forms.Form):
    note = forms.CharField(
        label=_("Note"), max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
