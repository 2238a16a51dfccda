from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from concerthouse.admin import LargeTableAdmin
from concerthouse.audit import audit_record
from concerthouse.models import AuditEntry
from concerthouse.personal_data_admin import PersonalDataAdminMixin
from concerthouse.privacy.person import Right, exercise_right
from concerthouse.roles import purpose_of

from . import services, validators
from .forms import CustomerAdminForm, IdentifiersForm, ObjectionForm, RestrictionForm
from .models import Customer

IDENTIFIER_FIELDS = ("national_id", "bank_account")  # the fields reveal_view may reveal


class RightsFilter(admin.SimpleListFilter):
    title = _("rights exercised")
    parameter_name = "rights"

    def lookups(self, request, model_admin):
        return [
            ("restricted", _("Processing restricted")),
            ("objecting", _("Objects to marketing")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "restricted":
            return queryset.filter(restricted_at__isnull=False)
        if self.value() == "objecting":
            return queryset.filter(marketing_objection_at__isnull=False)
        return queryset


@admin.register(Customer)
class CustomerAdmin(PersonalDataAdminMixin, LargeTableAdmin):
    form = CustomerAdminForm
    list_display = ("__str__", "email", "phone", "postal_code", "kind", "source", "rights_flags")
    list_filter = ("kind", "source", "country", "preferred_language", RightsFilter)
    # Any part of an address, a name or a postal code ("413" finds 413 19), case-insensitive: each
    # served on PostgreSQL by a trigram index on UPPER(column) (migration 0003), which is what
    # Django's icontains compiles to. A phone number is matched whole instead: see
    # get_search_results.
    search_fields = ("email", "first_name", "last_name", "postal_code")
    search_help_text = _(
        "Part of an email address, a name or a postal code; or a whole phone number, in any "
        "spelling."
    )
    list_per_page = 50
    readonly_fields = (
        "relationship_started_on",
        "relationship_ended_on",
        "last_activity_at",
        "national_id_display",
        "bank_account_display",
        "identifiers_purpose",
        "rights_status",
        "email_undeliverable_at",
        "email_undeliverable_reason",
        "public_id",
        "created_at",
        "updated_at",
    )

    # --- what each role sees -----------------------------------------------------------------------

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": ("email", "first_name", "last_name", "phone", "preferred_language")}),
            (_("Postal address"), {"fields": ("street_address", "postal_code", "city", "country")}),
            (
                _("Relationship"),
                {"fields": ("kind", "source", "source_detail", *self._relationship_dates(obj))},
            ),
        ]
        if obj is not None:
            fieldsets += [
                (
                    _("Identifiers"),
                    {
                        "fields": (
                            "national_id_display",
                            "bank_account_display",
                            "identifiers_purpose",
                        )
                    },
                ),
                (_("Restriction and objection"), {"fields": ("rights_status",)}),
                # Set by the mailbox reader from bounces; a new confirmed signup clears it.
                (
                    _("Email delivery"),
                    {"fields": ("email_undeliverable_at", "email_undeliverable_reason")},
                ),
                (_("Record"), {"fields": ("public_id", "created_at", "updated_at")}),
            ]
        # The personal-data map decides what of this the user's role may see.
        return self.visible_fieldsets(request, fieldsets)

    @staticmethod
    def _relationship_dates(obj):
        if obj is None:
            return ()
        return ("relationship_started_on", "relationship_ended_on", "last_activity_at")

    def get_search_results(self, request, queryset, search_term):
        """Besides the text search, a term that reads as a phone number ("070-123 45 67",
        "+46 70 123 45 67") finds the person with that number: phones are stored in E.164, so a
        substring of what staff type would rarely match, and the exact value is served by its
        index. Only for roles that see phones."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if "phone" in self.fields_hidden_from(request) or not search_term:
            return found, may_have_duplicates
        try:
            phone = validators.normalise_phone(search_term, country=settings.HOUSE_COUNTRY)
        except ValidationError:
            return found, may_have_duplicates
        return found | queryset.filter(phone=phone), may_have_duplicates

    def get_queryset(self, request):
        # Identifiers are decrypted only where a page shows them (the masked display), not for
        # every row of every list and every role.
        return super().get_queryset(request).defer("national_id", "bank_account")

    def has_change_permission(self, request, obj=None):
        # Art. 18: a restricted person's data is only stored; only the DPO may still act on it.
        if obj is not None and obj.is_restricted:
            return request.user.has_perm("customers.restrict_processing")
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Removing a person is an erasure: it goes through a privacy request, which honours legal
        # holds, redacts the audit log and suppresses the address. A plain delete would do none.
        return False

    # --- displays ------------------------------------------------------------------------------------

    @admin.display(description=_("National identity number"))
    def national_id_display(self, obj):
        return self._masked(obj, "national_id")

    @admin.display(description=_("Bank account"))
    def bank_account_display(self, obj):
        return self._masked(obj, "bank_account")

    def _masked(self, obj, field):
        value = getattr(obj, field)
        if not value:
            return "—"
        url = reverse("admin:customers_customer_reveal", args=[obj.pk, field])
        return format_html(
            '<span class="masked">{}</span> <a class="button" href="{}">{}</a>',
            validators.mask(value),
            url,
            _("Reveal"),
        )

    @admin.display(description=_("Status"))
    def rights_status(self, obj):
        lines = []
        if obj.is_restricted:
            lines.append(
                _("Processing restricted since %(date)s: %(ground)s.")
                % {
                    "date": f"{obj.restricted_at:%Y-%m-%d}",
                    "ground": obj.get_restriction_ground_display(),
                }
            )
        if obj.objects_to_marketing:
            lines.append(
                _("Objects to direct marketing since %(date)s (%(channel)s).")
                % {
                    "date": f"{obj.marketing_objection_at:%Y-%m-%d}",
                    "channel": obj.get_marketing_objection_channel_display(),
                }
            )
        return " ".join(str(line) for line in lines) or _("No restriction, no objection.")

    @admin.display(description=_("Rights"))
    def rights_flags(self, obj):
        flags = []
        if obj.is_restricted:
            flags.append(str(_("restricted")))
        if obj.objects_to_marketing:
            flags.append(str(_("objects")))
        return ", ".join(flags) or "—"

    # --- writes go through the services, which validate and audit --------------------------------

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        if change:
            customer = services.customer_update(
                customer=Customer.objects.get(pk=obj.pk), actor=request.user, **data
            )
        else:
            source = data.pop("source", Customer.Source.BOX_OFFICE)
            customer = services.customer_create(actor=request.user, source=source, **data)
        obj.pk, obj.public_id = customer.pk, customer.public_id

    # The audit log replaces the admin's LogEntry, which would keep the person's name forever.
    def log_addition(self, request, obj, message):
        pass

    def log_change(self, request, obj, message):
        pass

    def log_deletions(self, request, queryset):
        pass

    def change_view(self, request, object_id, form_url="", extra_context=None):
        customer = self.get_object(request, object_id)
        opened = request.method == "GET" and customer is not None
        if opened and self.has_view_or_change_permission(request, customer):
            audit_record(action="customer.viewed", actor=request.user, target=customer)
        extra_context = {
            **(extra_context or {}),
            "can_change_identifiers": request.user.has_perm("customers.change_identifiers"),
            "can_restrict": request.user.has_perm("customers.restrict_processing"),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        customer = get_object_or_404(Customer, pk=object_id)
        if not self.has_view_or_change_permission(request, customer):
            raise PermissionDenied
        entries = AuditEntry.objects.filter(
            target_type=Customer._meta.label_lower, target_id=customer.public_id
        ).select_related("actor")[:500]
        entries = self.visible_history(request, entries)
        return self._render(request, customer, "history.html", _("History"), entries=entries)

    # --- the audited special views -----------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/reveal/<str:field>/",
                view(self.reveal_view),
                name="customers_customer_reveal",
            ),
            path(
                "<int:pk>/identifiers/",
                view(self.identifiers_view),
                name="customers_customer_identifiers",
            ),
            path("<int:pk>/rights/", view(self.rights_view), name="customers_customer_rights"),
            *super().get_urls(),
        ]

    def _render(self, request, customer, template, title, **context):
        response = TemplateResponse(
            request,
            f"admin/customers/customer/{template}",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": customer,
                "title": title,
                **context,
            },
        )
        # Pages with identifiers or history must not linger in a shared browser's cache.
        response["Cache-Control"] = "no-store"
        return response

    def reveal_view(self, request, pk, field):
        if field not in IDENTIFIER_FIELDS or not request.user.has_perm(
            "customers.reveal_identifiers"
        ):
            raise PermissionDenied
        customer = get_object_or_404(Customer, pk=pk)
        value = None
        if request.method == "POST":
            value = services.customer_reveal_identifier(
                customer=customer, actor=request.user, field=field
            )
            value = (
                validators.format_national_id(value, country=customer.country)
                if field == "national_id"
                else validators.format_bank_account(value)
            )
        return self._render(
            request,
            customer,
            "reveal.html",
            _("Reveal %(field)s") % {"field": Customer._meta.get_field(field).verbose_name},
            field=field,
            field_label=Customer._meta.get_field(field).verbose_name,
            masked=validators.mask(getattr(customer, field)),
            value=value,
            purpose=purpose_of(request.user),
        )

    def identifiers_view(self, request, pk):
        if not request.user.has_perm("customers.change_identifiers"):
            raise PermissionDenied
        customer = get_object_or_404(Customer, pk=pk)
        form = IdentifiersForm(
            request.POST or None, initial={"purpose": customer.identifiers_purpose}
        )
        if request.method == "POST" and form.is_valid():
            try:
                services.customer_set_identifiers(
                    customer=customer,
                    actor=request.user,
                    purpose=form.cleaned_data["purpose"],
                    **form.changes(),
                )
            except ValidationError as error:
                for field, errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _("The identifiers were saved."))
                return redirect("admin:customers_customer_change", customer.pk)
        return self._render(
            request, customer, "identifiers.html", _("National ID and bank account"), form=form
        )

    def rights_view(self, request, pk):
        """Restriction and objection, exercised as every other path exercises them
        (`exercise_right`): lifting waits for the notice to the person (Art. 18(3)), and an
        objection withdraws the marketing consents and suppresses the address (Art. 21(3))."""
        if not request.user.has_perm("customers.restrict_processing"):
            raise PermissionDenied
        customer = get_object_or_404(Customer, pk=pk)
        restriction = RestrictionForm(request.POST if "restrict" in request.POST else None)
        objection = ObjectionForm(request.POST if "object" in request.POST else None)
        if request.method == "POST":
            done = None
            try:
                if "restrict" in request.POST and restriction.is_valid():
                    exercise_right(
                        Right.RESTRICTION,
                        person=customer,
                        actor=request.user,
                        ground=restriction.cleaned_data["ground"],
                    )
                    done = _("Processing is now restricted.")
                elif "announce_lift" in request.POST:
                    exercise_right(Right.LIFT_NOTICE, person=customer, actor=request.user)
                    done = _(
                        "The person is being told that the restriction will be lifted; lift it "
                        "once the notice has gone."
                    )
                elif "lift" in request.POST:
                    exercise_right(Right.LIFT_RESTRICTION, person=customer, actor=request.user)
                    done = _("The restriction was lifted.")
                elif "object" in request.POST and objection.is_valid():
                    exercise_right(
                        Right.OBJECTION,
                        person=customer,
                        actor=request.user,
                        channel=objection.cleaned_data["channel"],
                    )
                    done = _(
                        "The objection to direct marketing was recorded: every marketing consent "
                        "is withdrawn and the address is on the suppression list."
                    )
            except ValidationError as error:
                for message in error.messages:
                    messages.error(request, message)
                return redirect("admin:customers_customer_rights", customer.pk)
            if done:
                messages.success(request, done)
                return redirect("admin:customers_customer_change", customer.pk)
        return self._render(
            request,
            customer,
            "rights.html",
            _("Restriction and objection"),
            restriction=restriction,
            objection=objection,
        )
