"""The security measures around personal data (Art. 30(1)(g), 32), described from the running
configuration: the record of processing and the access report both read them here, so neither
promises a measure this installation does not take (Harmonien's policy promises a person to be told
"hvilke sikkerhetstiltak" surround their data).
"""

from dataclasses import dataclass

from django.conf import settings
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from concerthouse.encryption import encrypted_fields
from concerthouse.roles import ROLE_PURPOSES

from .map import PERSON_MODEL


@dataclass(frozen=True)
class Measure:
    title: str
    text: str


def _encryption() -> Measure:
    # The person's own fields by name; another table's by what it holds ("seating needs").
    names = sorted(
        {
            str(model._meta.get_field(name).verbose_name)
            if model._meta.label_lower == PERSON_MODEL
            else str(model._meta.verbose_name_plural)
            for model, names in encrypted_fields()
            for name in names
        }
    )
    if settings.FIELD_ENCRYPTION_KEYS and names:
        text = _(
            "These are encrypted in the database, with keys kept apart from it, and can be found "
            "only by an exact match on a keyed hash: %(fields)s."
        ) % {"fields": ", ".join(names)}
    else:
        text = _("No encryption keys are configured: no field is encrypted in the database.")
    return Measure(_("Encryption of the most sensitive data"), text)


def _sign_in() -> Measure:
    if settings.STAFF_REQUIRE_SECOND_FACTOR:
        text = _(
            "Staff sign in with a password and a one-time code from an authenticator app. After "
            "%(failures)s failed attempts an account is locked for %(minutes)s minutes."
        )
    else:
        text = _(
            "Staff sign in with a password; the one-time code of a second factor is switched off "
            "on this installation. After %(failures)s failed attempts an account is locked for "
            "%(minutes)s minutes."
        )
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return Measure(
        _("Staff sign-in"),
        text % {"failures": settings.AXES_FAILURE_LIMIT, "minutes": minutes},
    )


def _roles() -> Measure:
    roles = "; ".join(str(capfirst(purpose)) for purpose in ROLE_PURPOSES.values())
    return Measure(
        _("Access by role"),
        _(
            "Each member of staff sees only what their work needs, by role (%(roles)s). National "
            "identity numbers and bank accounts are masked, and showing one in full is logged; "
            "seating needs are seen only by the box office and the data protection officer."
        )
        % {"roles": roles},
    )


def _audit_log() -> Measure:
    return Measure(
        _("Audit log"),
        _(
            "Every time staff open or change a person's record is written to a log that cannot be "
            "edited, with the purpose of their work; the log holds no personal values."
        ),
    )


def _transport() -> Measure:
    seconds = getattr(settings, "SECURE_HSTS_SECONDS", 0) or 0
    if getattr(settings, "SECURE_SSL_REDIRECT", False) and seconds:
        days = seconds // 86400
        text = ngettext(
            "Every connection is encrypted (HTTPS only); browsers are told to use nothing else "
            "for %(days)d day (HSTS).",
            "Every connection is encrypted (HTTPS only); browsers are told to use nothing else "
            "for %(days)d days (HSTS).",
            days,
        ) % {"days": days}
    else:
        text = _(
            "This installation does not itself require encrypted connections (HTTPS); that is "
            "left to the server in front of it."
        )
    return Measure(_("Encrypted connections"), text)


def _backups() -> Measure:
    return Measure(
        _("Backups and erasure"),
        _(
            "The database is backed up; a separate journal of erasures, kept apart from the "
            "backups, makes sure that restoring one never brings back a person who was erased. "
            "Data is deleted by the retention rules every day, and logs hold no personal data."
        ),
    )


def security_measures() -> list[Measure]:
    """The measures in place now, in the active language."""
    return [_encryption(), _sign_in(), _roles(), _audit_log(), _transport(), _backups()]
