"""The emails of this app, each rendered in the person's language from templates/subscriptions/email.

All of them are service messages on the contract or the law (Art. 6(1)(b), 14), never marketing:
they go without marketing consent and carry no unsubscribe link, and nothing in them sells.
"""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from concerthouse.authority import supervisory_authority
from concerthouse.privacy.map import declaration_for
from concerthouse.signed_links import absolute
from customers.models import Customer
from newsletters.emails import sender

from .models import Concert, Order, SeasonSubscription


def _language(customer: Customer) -> str:
    return customer.preferred_language or settings.LANGUAGE_CODE


def _message(*, customer: Customer, subject: str, template: str, context: dict):
    language = _language(customer)
    with translation.override(language):
        context = {
            "house_name": settings.HOUSE_NAME,
            "contact": settings.HOUSE_CONTACT_EMAIL,
            "customer": customer,
            "privacy_url": absolute(reverse("privacy_requests:notice")),
            "request_url": absolute(reverse("privacy_requests:request")),
            **context,
        }
        body = render_to_string(f"subscriptions/email/{template}.txt", context)
        subject = str(subject)
    return EmailMultiAlternatives(
        subject=subject, body=body, from_email=sender(), to=[customer.email]
    )


def booking_confirmation(subscription: SeasonSubscription) -> EmailMultiAlternatives:
    customer = subscription.customer
    with translation.override(_language(customer)):
        subject = _("Your season subscription at %(house)s: %(reference)s") % {
            "house": settings.HOUSE_NAME,
            "reference": subscription.reference,
        }
    return _message(
        customer=customer,
        subject=subject,
        template="booking_confirmation",
        context={
            "subscription": subscription,
            "series": subscription.series,
            "concerts": list(subscription.series.concerts.all()),
            "order": subscription.order,
            "paid": subscription.order is not None and subscription.order.payments.exists(),
            "seating_recorded": customer.seating_needs.filter(
                season=subscription.series.season
            ).exists(),
        },
    )


def pre_concert_information(concert: Concert, customer: Customer, seats: int):
    with translation.override(_language(customer)):
        subject = _("Welcome to %(title)s") % {"title": concert.title}
    return _message(
        customer=customer,
        subject=subject,
        template="pre_concert",
        context={"concert": concert, "seats": seats},
    )


def source_notice(notice) -> EmailMultiAlternatives:
    """Art. 14: who we are, what we received, from whom, why, for how long, and the person's
    rights; the retention wording comes from the personal-data map, as in the privacy notice."""
    customer = notice.customer
    with translation.override(_language(customer)):
        subject = _("How %(house)s received your details") % {"house": settings.HOUSE_NAME}
    return _message(
        customer=customer,
        subject=subject,
        template="source_notice",
        context={
            "source": notice.source,
            "organisation_number": settings.HOUSE_ORGANISATION_NUMBER,
            "authority": supervisory_authority(),
            "customer_retention": declaration_for(Customer).retention.description,
            "order_retention": declaration_for(Order).retention.description,
            "fields": [
                customer._meta.get_field(name).verbose_name
                for name in (
                    "first_name",
                    "last_name",
                    "email",
                    "phone",
                    "street_address",
                    "postal_code",
                    "city",
                )
                if getattr(customer, name)
            ],
        },
    )
