"""The admin side of the personal-data map: each role sees a model's fields as the map allows."""

from django.core.exceptions import ImproperlyConfigured

from .privacy.map import field_visibility

DISPLAY_SUFFIX = "_display"


def _field_name(entry) -> str:
    """The model field an admin entry shows: "national_id_display" and "=national_id" both
    show national_id; a list filter class shows what it filters on."""
    if isinstance(entry, str):
        return entry.lstrip("=^@").split("__")[0].removesuffix(DISPLAY_SUFFIX)
    if isinstance(entry, tuple | list):
        return _field_name(entry[0])
    return getattr(entry, "parameter_name", getattr(entry, "__name__", ""))


class PersonalDataAdminMixin:
    """Drops the fields a user's role may not see from every place the admin could show them.

    A hidden field leaves the fieldsets (so the page and the form), the changelist columns, filters
    and search, and the history. A masked field is shown only through a read-only
    `<field>_display` method that the admin defines; the raw field is never in an editable form.
    """

    def fields_hidden_from(self, request) -> set[str]:
        visibility = field_visibility(self.model, request.user)
        return {name for name, seen in visibility.items() if seen == "hidden"}

    def _without_hidden(self, request, entries):
        hidden = self.fields_hidden_from(request)
        return [entry for entry in entries if _field_name(entry) not in hidden]

    def visible_fieldsets(self, request, fieldsets):
        """`fieldsets` without the hidden fields; an admin that builds its own fieldsets in
        get_fieldsets passes them through here."""
        visible = []
        for title, options in fieldsets:
            fields = self._without_hidden(request, options["fields"])
            if fields:
                visible.append((title, {**options, "fields": fields}))
        return visible

    def get_fieldsets(self, request, obj=None):
        return self.visible_fieldsets(request, super().get_fieldsets(request, obj))

    def get_readonly_fields(self, request, obj=None):
        return self._without_hidden(request, super().get_readonly_fields(request, obj))

    def get_list_display(self, request):
        return self._without_hidden(request, super().get_list_display(request))

    def get_list_filter(self, request):
        return self._without_hidden(request, super().get_list_filter(request))

    def get_search_fields(self, request):
        return self._without_hidden(request, super().get_search_fields(request))

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        restricted = {
            name
            for name, seen in field_visibility(self.model, request.user).items()
            if seen in ("hidden", "masked")
        }
        if restricted & set(form.base_fields):
            raise ImproperlyConfigured(
                f"{type(self).__name__} would put {sorted(restricted & set(form.base_fields))} in "
                "an editable form; show them through a read-only <field>_display instead"
            )
        return form

    def visible_history(self, request, entries):
        """Audit entries as this user may see them: an entry about hidden fields only is left out
        (that someone revealed a national ID is itself not for marketing to see)."""
        hidden = self.fields_hidden_from(request)
        return [
            entry for entry in entries if not entry.field_names or set(entry.field_names) - hidden
        ]
