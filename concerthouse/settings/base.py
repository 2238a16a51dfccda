"""Settings shared by every environment.

Everything that differs between a laptop and production comes from the environment through the one
`env` below; `local`, `test` and `production` only choose the defaults and the strictness.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

# --- The house -------------------------------------------------------------------------------------
# The country decides the bookkeeping hold, the public holidays, the supervisory authority and the
# national-ID format that the registry validates.
HOUSE_COUNTRY = env.str("HOUSE_COUNTRY", default="SE")
HOUSE_NAME = env.str("HOUSE_NAME", default="Demo Konserthus")
HOUSE_ORGANISATION_NUMBER = env.str("HOUSE_ORGANISATION_NUMBER", default="")
HOUSE_CONTACT_EMAIL = env.str("HOUSE_CONTACT_EMAIL", default="dataskydd@example.org")
HOUSE_SITE_URL = env.str("HOUSE_SITE_URL", default="http://127.0.0.1:8000")
# The controller's postal address, for the privacy notice and the record of processing (Art. 13,
# 30); one line, e.g. "Box 123, 701 42 Örebro".
HOUSE_ADDRESS = env.str("HOUSE_ADDRESS", default="")
# The data protection officer's contact (Art. 13(1)(b), 30(1)(a)): by default the house's
# privacy address, which the DPO reads.
DPO_NAME = env.str("DPO_NAME", default="")
DPO_EMAIL = env.str("DPO_EMAIL", default=HOUSE_CONTACT_EMAIL)
# The month the financial year starts (1 = the calendar year): the bookkeeping hold counts from its end.
HOUSE_FINANCIAL_YEAR_START_MONTH = env.int("HOUSE_FINANCIAL_YEAR_START_MONTH", default=1)

# --- Django core ------------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

# The model that stands for a person in the privacy core (concerthouse/privacy), as AUTH_USER_MODEL
# names the user.
PRIVACY_PERSON_MODEL = "customers.Customer"

# The project's own apps (their app labels): whose foreign keys carry their on_delete in the
# database (concerthouse/migration_operations.py, checked by tests/test_foreign_keys.py).
PROJECT_APPS = [
    "customers",
    "consent",
    "newsletters",
    "subscriptions",
    "privacy_requests",
    "retention",
    # Last, so that its post_migrate role sync runs after every app's permissions exist.
    "concerthouse",
]
INSTALLED_APPS = [
    # Django's admin on a site that requires the second factor (concerthouse/staff_auth.py).
    "concerthouse.admin_apps.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    # Country names in the page's language: the processor register's countries and transfers.
    "django_countries",
    *PROJECT_APPS,
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "concerthouse.security.SecurityHeadersMiddleware",
    # Static files from the web process itself (admin CSS and JS, the site's CSS): no CDN, nothing
    # fetched from a third party.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before the CSRF check reads a public form's body: size, per-client limit, clean text.
    "concerthouse.public_forms.PublicFormMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "concerthouse.cookies.CookieNoticeMiddleware",
    # Last, as django-axes requires: it turns a locked-out sign-in into its lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "concerthouse.urls"
WSGI_APPLICATION = "concerthouse.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "concerthouse.context_processors.house",
                "concerthouse.cookies.cookie_notice",
            ],
        },
    },
]


def database(config: dict) -> dict:
    """PostgreSQL without JIT compilation. Its cost threshold is crossed by this application's
    queries with subqueries (the retention forecast, a purge's batches), which then spent seconds
    compiling what runs in milliseconds: measured here, a forecast over a million people took
    27 s with JIT and 1.4 s without."""
    if config["ENGINE"] == "django.db.backends.postgresql":
        options = config.setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} -c jit=off".strip()
    return config


DATABASES = {
    "default": database(env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"))
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def cache(url: str) -> dict:
    """The cache of a CACHE_URL. Redis through django-redis, whose public client
    (`django_redis.get_redis_connection`) the rate limits count through in one pipeline
    (concerthouse/ratelimit.py); any other cache as django-environ reads it."""
    redis = url.startswith("redis")  # redis://, rediss://, rediscache://
    return env.cache_url_config(url, backend="django_redis.cache.RedisCache" if redis else None)


# locmem by default: enough for one process (a laptop); production counts in a shared Redis.
CACHES = {"default": cache(env.str("CACHE_URL", default="locmemcache://"))}

# --- Languages --------------------------------------------------------------------------------------
LANGUAGES = [("sv", _("Swedish")), ("nb", _("Norwegian (Bokmål)")), ("en", _("English"))]
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default={"NO": "nb"}.get(HOUSE_COUNTRY, "sv"))
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env.str(
    "TIME_ZONE", default="Europe/Stockholm" if HOUSE_COUNTRY == "SE" else "Europe/Oslo"
)

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]

LOGIN_URL = "admin:login"

# --- Staff sign-in (concerthouse/staff_auth.py) -----------------------------------------------------
# A password and a TOTP code. `local` turns the code off for the demo accounts; production forces it.
STAFF_REQUIRE_SECOND_FACTOR = env.bool("STAFF_REQUIRE_SECOND_FACTOR", default=True)
OTP_TOTP_ISSUER = HOUSE_NAME
AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out account before its password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Argon2id first: new and upgraded hashes use it; the others still check older hashes.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Only staff have sessions. They end after this many idle minutes (each request renews them) and
# when the browser closes. A password change ends every other session of the account (Django keeps
# a hash of the password in each), and a deactivated account's sessions end at their next request.
SESSION_COOKIE_AGE = env.int("STAFF_SESSION_IDLE_MINUTES", default=30) * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_HTTPONLY = True
# django-axes: the sixth failure in a row (password or code) locks the account for an hour, and so
# do six from one address whatever the usernames (guessing one password across accounts); an
# administrator can lift it sooner (`manage.py axes_reset_username <username>`).
AXES_FAILURE_LIMIT = env.int("STAFF_LOCKOUT_FAILURES", default=6)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("STAFF_LOCKOUT_MINUTES", default=60))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
# Axes keeps only the failures it counts: no log of every sign-in with its address, and no username
# or address in its log lines.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
AXES_CLIENT_STR_CALLABLE = "concerthouse.staff_auth.client_description"
# The visitor behind TRUSTED_PROXY_COUNT reverse proxies, as the public forms' limits count it.
AXES_CLIENT_IP_CALLABLE = "concerthouse.ratelimit.client_ip"

# --- Response headers (concerthouse/security.py, with SecurityMiddleware's) -------------------------
# Every page loads only what this server serves: no inline script or style, no third party.
CONTENT_SECURITY_POLICY = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "object-src": "'none'",
}
# No page needs any of these browser features.
PERMISSIONS_POLICY = {
    feature: "()"
    for feature in (
        "accelerometer",
        "browsing-topics",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "usb",
    )
}
# The full address only to this site's own pages: a signed link in a URL never leaves in a Referer.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Secrets ----------------------------------------------------------------------------------------
# `local` and `test` give development values; `production` requires every one of them.
SECRET_KEY = env.str("SECRET_KEY", default="")
# Earlier SECRET_KEYs during a rotation: signed links and sessions made under them still work
# (README, Production: key rotation).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
# Fernet keys, newest first: the first encrypts, all of them decrypt (MultiFernet).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
# A separate HMAC key for the blind indexes: it is never rotated with the encryption keys, because a
# new one would mean recomputing every index from the clear values.
BLIND_INDEX_KEY = env.str("BLIND_INDEX_KEY", default="")

# --- Email ------------------------------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="no-reply@example.org")
# Mail that goes out by SMTP passes concerthouse/mail_backend.py: a return path per message (VERP)
# and, with a key, a DKIM signature.
if EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend":  # noqa: F821 (from EMAIL_URL)
    EMAIL_BACKEND = "concerthouse.mail_backend.EmailBackend"
# Bounces and complaints come back to `<prefix>+<signed token>@<domain>` (concerthouse/return_path.py):
# the domain's MX must deliver them to the mailbox INBOUND_MAIL_URL reads.
EMAIL_BOUNCE_DOMAIN = env.str("EMAIL_BOUNCE_DOMAIN", default=DEFAULT_FROM_EMAIL.rpartition("@")[2])
EMAIL_RETURN_PATH_PREFIX = env.str("EMAIL_RETURN_PATH_PREFIX", default="bounce")
# DKIM (RFC 6376): with a key, every message is signed as the domain (docs/operations.md). The key
# is a PEM, in the variable itself (newlines written \n) or in a file.
DKIM_DOMAIN = env.str("DKIM_DOMAIN", default=DEFAULT_FROM_EMAIL.rpartition("@")[2])
DKIM_SELECTOR = env.str("DKIM_SELECTOR", default="registry")
DKIM_PRIVATE_KEY = env.str("DKIM_PRIVATE_KEY", default="")
DKIM_PRIVATE_KEY_FILE = env.str("DKIM_PRIVATE_KEY_FILE", default="")
# The sender id of the Feedback-ID header, by which mailbox providers report complaint rates.
EMAIL_FEEDBACK_SENDER = env.str("EMAIL_FEEDBACK_SENDER", default="registry")

# --- The inbound mailbox (newsletters/inbound.py) ---------------------------------------------------
# Where bounces, complaints and unsubscribe mails arrive: imaps://user:password@host:993/INBOX
# (TLS only). Unset: nothing is read.
INBOUND_MAIL_URL = env.str("INBOUND_MAIL_URL", default="")
# A CA certificate to trust for that server besides the system's (a private or test server).
INBOUND_MAIL_CA_FILE = env.str("INBOUND_MAIL_CA_FILE", default="")
# Messages fetched, acted on in one transaction and moved, per round trip.
INBOUND_MAIL_BATCH_SIZE = env.int("INBOUND_MAIL_BATCH_SIZE", default=200)
# Each message is moved to a folder of its outcome, named with this prefix (never deleted).
INBOUND_MAIL_FOLDER_PREFIX = env.str("INBOUND_MAIL_FOLDER_PREFIX", default="Registry-")
INBOUND_MAIL_TIMEOUT = env.int("INBOUND_MAIL_TIMEOUT", default=60)

# --- Retention (DESIGN.md, Retention defaults; per house through the environment) ------------------
RETENTION_LEAD_YEARS = env.int("RETENTION_LEAD_YEARS", default=3)
RETENTION_ENDED_CUSTOMER_MONTHS = env.int("RETENTION_ENDED_CUSTOMER_MONTHS", default=13)
RETENTION_UNCONFIRMED_SIGNUP_DAYS = env.int("RETENTION_UNCONFIRMED_SIGNUP_DAYS", default=30)
RETENTION_DELIVERY_LOG_MONTHS = env.int("RETENTION_DELIVERY_LOG_MONTHS", default=24)
RETENTION_UNVERIFIED_REQUEST_DAYS = env.int("RETENTION_UNVERIFIED_REQUEST_DAYS", default=30)
# Answered requests are kept to show how the house met its duties (Art. 5(2)).
RETENTION_CLOSED_REQUEST_YEARS = env.int("RETENTION_CLOSED_REQUEST_YEARS", default=3)
# The daily purge, as a cron line (minute hour day-of-month month day-of-week), in TIME_ZONE.
RETENTION_PURGE_CRON = env.str("RETENTION_PURGE_CRON", default="45 2 * * *")
# Rows (or people) per batch: each batch is one transaction, so this bounds memory and lock time.
RETENTION_BATCH_SIZE = env.int("RETENTION_BATCH_SIZE", default=5000)
# Database connections one rule's purge works through at once, each on its own share of the rows:
# PostgreSQL checks the foreign keys of every deleted person one by one, on one core per connection.
# Up to the database server's cores, less what the house's daytime work needs if the purge runs then.
RETENTION_PARALLELISM = env.int("RETENTION_PARALLELISM", default=2)
# A run that has not shown a sign of life (one per batch) for this long is resumed by another.
RETENTION_LEASE_SECONDS = env.int("RETENTION_LEASE_SECONDS", default=10 * 60)
RETENTION_RESUME_SECONDS = env.float("RETENTION_RESUME_SECONDS", default=10 * 60.0)
# The erasure journal's file (concerthouse/privacy/journal.py): keep it on storage that is backed up apart from the database, since
# restoring the database must not roll it back (README, Backups and restores).
ERASURE_JOURNAL_PATH = env.path(
    "ERASURE_JOURNAL_PATH", default=BASE_DIR / "private" / "erasure-journal.jsonl"
)

# --- Celery -----------------------------------------------------------------------------------------
# Without a broker the tasks run in-process, so that a fresh machine needs nothing but Python.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = (
    True  # a worker that dies mid-task leaves it for another; tasks are idempotent
)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
# ETAs must stay inside the visibility timeout, or Redis hands the task to a second worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60}
CELERY_TASK_SERIALIZER = "json"
# Workers log through LOGGING above (with its redaction), not through handlers of Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# A cron line's fields, in cron's order (Celery's crontab takes day_of_week before day_of_month).
_CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
CELERY_BEAT_SCHEDULE = {
    "encryption-reencrypt-weekly": {
        # Finishes a key rotation that was started but not completed, and is a no-op otherwise.
        "task": "concerthouse.tasks.reencrypt_task",
        "schedule": crontab(hour=3, minute=30, day_of_week="sunday"),
    },
    "newsletters-send-due-campaigns": {
        # Starts scheduled campaigns and resumes one whose task was lost.
        "task": "newsletters.tasks.send_due_campaigns_task",
        "schedule": 60.0,
    },
    "customers-sweep": {
        # Notices of a restriction's lifting (Art. 18(3)) that a lost task never sent.
        "task": "customers.tasks.sweep_task",
        "schedule": 5 * 60.0,
    },
    "privacy-requests-sweep": {
        # Verification links, answers and Art. 19 notices that a lost task never sent.
        "task": "privacy_requests.tasks.sweep_task",
        "schedule": 5 * 60.0,
    },
    "retention-purge": {
        # Every retention rule of the personal-data map (retention/engine.py), once a day.
        "task": "retention.tasks.purge_task",
        "schedule": crontab(**dict(zip(_CRON_FIELDS, RETENTION_PURGE_CRON.split(), strict=True))),
    },
    "retention-resume": {
        # A purge whose worker died is resumed from its checkpoints once its lease runs out.
        "task": "retention.tasks.resume_task",
        "schedule": RETENTION_RESUME_SECONDS,
    },
    "erasure-journal-write": {
        # Erasure journal entries a lost task never appended to the journal file.
        "task": "concerthouse.tasks.write_journal_task",
        "schedule": 5 * 60.0,
    },
    "subscriptions-pre-concert-mail": {
        # The pre-concert information of concerts in the next PRE_CONCERT_MAIL_DAYS days.
        "task": "subscriptions.tasks.send_pre_concert_mail_task",
        "schedule": crontab(minute=10),
    },
    "subscriptions-sweep": {
        # Booking confirmations and Art. 14 notices a lost task never sent; stalled imports.
        "task": "subscriptions.tasks.sweep_task",
        "schedule": 15 * 60.0,
    },
    "subscriptions-daily": {
        # Relationships whose last subscription ended.
        "task": "subscriptions.tasks.daily_task",
        "schedule": crontab(hour=1, minute=30),
    },
    "newsletters-process-signup-intakes": {
        # Signups the form received that a lost task or a broker outage left unprocessed.
        "task": "newsletters.tasks.process_signup_intakes_task",
        "schedule": 60.0,
    },
    "newsletters-read-mailbox": {
        # Bounces, complaints and unsubscribe mails (newsletters/inbound.py); a no-op without
        # INBOUND_MAIL_URL. The mailbox is the queue: a run lost or doubled loses or repeats nothing.
        "task": "newsletters.tasks.read_mailbox_task",
        "schedule": 60.0,
    },
    "newsletters-send-owed-confirmations": {
        # Confirmation emails that a broker outage or a lost task never sent.
        "task": "newsletters.tasks.send_owed_confirmations_task",
        "schedule": 5 * 60.0,
    },
}

# --- Logging: no personal data, ever -----------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Redacts addresses, phone numbers, national IDs and PostgreSQL's quoted values from every
    # line and every traceback (concerthouse/logging.py).
    "filters": {"redact": {"()": "concerthouse.logging.RedactPersonalData"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # django-axes writes a line per sign-in at INFO; its warnings (lock-outs) are enough.
        "axes": {"level": "WARNING"},
        # Without Django's own handlers: its console handler bypasses the filter, and mail_admins
        # would mail the request with its body. django.request and django.security reach the
        # console through the root: the path and the exception, never the body.
        "django": {"handlers": [], "propagate": True},
        # At DEBUG it prints every query with its parameters: personal data.
        "django.db.backends": {"level": "INFO"},
    },
}

# --- Newsletters ------------------------------------------------------------------------------------
NEWSLETTER_CONFIRMATION_DAYS = env.int("NEWSLETTER_CONFIRMATION_DAYS", default=7)
# The signup form stores what it receives; a task turns it into the person and their pending
# consents this many seconds later, for everything received meanwhile (newsletters.services).
NEWSLETTER_INTAKE_DELAY_SECONDS = env.float("NEWSLETTER_INTAKE_DELAY_SECONDS", default=1.0)
NEWSLETTER_INTAKE_BATCH_SIZE = env.int("NEWSLETTER_INTAKE_BATCH_SIZE", default=200)
NEWSLETTER_PREFERENCE_LINK_DAYS = env.int("NEWSLETTER_PREFERENCE_LINK_DAYS", default=60)
# Where mail clients send the mailto form of List-Unsubscribe (RFC 2369). With a mailbox to read, an
# address of the bounce domain that must be delivered to it; without one, staff's address.
NEWSLETTER_UNSUBSCRIBE_MAILTO = env.str(
    "NEWSLETTER_UNSUBSCRIBE_MAILTO",
    default=f"unsubscribe@{EMAIL_BOUNCE_DOMAIN}" if INBOUND_MAIL_URL else HOUSE_CONTACT_EMAIL,
)
NEWSLETTER_LIST_ID_DOMAIN = env.str("NEWSLETTER_LIST_ID_DOMAIN", default="lists.example.org")
# The signed token in the subject of the List-Unsubscribe mailto works this long; after it, such a
# mail is left for staff (newsletters/inbound.py).
NEWSLETTER_MAIL_UNSUBSCRIBE_DAYS = env.int("NEWSLETTER_MAIL_UNSUBSCRIBE_DAYS", default=365)
# Bounce policy: a hard bounce marks the address undeliverable at once; soft bounces once this many
# deliveries to the person bounced softly within this many days.
NEWSLETTER_SOFT_BOUNCE_LIMIT = env.int("NEWSLETTER_SOFT_BOUNCE_LIMIT", default=3)
NEWSLETTER_SOFT_BOUNCE_DAYS = env.int("NEWSLETTER_SOFT_BOUNCE_DAYS", default=30)
# Campaign warnings: complaint and hard-bounce rates above these shares of the messages sent.
NEWSLETTER_COMPLAINT_RATE_WARNING = env.float("NEWSLETTER_COMPLAINT_RATE_WARNING", default=0.001)
NEWSLETTER_HARD_BOUNCE_RATE_WARNING = env.float("NEWSLETTER_HARD_BOUNCE_RATE_WARNING", default=0.02)
# The house's colours in campaign emails (templates/newsletters/email/campaign.html).
HOUSE_COLOUR_PRIMARY = env.str("HOUSE_COLOUR_PRIMARY", default="#7a1f3d")
HOUSE_COLOUR_BACKGROUND = env.str("HOUSE_COLOUR_BACKGROUND", default="#f4efe9")
# Messages per SMTP connection and per claim of delivery rows.
NEWSLETTER_BATCH_SIZE = env.int("NEWSLETTER_BATCH_SIZE", default=200)
# Art. 34 messages to the people a breach affected, claimed and sent this many at a time.
BREACH_NOTICE_BATCH_SIZE = env.int("BREACH_NOTICE_BATCH_SIZE", default=200)
# Tasks that send one campaign side by side; match it to the workers' total concurrency.
NEWSLETTER_SENDERS = env.int("NEWSLETTER_SENDERS", default=2)
# Ad platforms match a list only above a size; below it, a list would single people out.
AUDIENCE_EXPORT_MINIMUM = env.int("AUDIENCE_EXPORT_MINIMUM", default=100)

# --- Season subscriptions --------------------------------------------------------------------------
# The pre-concert information email goes this many days before each concert (Harmonien: "et par
# dager i forkant").
PRE_CONCERT_MAIL_DAYS = env.int("PRE_CONCERT_MAIL_DAYS", default=3)
# Rows of a ticket-agent file handled per transaction.
IMPORT_BATCH_SIZE = env.int("IMPORT_BATCH_SIZE", default=1000)
# The largest ticket-agent file staff may upload (100,000 rows are about 20 MB).
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=200 * 1024 * 1024)

# --- Privacy requests -------------------------------------------------------------------------------
PRIVACY_VERIFICATION_DAYS = env.int("PRIVACY_VERIFICATION_DAYS", default=7)
PRIVACY_PACKAGE_LINK_DAYS = env.int("PRIVACY_PACKAGE_LINK_DAYS", default=14)
# Access and portability packages are deleted this long after they are made.
PRIVACY_PACKAGE_DAYS = env.int("PRIVACY_PACKAGE_DAYS", default=30)
# --- Public forms (concerthouse/public_forms.py) -----------------------------------------------------
# Per form: POSTs from one client an hour, over which it gets a 429 page; and submissions for one
# email address a day (on a signed link's page: for its person), over which the answer is the usual
# one and nothing is stored or sent, so that the limit never tells whether an address is known.
PUBLIC_FORM_LIMIT_PER_CLIENT_PER_HOUR = env.int("PUBLIC_FORM_LIMIT_PER_CLIENT_PER_HOUR", default=20)
PUBLIC_FORM_LIMIT_PER_ADDRESS_PER_DAY = env.int("PUBLIC_FORM_LIMIT_PER_ADDRESS_PER_DAY", default=5)
# Reverse proxies in front that append to X-Forwarded-For: the client is the address that many
# places from its right (concerthouse.ratelimit.client_ip). 0: REMOTE_ADDR is the client.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Request bodies read into memory: a public form's is refused above 64 kB before it is read; staff
# forms get 1 MB. Uploaded files do not count (the ticket-agent import streams to disk up to
# IMPORT_MAX_BYTES).
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
DATA_UPLOAD_MAX_NUMBER_FILES = 10
CSRF_FAILURE_VIEW = "concerthouse.errors.csrf_failure"

# Files that must never be served as static or media: the access packages.
PRIVATE_MEDIA_ROOT = env.path("PRIVATE_MEDIA_ROOT", default=BASE_DIR / "private")
