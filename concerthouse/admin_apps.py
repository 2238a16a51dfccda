from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    """Django's admin, on a site that lets in only staff signed in with their second factor."""

    default_site = "concerthouse.staff_auth.StaffAdminSite"
