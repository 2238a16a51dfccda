"""Production: every secret and every service comes from the environment, with no default.

A missing variable stops the process at start-up (ImproperlyConfigured) instead of running with a
development value.
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import cache, database, env

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY")
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS")
BLIND_INDEX_KEY = env.str("BLIND_INDEX_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
# Every email links here (confirmation, preferences, unsubscribe): there is no sensible default.
HOUSE_SITE_URL = env.str("HOUSE_SITE_URL")
DATABASES = {"default": database(env.db("DATABASE_URL"))}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL")
# Shared by every web process: the public forms' rate limits count here (Redis, e.g.
# redis://127.0.0.1:6379/1); a per-process cache would let each process count on its own.
CACHES = {"default": cache(env.str("CACHE_URL"))}
CELERY_TASK_ALWAYS_EAGER = False
vars().update(env.email_url("EMAIL_URL"))

# Every member of staff signs in with a second factor; no variable turns it off here.
STAFF_REQUIRE_SECOND_FACTOR = True

# Cookies only over https, never readable by script, bound to this host (the __Host- prefix makes
# the browser refuse one set for a parent domain or without Secure).
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"
# Static files with content hashes in their names, compressed, served by WhiteNoise with a long
# cache lifetime (`manage.py collectstatic` at deployment).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True

for secret in ("SECRET_KEY", "BLIND_INDEX_KEY"):
    if not globals()[secret]:
        raise ImproperlyConfigured(f"{secret} is set but empty")
if not FIELD_ENCRYPTION_KEYS or not all(FIELD_ENCRYPTION_KEYS):
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is set but empty")
if not HOUSE_SITE_URL.startswith("https://"):
    # Links in every email (unsubscribe, preferences) must be https (RFC 8058 requires it).
    raise ImproperlyConfigured("HOUSE_SITE_URL must start with https://")
