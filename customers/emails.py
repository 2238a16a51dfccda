"""The one email of this app: the notice that a restriction of processing will be lifted
(Art. 18(3)), in the person's language, whichever path the restriction came by."""

from email.utils import formataddr

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from .models import Customer


def restriction_lift_notice(customer: Customer) -> EmailMessage:
    with translation.override(customer.preferred_language or settings.LANGUAGE_CODE):
        subject = _("Your restriction of processing will be lifted")
        body = render_to_string(
            "customers/email/restriction_lift.txt",
            {"house_name": settings.HOUSE_NAME, "contact": settings.HOUSE_CONTACT_EMAIL},
        )
    return EmailMessage(
        subject=subject,
        body=body,
        from_email=formataddr((settings.HOUSE_NAME, settings.DEFAULT_FROM_EMAIL)),
        to=[customer.email],
        reply_to=[settings.HOUSE_CONTACT_EMAIL],
    )
