from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


def _sync_roles_after_migrate(sender, apps=None, **kwargs):
    from django.apps import apps as installed_apps

    from .roles import sync_role_groups

    # `migrate` passes the migrated state; `flush` (as between transactional tests) passes none.
    sync_role_groups(apps or installed_apps)


class ConcerthouseConfig(AppConfig):
    name = "concerthouse"
    verbose_name = _("Concert house")

    def ready(self):
        # Every app's <app>/personal_data.py registers its models in the personal-data map.
        autodiscover_modules("personal_data")
        post_migrate.connect(_sync_roles_after_migrate, sender=self)
