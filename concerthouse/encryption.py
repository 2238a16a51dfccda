"""Field encryption at rest and keyed blind indexes.

Values are encrypted with MultiFernet over `FIELD_ENCRYPTION_KEYS`: the first key encrypts, every key
decrypts, so a new key can be put first and the old rows re-encrypted at leisure
(`manage.py reencrypt_identifiers`). An exact look-up never decrypts: it compares an HMAC of the
normalised value (the blind index) under `BLIND_INDEX_KEY`, which is kept apart from the encryption keys
so that rotating those does not invalidate the indexes.
"""

import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.db import models


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key."""


@lru_cache(maxsize=4)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is empty: encrypted fields cannot be used"
        )
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as error:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must hold url-safe base64 Fernet keys"
        ) from error


def _fernet() -> MultiFernet:
    # Read on every call, so that override_settings and a restarted process see the current keys.
    return _multifernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except InvalidToken as error:
        # Never hand back the ciphertext as if it were the value.
        raise DecryptionError("no configured key decrypts this value") from error


def needs_rotation(token: str) -> bool:
    """Whether `token` was encrypted under a key other than the newest one."""
    newest = Fernet(settings.FIELD_ENCRYPTION_KEYS[0])
    try:
        newest.decrypt(token.encode("ascii"))
    except InvalidToken:
        return True
    return False


def blind_index(value: str, *, purpose: str) -> str:
    """A keyed hash of an already normalised value; `purpose` keeps two fields' indexes apart."""
    if not settings.BLIND_INDEX_KEY:
        raise ImproperlyConfigured("BLIND_INDEX_KEY is empty: blind indexes cannot be computed")
    message = f"{purpose}\x00{value}".encode()
    # hmac.digest: the one-shot form, in C; the same value as hmac.new(...).hexdigest().
    return hmac.digest(settings.BLIND_INDEX_KEY.encode(), message, "sha256").hex()


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token; Python sees the clear value, the database never does.

    The empty string is stored as it is, so that "no value" needs no key. The column cannot be
    filtered on: any look-up but `isnull` raises, since it would compare ciphertext. Search the
    field's blind index instead.
    """

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            raise FieldError(
                f"{self.name} is encrypted and cannot be searched with '{lookup_name}'; "
                "filter on its blind index instead"
            )
        return super().get_lookup(lookup_name)
