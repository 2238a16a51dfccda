"""The one form of an email address that is stored, compared, counted and hashed."""

import unicodedata

from django.core.validators import validate_email


def normalise_email(value: str) -> str:
    """Trimmed, NFC, lower-case and valid (raises ValidationError otherwise).

    Called once, where an address enters the registry (a form field, an import row, a service
    called from a script); everything after that compares the stored form exactly."""
    value = unicodedata.normalize("NFC", (value or "").strip()).lower()
    validate_email(value)
    return value
