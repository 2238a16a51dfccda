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
