from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from concerthouse.public_forms import (
    PublicForm,
    TextField,
    address_field,
    email_field,
    name_field,
    postal_code_field,
)
from consent.models import EMAIL_KINDS, NoticeVersion, Purpose
from customers import validators
from customers.models import Customer
from newsletters.forms import NoticeChoiceField, _accepted, _offer

from .models import Payment, Season, SeasonSubscription, SeatingNeed, Series
from .services import Buyer, seats_left


def series_on_sale():
    return (
        Series.objects.filter(on_sale=True, season__ends_on__gte=timezone.localdate())
        .select_related("season")
        .order_by("season__starts_on", "name")
    )


class SeriesChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} {obj.season.name}: {obj.price_per_seat} {obj.currency}"


class BuyerForm(forms.Form):
    """Name, phone, postal address and email: all required, as Örebro's policy says a
    subscription booking asks for them."""

    first_name = name_field(_("First name"))
    last_name = name_field(_("Last name"))
    email = email_field(_("Email address"))
    # As typed ("+46 (0)70-123 45 67"); stored in E.164, at most 16 characters.
    phone = TextField(label=_("Phone number"), max_length=40)
    street_address = address_field(_("Street address"), max_length=200)
    postal_code = postal_code_field(_("Postal code"))
    city = address_field(_("City"), max_length=100)
    country = forms.ChoiceField(label=_("Country"), choices=Customer.Country.choices)
    language = forms.ChoiceField(label=_("Language of our emails"), choices=settings.LANGUAGES)

    def clean(self):
        data = super().clean()
        if data.get("phone") and data.get("country"):
            try:
                data["phone"] = validators.normalise_phone(data["phone"], country=data["country"])
            except ValidationError as error:
                self.add_error("phone", error)
        return data

    def buyer(self) -> Buyer:
        data = self.cleaned_data
        return Buyer(
            email=data["email"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            phone=data["phone"],
            street_address=data["street_address"],
            postal_code=data["postal_code"],
            city=data["city"],
            country=data["country"],
            preferred_language=data["language"],
        )


class SeatingFields(forms.Form):
    """The fixed list of seating needs, and the separate explicit consent (Art. 9(2)(a)) without
    which none of them is stored. The consent box's value is the wording shown, as with every
    consent box."""

    seating_needs = forms.MultipleChoiceField(
        label=_("Seating needs (optional)"),
        choices=SeatingNeed.Need.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    seating_consent = NoticeChoiceField(
        label=_("Explicit consent"), queryset=NoticeVersion.objects.none(), required=False
    )

    def setup_seating(self, language: str):
        self.fields["seating_consent"].queryset = _accepted([Purpose.Kind.ACCESSIBILITY])
        offered = _offer([Purpose.Kind.ACCESSIBILITY], language)
        self.seating_notice = offered[0] if offered else None

    def clean(self):
        data = super().clean()
        consent = data.get("seating_consent") or []
        data["seating_notice"] = consent[0] if consent else None
        if data.get("seating_needs") and data["seating_notice"] is None:
            self.add_error(
                "seating_consent",
                _("To record seating needs we need your explicit consent: tick the box."),
            )
        return data


class BookingForm(PublicForm, BuyerForm, SeatingFields):
    series = SeriesChoiceField(
        label=_("Series"), queryset=Series.objects.none(), widget=forms.RadioSelect
    )
    seats = forms.IntegerField(label=_("Seats"), min_value=1, max_value=20, initial=1)
    # Marketing: every box unticked and optional; the booking never depends on them.
    marketing = NoticeChoiceField(
        label=_("Newsletters and offers (optional)"),
        queryset=NoticeVersion.objects.none(),
        required=False,
    )
    booking_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, language: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["series"].queryset = series_on_sale()
        self.fields["language"].initial = language
        self.fields["country"].initial = settings.HOUSE_COUNTRY
        self.fields["marketing"].queryset = _accepted(EMAIL_KINDS)
        self.offered_marketing = _offer(EMAIL_KINDS, language)
        self.setup_seating(language)

    def clean(self):
        data = super().clean()
        series, seats = data.get("series"), data.get("seats")
        # A form sent again (a double click) gets its first booking back from the service, not
        # "sold out" because that booking took the last seats.
        key = data.get("booking_key")
        resent = key is not None and SeasonSubscription.objects.filter(booking_key=key).exists()
        self.resent = resent
        if series and seats and not resent and seats > seats_left(series):
            left = seats_left(series)
            self.add_error(
                "seats",
                _("Only %(left)d seats are left in this series.") % {"left": left}
                if left
                else _("This series is sold out."),
            )
        return data

    def limit_key(self) -> str | None:
        # A form sent again is answered with its first booking and books nothing: not counted.
        return None if getattr(self, "resent", False) else super().limit_key()


class CounterBookingForm(BuyerForm, SeatingFields):
    """Booking at the counter or by phone: the same rules as the website, and the payment taken."""

    series = SeriesChoiceField(label=_("Series"), queryset=Series.objects.none())
    seats = forms.IntegerField(label=_("Seats"), min_value=1, max_value=20, initial=1)
    payment_method = forms.ChoiceField(
        label=_("Payment"),
        choices=[
            (value, label)
            for value, label in Payment.Method.choices
            if value != Payment.Method.TICKET_AGENT
        ],
    )
    booking_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, language: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["series"].queryset = Series.objects.filter(
            season__ends_on__gte=timezone.localdate()
        ).select_related("season")
        self.fields["country"].initial = settings.HOUSE_COUNTRY
        self.fields["language"].initial = settings.LANGUAGE_CODE
        self.fields["seating_consent"].label = _(
            "The person gave explicit consent to recording these needs (read the text to them)"
        )
        self.setup_seating(language)


class CounterSeatingForm(SeatingFields):
    """Seating needs told at the counter or by phone, for a season, with the consent given there."""

    season = forms.ModelChoiceField(label=_("Season"), queryset=Season.objects.none())

    def __init__(self, *args, language: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["season"].queryset = Season.objects.filter(ends_on__gte=timezone.localdate())
        self.fields["seating_needs"].required = True
        self.setup_seating(language)


class CancelForm(forms.Form):
    refund_method = forms.ChoiceField(
        label=_("Refund what was paid"),
        choices=[("", _("No refund"))]
        + [(v, label) for v, label in Payment.Method.choices if v != Payment.Method.TICKET_AGENT],
        required=False,
    )


class ImportForm(forms.Form):
    agent = forms.CharField(label=_("Ticket agent"), max_length=100, initial="Eventim")
    file = forms.FileField(label=_("CSV file from the ticket agent"))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_MAX_BYTES:
            raise ValidationError(_("The file is too large."))
        return upload
