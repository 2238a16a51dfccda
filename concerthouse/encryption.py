"""Field encryption at rest and keyed blind indexes.

Values are encrypted with MultiFernet over `FIELD_ENCRYPTION_KEYS`: the first key encrypts, every key
decrypts, so a new key can be put first and the old rows re-encrypted at leisure
(`manage.py reencrypt`, and weekly by beat). An exact look-up never decrypts: it compares an HMAC of the
normalised value (the blind index) under `BLIND_INDEX_KEY`, which is kept apart from the encryption keys
so that rotating those does not invalidate the indexes.
"""

import functools
import hmac
import operator
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.db import models, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast


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


# --- Key rotation ----------------------------------------------------------------------------------
def encrypted_fields() -> list[tuple[type[models.Model], list[str]]]:
    """Every model with encrypted fields, and their names: national IDs and bank accounts,
    seating needs, and whatever is encrypted next."""
    found = []
    for model in apps.get_models():
        names = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if names:
            found.append((model, names))
    return found


def reencrypt(*, batch_size: int = 500) -> dict[str, int]:
    """Re-encrypt under the newest key every value still under an older one; returns how many rows
    of each model were rewritten.

    Walks each model's primary key in batches, each its own transaction, so an interrupted run
    resumes where it stopped, and a second run (or a duplicated task) finds nothing left to do.
    """
    rewritten = {}
    for model, names in encrypted_fields():
        # The stored tokens as they are, to tell which key encrypted them; rows without any
        # value are not read at all.
        tokens = {f"{name}_token": Cast(name, TextField()) for name in names}
        holders = model._base_manager.annotate(**tokens).filter(
            functools.reduce(operator.or_, (~Q(**{token: ""}) for token in tokens))
        )
        count, last_pk = 0, None
        while True:
            with transaction.atomic():
                page = holders if last_pk is None else holders.filter(pk__gt=last_pk)
                batch = list(
                    page.order_by("pk").only("pk", *names).select_for_update()[:batch_size]
                )
                if not batch:
                    break
                last_pk = batch[-1].pk
                stale = [
                    row
                    for row in batch
                    if any((token := getattr(row, t)) and needs_rotation(token) for t in tokens)
                ]
                # Read with whichever key decrypts; saved under the first.
                model._base_manager.bulk_update(stale, names)
            count += len(stale)
        rewritten[model._meta.label_lower] = count
    return rewritten
