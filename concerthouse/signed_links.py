"""Signed links in emails: an opaque id and a signature (Django's signing, one salt per use), never
an email address. Each app names its own salts and lifetimes."""

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import translation


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
    """The absolute URL of a public page in a language, with the token in its path."""
    with translation.override(language):
        return absolute(reverse(name, kwargs={"token": token}))
