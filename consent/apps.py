from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save
from django.utils.translation import gettext_lazy as _


def _ensure_default_purposes(sender, apps=None, **kwargs):
    from django.apps import apps as installed_apps

    from .defaults import ensure_default_purposes

    # `migrate` passes the migrated state; `flush` (as between transactional tests) passes none.
    ensure_default_purposes(apps or installed_apps)
    _offer_changed(sender)


def _offer_changed(sender, **kwargs):
    # The signup form reads the offer from the cache (consent.selectors.notice_kinds).
    from .selectors import offered_notices_changed

    offered_notices_changed()


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = _("Consent")

    def ready(self):
        post_migrate.connect(_ensure_default_purposes, sender=self)
        for model_name in ("Purpose", "NoticeVersion"):
            model = self.get_model(model_name)
            post_save.connect(_offer_changed, sender=model)
            post_delete.connect(_offer_changed, sender=model)
