"""Staff roles: the one table of who may do what (DESIGN.md, Roles).

Each role is a Django group. `sync_role_groups` makes the groups hold exactly the permissions listed
here; a data migration runs it when the roles are introduced and a post_migrate hook runs it after every
`migrate`, so that the permissions of apps that arrive later (and a test database that was flushed)
are granted from this same table.
"""

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _


class Role(TextChoices):
    MARKETING = "Marketing", _("Marketing")
    BOX_OFFICE = "Box office", _("Box office")
    FINANCE = "Finance", _("Finance")
    DPO = "Data protection officer", _("Data protection officer")


# What each role's access is for. The audit log records it with every access, and the access report
# tells the person these purposes, never the names of staff (Art. 15(1)(a)).
ROLE_PURPOSES = {
    Role.MARKETING: _("Newsletters and marketing"),
    Role.BOX_OFFICE: _("Season subscriptions and customer service"),
    Role.FINANCE: _("Accounting and payments"),
    Role.DPO: _("Data protection compliance"),
}
ADMINISTRATION_PURPOSE = _("System administration")

_CONTACT_EDIT = {"customers.view_customer", "customers.add_customer", "customers.change_customer"}

_CONSENT_VIEW = {
    "consent.view_purpose",
    "consent.view_noticeversion",
    "consent.view_consent",
    "consent.view_consentevent",
}
_NEWSLETTERS_VIEW = {
    "newsletters.view_campaign",
    "newsletters.view_campaigntext",
    "newsletters.view_delivery",
    "newsletters.view_signup",
    "newsletters.view_audienceexport",
    # What came back: bounces, complaints and unsubscribe mails read from the inbound mailbox.
    "newsletters.view_inboundmessage",
}
_NEWSLETTERS_RUN = (
    _CONSENT_VIEW
    | _NEWSLETTERS_VIEW
    | {
        # Lists and their wording; a new wording is a new version, never an edit.
        "consent.add_purpose",
        "consent.change_purpose",
        "consent.add_noticeversion",
        "newsletters.add_campaign",
        "newsletters.change_campaign",
        "newsletters.delete_campaign",
        "newsletters.add_campaigntext",
        "newsletters.change_campaigntext",
        "newsletters.delete_campaigntext",
        "newsletters.export_audience",
    }
)

_PROGRAMME_VIEW = {
    "subscriptions.view_season",
    "subscriptions.view_series",
    "subscriptions.view_concert",
}
_SUBSCRIPTIONS_VIEW = _PROGRAMME_VIEW | {"subscriptions.view_seasonsubscription"}
# The accounting records (orders, payments, refunds): finance's, and the DPO's for access requests.
# Box office books and cancels at the counter, which shows what was paid for the booking in hand
# through the subscriptions service; it never browses the house's accounts (Art. 5(1)(c), 32).
_ACCOUNTING_VIEW = {"subscriptions.view_order", "subscriptions.view_payment"}
_SUBSCRIPTIONS_RUN = _SUBSCRIPTIONS_VIEW | {
    "subscriptions.change_seasonsubscription",
    "subscriptions.book_at_counter",
    # Seating needs: health data (Art. 9), for box office and the DPO only.
    "subscriptions.view_seatingneed",
    "subscriptions.change_seatingneed",
    "subscriptions.view_preconcertmail",
    "subscriptions.view_ticketagentimport",
    "subscriptions.view_sourcenotice",
}

ROLE_PERMISSIONS: dict[Role, set[str]] = {
    Role.MARKETING: _CONTACT_EDIT | _NEWSLETTERS_RUN | _SUBSCRIPTIONS_VIEW,
    Role.BOX_OFFICE: _CONTACT_EDIT
    | _SUBSCRIPTIONS_RUN
    | {
        "customers.view_health_data",
        "privacy_requests.register_request",
        # The concert programme and the ticket agents' files.
        "subscriptions.add_season",
        "subscriptions.change_season",
        "subscriptions.add_series",
        "subscriptions.change_series",
        "subscriptions.add_concert",
        "subscriptions.change_concert",
        "subscriptions.add_ticketagentimport",
    },
    Role.FINANCE: _SUBSCRIPTIONS_VIEW
    | _ACCOUNTING_VIEW
    | {
        "customers.view_customer",
        "customers.reveal_identifiers",
        "customers.change_identifiers",  # bank accounts for refunds
    },
    Role.DPO: _CONTACT_EDIT
    | {
        "customers.reveal_identifiers",
        "customers.change_identifiers",
        "customers.view_health_data",
        "customers.restrict_processing",
        "concerthouse.view_auditentry",
        # The retention engine's runs and forecast (the DPO dashboard's retention page).
        "retention.view_run",
        "newsletters.view_suppression",
        "privacy_requests.handle_request",
        "privacy_requests.register_request",
        "privacy_requests.view_processor",
        "privacy_requests.add_processor",
        "privacy_requests.change_processor",
        # The register of personal-data breaches (Art. 33, 34).
        "privacy_requests.manage_breaches",
    }
    | _CONSENT_VIEW
    | _NEWSLETTERS_VIEW
    | _SUBSCRIPTIONS_RUN
    | _ACCOUNTING_VIEW,
}


def purpose_of(user) -> str:
    """The purpose a member of staff's access serves, from their role."""
    if user.is_superuser:
        return ADMINISTRATION_PURPOSE
    names = set(user.groups.values_list("name", flat=True))
    for role, purpose in ROLE_PURPOSES.items():
        if role.value in names:
            return purpose
    return ADMINISTRATION_PURPOSE


def sync_role_groups(apps) -> None:
    """Create the role groups and give each exactly its permissions that exist so far.

    Takes the app registry so that it runs both in a migration (historical models) and after one.
    """
    from django.contrib.auth.management import create_permissions

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    # In a migration the permissions of models created earlier in the same run do not exist yet.
    for app_config in apps.get_app_configs():
        original = getattr(app_config, "models_module", None)
        app_config.models_module = original or True  # create_permissions skips apps without models
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = original
    for role, names in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role.value)
        wanted = [name.split(".", 1) for name in names]
        permissions = Permission.objects.filter(
            content_type__app_label__in={app_label for app_label, _codename in wanted},
            codename__in={codename for _app_label, codename in wanted},
        ).select_related("content_type")
        group.permissions.set(
            [p for p in permissions if [p.content_type.app_label, p.codename] in wanted]
        )
