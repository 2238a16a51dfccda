"""The emails of this app, each rendered in the person's language from templates/newsletters/email."""

from email.utils import formataddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from consent.models import Consent

from . import links


def sender() -> str:
    return formataddr((settings.HOUSE_NAME, settings.DEFAULT_FROM_EMAIL))


def _message(*, to: str, language: str, subject: str, template: str, context: dict, **kwargs):
    context = {"house_name": settings.HOUSE_NAME, **context}
    with translation.override(language):
        body = render_to_string(f"newsletters/email/{template}.txt", context)
    return EmailMultiAlternatives(
        subject=subject, body=body, from_email=sender(), to=[to], **kwargs
    )


def signup_confirmation(signup) -> EmailMultiAlternatives:
    customer = signup.customer
    pending = Consent.objects.filter(customer=customer, state=Consent.State.PENDING).select_related(
        "notice"
    )
    with translation.override(signup.language):
        subject = _("Confirm your subscription to %(house)s") % {"house": settings.HOUSE_NAME}
    return _message(
        to=customer.email,
        language=signup.language,
        subject=subject,
        template="confirm",
        context={
            "labels": [consent.notice.label for consent in pending],
            "confirm_url": links.confirmation_url(signup),
            "days": settings.NEWSLETTER_CONFIRMATION_DAYS,
            "preferences_url": links.preferences_url(customer, language=signup.language),
        },
    )


def preference_link(customer, *, language: str) -> EmailMultiAlternatives:
    with translation.override(language):
        subject = _("Your email preferences at %(house)s") % {"house": settings.HOUSE_NAME}
    return _message(
        to=customer.email,
        language=language,
        subject=subject,
        template="preference_link",
        context={
            "preferences_url": links.preferences_url(customer, language=language),
            "days": settings.NEWSLETTER_PREFERENCE_LINK_DAYS,
        },
    )
