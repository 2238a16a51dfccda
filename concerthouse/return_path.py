"""Return paths that route bounces back to what was sent (VERP).

Every message leaves with an envelope sender of its own, `bounce+<token>@<EMAIL_BOUNCE_DOMAIN>`, so
that a delivery status notification or a spam complaint names, in the address it comes back to,
what it is about. The token is signed (Django's signing, a salt of its own), so a forged report
cannot mark anyone's address undeliverable:

- a campaign message's token is its delivery id and the signature of it (`123.<signature>`);
- any other message to one recipient carries `a.<signature of the address>`: it names nothing, but
  proves, for the address a bounce reports as its Final-Recipient, that this address was mailed.

RFC 5321 allows 64 characters before the @: the prefix, the id and a SHA-256 signature in URL-safe
base64 (43 characters) stay below that for any id up to twelve digits.
"""

import re
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare

from .email_address import normalise_email

SALT = "concerthouse.return_path"
_ADDRESS = "a"
_SEPARATOR = "."


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT, sep=_SEPARATOR, algorithm="sha256")


def _address(token: str) -> str:
    return f"{settings.EMAIL_RETURN_PATH_PREFIX}+{token}@{settings.EMAIL_BOUNCE_DOMAIN}"


def for_delivery(delivery_id: int) -> str:
    return _address(_signer().sign(str(delivery_id)))


def for_address(address: str) -> str:
    return _address(f"{_ADDRESS}{_SEPARATOR}{_signer().signature(normalise_email(address))}")


def is_return_path(address: str) -> bool:
    return _pattern().fullmatch(address.strip().strip("<>")) is not None


@dataclass(frozen=True)
class ReturnPath:
    delivery_id: int | None = None
    address_signature: str = ""

    def names(self, address: str) -> bool:
        """True when this return path was made for mail to `address`."""
        if not self.address_signature:
            return False
        try:
            expected = _signer().signature(normalise_email(address))
        except Exception:  # not an address at all
            return False
        return constant_time_compare(expected, self.address_signature)


class InvalidReturnPath(Exception):
    """Ours in shape, but its signature does not hold: forged, or signed under a retired key."""


def _pattern() -> re.Pattern:
    prefix = re.escape(settings.EMAIL_RETURN_PATH_PREFIX)
    domain = re.escape(settings.EMAIL_BOUNCE_DOMAIN)
    return re.compile(rf"{prefix}\+(?P<token>[A-Za-z0-9._=-]{{1,80}})@{domain}", re.IGNORECASE)


def find(text: str) -> str | None:
    """The first token of one of our return paths in `text` (headers, a report), if any."""
    match = _pattern().search(text or "")
    return match.group("token") if match else None


def read(token: str) -> ReturnPath:
    """What a token names; raises InvalidReturnPath when its signature does not hold."""
    if token.startswith(_ADDRESS + _SEPARATOR):
        return ReturnPath(address_signature=token[len(_ADDRESS + _SEPARATOR) :])
    try:
        value = _signer().unsign(token)
    except signing.BadSignature as error:
        raise InvalidReturnPath from error
    if not value.isdigit():
        raise InvalidReturnPath
    return ReturnPath(delivery_id=int(value))
