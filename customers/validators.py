"""Normalising and validating what people type: one canonical form per value, translated errors."""

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum import iban
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.no import fodselsnummer, kontonr
from stdnum.se import personnummer

MASK = "••••••"


def normalise_phone(value: str, *, country: str) -> str:
    """E.164 ("+4791234567"); a number without a country code is read as one of `country`."""
    region = country if country and country != "ZZ" else None
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("Enter a valid phone number, for example +46 70 123 45 67 or +47 912 34 567."),
            code="invalid_phone",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_national_id(value: str, *, country: str) -> str:
    """A Swedish personnummer as 12 digits, a Norwegian fødselsnummer as 11."""
    try:
        if country == "SE":
            compact = personnummer.validate(value)
            digits = "".join(c for c in compact if c.isdigit())
            if len(digits) == 10:
                # The 10-digit form leaves the century to the separator: make it explicit, so that
                # both spellings of one number share one blind index.
                digits = str(personnummer.get_birth_date(compact).year)[:2] + digits
            return digits
        if country == "NO":
            return fodselsnummer.validate(value)
    except StdnumError:
        raise ValidationError(
            _("Enter a valid Swedish personnummer (ÅÅÅÅMMDD-NNNN).")
            if country == "SE"
            else _("Enter a valid Norwegian fødselsnummer (11 digits)."),
            code="invalid_national_id",
        ) from None
    raise ValidationError(
        _("National identity numbers are only kept for Swedish and Norwegian addresses."),
        code="national_id_country",
    )


def normalise_bank_account(value: str) -> str:
    """A Norwegian kontonummer (11 digits) or an IBAN, compact."""
    compact = "".join(c for c in (value or "") if c.isalnum()).upper()
    try:
        if compact.isdigit():
            return kontonr.validate(compact)
        return iban.validate(compact)
    except StdnumError:
        raise ValidationError(
            _("Enter a valid Norwegian account number (11 digits) or an IBAN."),
            code="invalid_bank_account",
        ) from None


def format_national_id(value: str, *, country: str) -> str:
    """The stored digits as people write them: 19770909-4770, 240589 36800."""
    if country == "SE":
        return personnummer.format(value)
    if country == "NO":
        return fodselsnummer.format(value)
    return value


def format_bank_account(value: str) -> str:
    return kontonr.format(value) if value.isdigit() else iban.format(value)


def mask(value: str) -> str:
    """Enough to recognise a value on the phone, not enough to use it: ••••••1234."""
    return f"{MASK}{value[-4:]}" if value else ""
