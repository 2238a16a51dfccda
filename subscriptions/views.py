"""The public booking form. Its answer is the same whether or not the address was known."""

import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from concerthouse import public_forms, signed_links
from concerthouse.public_forms import Outcome, public_form
from concerthouse.ratelimit import DAY
from consent.models import Channel
from newsletters.services import newsletter_signup

from . import services
from .forms import BookingForm, series_on_sale
from .models import Order, SeasonSubscription

BOOKED = "subscriptions.booked"
BOOK = "subscription-booking"  # its rate-limit scope


def _booked_url(public_id) -> str:
    token = signed_links.make(str(public_id), salt=BOOKED)
    return reverse("subscriptions:booked", kwargs={"token": token})


@public_form(BOOK, limit_clients=False)  # counted by the form's outcome()
@never_cache
@require_http_methods(["GET", "POST"])
def book(request):
    language = get_language()
    form = BookingForm(
        request.POST or None, language=language, initial={"booking_key": uuid.uuid4()}
    )
    outcome = form.outcome(request, scope=BOOK) if request.method == "POST" else None
    if outcome is Outcome.TRAPPED:
        # A robot: the answer of a booking (a link to a booking that does not exist), nothing
        # stored or sent.
        return redirect(_booked_url(uuid.uuid4()))
    if outcome is Outcome.HELD:
        # Unlike the other forms, a booking's answer shows the booking, which cannot be faked
        # without telling a real buyer they have seats: the address is told to wait. It learns
        # only that this address was booked with many times today, each time mailing its owner.
        return public_forms.too_many(request, window_seconds=DAY)
    if outcome is Outcome.ACCEPTED:
        data = form.cleaned_data
        try:
            with transaction.atomic():  # the booking and the signup, or neither
                subscription = services.subscription_book(
                    series=data["series"],
                    seats=data["seats"],
                    buyer=form.buyer(),
                    channel=Order.Channel.WEB,
                    booking_key=data["booking_key"],
                    seating_needs=data["seating_needs"],
                    seating_notice=data["seating_notice"],
                )
                if data["marketing"]:
                    # Optional and separate: the usual double opt-in, never a condition of the booking.
                    newsletter_signup(
                        email=data["email"],
                        language=data["language"],
                        notices=list(data["marketing"]),
                        first_name=data["first_name"],
                        last_name=data["last_name"],
                        channel=Channel.BOOKING_FORM,
                    )
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                form.add_error(field if field in form.fields else None, messages)
        else:
            return redirect(_booked_url(subscription.public_id))
    return render(request, "subscriptions/book.html", {"form": form, "series": series_on_sale()})


@never_cache
@require_GET
def booked(request, token):
    try:
        public_id = signed_links.read(token, salt=BOOKED, max_age_days=1)
    except signed_links.InvalidLink:
        return redirect("subscriptions:book")
    subscription = (
        SeasonSubscription.objects.select_related("series__season")
        .filter(public_id=public_id)
        .first()
    )
    if subscription is None:
        return redirect("subscriptions:book")
    return render(request, "subscriptions/booked.html", {"subscription": subscription})
