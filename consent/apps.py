from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _ensure_default_purposes(sender, apps=None, **kwargs):
    from django.apps import apps as installed_apps

    from .defaults import ensure_default_purposes

    # `migrate` passes the migrated state; `flush` (as between transactional tests) passes none.
    ensure_default_purposes(apps or installed_apps)


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = _("Consent")

    def ready(self):
        post_migrate.connect(_ensure_default_purposes, sender=self)
