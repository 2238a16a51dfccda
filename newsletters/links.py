"""The signed links in emails: confirmation, preference centre, one-click unsubscribe, open pixel.

A link carries an opaque id and a signature (Django's signing with its own salt per use), never an
email address. Confirmation and preference links expire; unsubscribe links do not, because
withdrawing must stay as easy as giving (Art. 7(3)), from however old an email.
"""

from urllib.parse import quote

from django.conf import settings
from django.urls import reverse

from concerthouse.signed_links import absolute, make, url

CONFIRM = "newsletters.confirm"
PREFERENCES = "newsletters.preferences"
UNSUBSCRIBE = "newsletters.unsubscribe"
OPEN = "newsletters.open"
MAIL_UNSUBSCRIBE = "newsletters.mail_unsubscribe"


def confirmation_url(signup) -> str:
    token = make(signup.public_id.hex, salt=CONFIRM)
    return url("newsletters:confirm", token, language=signup.language)


def preferences_url(customer, *, language: str | None = None) -> str:
    token = make(customer.public_id.hex, salt=PREFERENCES)
    return url("newsletters:preferences", token, language=language or customer.preferred_language)


def unsubscribe_token(customer, purpose) -> str:
    return make([customer.public_id.hex, purpose.code], salt=UNSUBSCRIBE)


def unsubscribe_url(customer, purpose) -> str:
    return url(
        "newsletters:unsubscribe",
        unsubscribe_token(customer, purpose),
        language=customer.preferred_language,
    )


def mail_unsubscribe_token(customer, purpose) -> str:
    return make([customer.public_id.hex, purpose.code], salt=MAIL_UNSUBSCRIBE)


def unsubscribe_mailto(customer, purpose) -> str:
    """The mailto of List-Unsubscribe (RFC 2369): the signed token rides in the subject, which mail
    clients send as it is; the mailbox reader acts on it (newsletters/inbound.py)."""
    subject = quote(f"unsubscribe {mail_unsubscribe_token(customer, purpose)}")
    return f"mailto:{settings.NEWSLETTER_UNSUBSCRIBE_MAILTO}?subject={subject}"


def open_pixel_url(delivery_id: int) -> str:
    # Outside the language prefix: an image has no language, and a redirect would cost a request.
    return absolute(reverse("newsletter_open", kwargs={"token": make(delivery_id, salt=OPEN)}))
