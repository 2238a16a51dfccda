"""Tests: like local, plus a fast password hasher, eager Celery that propagates, locmem mail."""

from .local import *  # noqa: F403

DEBUG = False
# Django's default PBKDF2 costs ~0.3 s a hash on these machines.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
LANGUAGE_CODE = "en"
# As in production: staff reach the admin and the dashboard only with their second factor.
STAFF_REQUIRE_SECOND_FACTOR = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
