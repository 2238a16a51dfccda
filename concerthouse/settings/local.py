"""Local development: the embedded defaults (SQLite, eager Celery, console email) and dev-only keys."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="local-development-only-not-a-secret")
# Development keys, published here on purpose: anything encrypted under them is demo data only.
FIELD_ENCRYPTION_KEYS = env.list(
    "FIELD_ENCRYPTION_KEYS", default=["bG9jYWwtZGV2ZWxvcG1lbnQta2V5LW5vdC1hLXNlY3I="]
)
BLIND_INDEX_KEY = env.str("BLIND_INDEX_KEY", default="local-development-blind-index-key")
# The demo accounts sign in with their password alone; set it to true to try the second factor
# (`manage.py staff_totp <username>` gives an account its authenticator key).
STAFF_REQUIRE_SECOND_FACTOR = env.bool("STAFF_REQUIRE_SECOND_FACTOR", default=False)
# Static files straight from the apps' folders, as runserver does: no collectstatic on a laptop.
STATIC_ROOT = env("STATIC_ROOT", default=None)
WHITENOISE_USE_FINDERS = True
