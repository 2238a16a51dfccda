from django.apps import AppConfig
from django.db.models import CharField
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Customers")

    def ready(self):
        # `email__lower=...` compiles to LOWER(email) = ..., which the case-insensitive unique index
        # on LOWER(email) serves.
        CharField.register_lookup(Lower)
