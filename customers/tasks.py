from celery import shared_task

from .services import customers_reencrypt_identifiers


@shared_task(acks_late=True)
def reencrypt_identifiers_task() -> int:
    # Idempotent: a second run (or a duplicate delivery) rewrites the same rows under the same key.
    return customers_reencrypt_identifiers()
