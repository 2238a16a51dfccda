from django import forms
from django.conf import settings
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from concerthouse.public_forms import PublicForm, email_field, name_field
from consent.models import EMAIL_KINDS, MARKETING_KINDS, NoticeVersion, Purpose
from consent.selectors import notice_kinds, notices_current, purposes_offered

from .models import AudienceExport
from .services import preferences_purposes


class NoticeChoiceField(forms.ModelMultipleChoiceField):
    """Boxes whose values are the notice versions shown, so that the ledger records exactly the
    wording the person read even if staff publish a new version while the page is open."""

    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj):
        return obj.label


def _offer(kinds, language: str, *, also=()) -> list[NoticeVersion]:
    """The current wording of each offered purpose of these kinds (plus `also`), in page order."""
    purposes = list(purposes_offered(kinds=kinds))
    purposes += [p for p in also if p not in purposes]
    notices = notices_current(purposes=purposes, language=language)
    return [notices[p.pk] for p in purposes if p.pk in notices]


def _accepted(kinds):
    # Any version of a purpose still offered: the one on the page may have been superseded since.
    return NoticeVersion.objects.filter(
        purpose__kind__in=kinds, purpose__is_active=True
    ).select_related("purpose")


NO_LONGER_OFFERED = _("That choice is no longer offered; please try again.")


class NoticeBoxes(forms.Field):
    """Boxes whose values are the ids of the notice versions shown, as `NoticeChoiceField`, for a
    form that checks them all at once (`SignupForm.clean`): the ids, not the rows, are what a
    received signup keeps."""

    widget = forms.CheckboxSelectMultiple
    # More boxes than any page shows: a body of thousands of ids is refused before the database.
    MOST = 50

    def to_python(self, value) -> list[int]:
        if not value:
            return []
        try:
            pks = sorted({int(pk) for pk in value})
        except (TypeError, ValueError):
            raise forms.ValidationError(NO_LONGER_OFFERED, code="invalid_choice") from None
        if len(pks) > self.MOST or not all(0 < pk < 2**63 for pk in pks):
            raise forms.ValidationError(NO_LONGER_OFFERED, code="invalid_choice")
        return pks


class SignupForm(PublicForm):
    email = email_field(_("Email address"))
    first_name = name_field(_("First name (optional)"), required=False)
    last_name = name_field(_("Last name (optional)"), required=False)
    language = forms.ChoiceField(label=_("Language of the emails"), choices=settings.LANGUAGES)
    lists = NoticeBoxes(
        label=_("Newsletters"), error_messages={"required": _("Choose at least one newsletter.")}
    )
    open_tracking = NoticeBoxes(label=_("Open tracking"), required=False)

    def __init__(self, *args, language: str, **kwargs):
        super().__init__(*args, initial={"language": language}, **kwargs)
        self.page_language = language

    def clean(self):
        cleaned = super().clean()
        lists, tracking = cleaned.get("lists", []), cleaned.get("open_tracking", [])
        if lists or tracking:
            kinds = notice_kinds([*lists, *tracking])
            if any(kinds.get(pk) not in EMAIL_KINDS for pk in lists):
                self.add_error("lists", forms.ValidationError(NO_LONGER_OFFERED))
            if any(kinds.get(pk) != Purpose.Kind.OPEN_TRACKING for pk in tracking):
                self.add_error("open_tracking", forms.ValidationError(NO_LONGER_OFFERED))
        return cleaned

    # Read only when the page is shown: a valid POST is answered without them.
    @cached_property
    def offered_lists(self) -> list[NoticeVersion]:
        return _offer(EMAIL_KINDS, self.page_language)

    @cached_property
    def offered_tracking(self) -> list[NoticeVersion]:
        return _offer([Purpose.Kind.OPEN_TRACKING], self.page_language)

    def chosen_notice_ids(self) -> list[int]:
        return [*self.cleaned_data["lists"], *self.cleaned_data["open_tracking"]]


class PreferencesForm(forms.Form):
    """Every consent the person holds and every marketing purpose on offer: one box each."""

    chosen = NoticeChoiceField(
        queryset=NoticeVersion.objects.none(),
        required=False,
        error_messages={"invalid_choice": NO_LONGER_OFFERED},
    )

    def __init__(self, *args, language: str, customer, **kwargs):
        super().__init__(*args, **kwargs)
        held = set(
            customer.consents.filter(state__in=["pending", "confirmed"]).values_list(
                "purpose_id", flat=True
            )
        )
        # Purposes no longer offered to anybody new still show while this person holds them.
        on_page = [
            purpose
            for purpose in preferences_purposes(customer)
            if purpose.pk in held or (purpose.is_active and purpose.kind in MARKETING_KINDS)
        ]
        notices = notices_current(purposes=on_page, language=language)
        self.offered = [notices[p.pk] for p in on_page if p.pk in notices]
        # Any version of these purposes: the page may have been loaded before a new wording.
        self.fields["chosen"].queryset = NoticeVersion.objects.filter(
            purpose__in=[notice.purpose_id for notice in self.offered]
        ).select_related("purpose")
        confirmed = set(
            customer.consents.filter(state="confirmed").values_list("purpose_id", flat=True)
        )
        # Ticked where the person's consent is confirmed: a pending one counts for nothing yet.
        self.rows = [(notice, notice.purpose_id in confirmed) for notice in self.offered]

    def clean_chosen(self):
        offered = {notice.purpose_id for notice in self.offered}
        chosen = list(self.cleaned_data["chosen"])
        if any(notice.purpose_id not in offered for notice in chosen):
            raise forms.ValidationError(NO_LONGER_OFFERED)
        return chosen


class OptInAgainForm(forms.Form):
    """After an objection: what the person wants again, confirmed from their own address."""

    lists = NoticeChoiceField(
        queryset=NoticeVersion.objects.none(),
        error_messages={
            "required": _("Choose at least one newsletter."),
            "invalid_choice": NO_LONGER_OFFERED,
        },
    )

    def __init__(self, *args, language: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.offered = _offer(MARKETING_KINDS, language)
        self.fields["lists"].queryset = _accepted(MARKETING_KINDS)
        self.rows = [(notice, False) for notice in self.offered]


class EmailForm(PublicForm):
    email = email_field(_("Email address"))


class AudienceExportForm(forms.Form):
    recipient = forms.ChoiceField(label=_("Ad platform"), choices=AudienceExport.Recipient.choices)
