"""The signed links in emails: confirmation, preference centre, one-click unsubscribe, open pixel.

A link carries an opaque id and a signature (Django's signing with its own salt per use), never an
email address. Confirmation and preference links expire; unsubscribe links do not, because
withdrawing must stay as easy as giving (Art. 7(3)), from however old an email.
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import translation

CONFIRM = "newsletters.confirm"
PREFERENCES = "newsletters.preferences"
UNSUBSCRIBE = "newsletters.unsubscribe"
OPEN = "newsletters.open"


class InvalidLink(Exception):
    """Tampered with, expired, or pointing at something that no longer exists."""


def absolute(path: str) -> str:
    return settings.HOUSE_SITE_URL.rstrip("/") + path


def make(value, *, salt: str) -> str:
    return signing.dumps(value, salt=salt)


def read(token: str, *, salt: str, max_age_days: int | None = None):
    max_age = None if max_age_days is None else max_age_days * 24 * 60 * 60
    try:
        return signing.loads(token, salt=salt, max_age=max_age)
    except signing.BadSignature as error:  # includes SignatureExpired
        raise InvalidLink from error


def url(name: str, token: str, *, language: str) -> str:
    with translation.override(language):
        return absolute(reverse(name, kwargs={"token": token}))


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


def open_pixel_url(delivery_id: int) -> str:
    # Outside the language prefix: an image has no language, and a redirect would cost a request.
    return absolute(reverse("newsletter_open", kwargs={"token": make(delivery_id, salt=OPEN)}))
