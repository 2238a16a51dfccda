import csv

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import widgets
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import Http404, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from concerthouse.admin import ReadOnlyAdmin

from . import audience, campaigns, selectors
from .forms import AudienceExportForm
from .models import (
    AudienceExport,
    Campaign,
    CampaignText,
    Delivery,
    InboundMessage,
    Signup,
    Suppression,
)

# The preview is the email itself, which styles itself inline as emails must: its page alone may
# use inline styles, loads nothing, and may be framed by nothing.
PREVIEW_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _chart(figures) -> list[dict]:
    """The bars of the campaign's chart, as shares of the messages sent (drawn as inline SVG on
    the server: the site's CSP allows no script)."""
    sent = figures.sent or 1
    bars = [
        ("delivered", _("Delivered"), figures.delivered),
        ("failed", _("Failed"), figures.failed),
        ("unsubscribed", _("Unsubscribed"), figures.unsubscribed),
        ("opened", _("Opened (with consent)"), figures.opened),
    ]
    return [
        {
            "key": key,
            "label": label,
            "count": count,
            "percent": round(100 * count / sent, 1) if figures.sent else 0,
            "y": 8 + index * 34,
        }
        for index, (key, label, count) in enumerate(bars)
    ]


class CampaignTextInline(admin.StackedInline):
    model = CampaignText
    extra = 1
    fields = ("language", "subject", "body")


class LabelledSplitDateTime(widgets.AdminSplitDateTime):
    """The admin's date and time boxes, each with a name a screen reader can say: Django labels
    only the pair."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.widgets[0].attrs["aria-label"] = _("Date")
        self.widgets[1].attrs["aria-label"] = _("Time")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    formfield_overrides = {models.DateTimeField: {"widget": LabelledSplitDateTime}}
    list_display = ("name", "purpose", "status", "scheduled_at", "finished_at")
    list_filter = ("status", "purpose")
    list_select_related = ("purpose",)
    search_fields = ("name",)
    fields = ("name", "purpose", "scheduled_at", "status", "statistics", "created_by")
    readonly_fields = ("status", "statistics", "created_by")
    inlines = [CampaignTextInline]
    actions = ["schedule", "cancel"]

    @admin.display(description=_("deliveries"))
    def statistics(self, obj):
        if obj.pk is None or obj.audience_prepared_at is None:
            return "—"
        labels = {**dict(Delivery.Status.choices), "opened": _("opened")}
        return ", ".join(
            f"{labels[key]}: {value}" for key, value in campaigns.campaign_statistics(obj).items()
        )

    # --- the campaign's page: preview, test send, audience per language, what became of it ------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/preview/<str:language>/",
                wrap(self.preview_view),
                name="newsletters_campaign_preview",
            ),
            path(
                "<path:object_id>/test-send/",
                wrap(require_POST(self.test_send_view)),
                name="newsletters_campaign_test_send",
            ),
            *super().get_urls(),
        ]

    def _campaign(self, request, object_id) -> Campaign:
        campaign = self.get_object(request, object_id)
        if campaign is None or not self.has_view_permission(request, campaign):
            raise Http404
        return campaign

    def preview_view(self, request, object_id, language):
        """The HTML part exactly as a recipient reading `language` gets it, links made inert."""
        campaign = self._campaign(request, object_id)
        if language not in dict(settings.LANGUAGES) or not campaign.texts.exists():
            raise Http404
        preview = campaigns.CampaignRenderer(campaign).preview(language)
        response = HttpResponse(preview["html"])
        response.headers["Content-Security-Policy"] = PREVIEW_POLICY
        return response

    def test_send_view(self, request, object_id):
        campaign = self._campaign(request, object_id)
        if not self.has_view_permission(request, campaign) or not request.user.has_perm(
            "newsletters.change_campaign"
        ):
            raise PermissionDenied
        try:
            languages = campaigns.campaign_test_send(campaign=campaign, actor=request.user)
        except ValidationError as error:
            self.message_user(request, error.messages[0], messages.ERROR)
        else:
            self.message_user(
                request,
                _("A test in %(languages)s went to %(address)s.")
                % {
                    "languages": ", ".join(
                        str(dict(settings.LANGUAGES)[lang]) for lang in languages
                    ),
                    "address": request.user.email,
                },
                messages.SUCCESS,
            )
        return HttpResponseRedirect(
            reverse("admin:newsletters_campaign_change", args=[campaign.pk])
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        campaign = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if campaign is not None:
            extra.update(self._panel(request, campaign))
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def _panel(self, request, campaign: Campaign) -> dict:
        renderer = campaigns.CampaignRenderer(campaign) if campaign.texts.exists() else None
        previews = []
        if renderer is not None:
            for code, label in settings.LANGUAGES:
                preview = renderer.preview(code)
                previews.append(
                    {
                        "language": code,
                        "label": label,
                        "subject": preview["subject"],
                        "plain": preview["plain"],
                        "text_label": dict(settings.LANGUAGES)[preview["text"].language],
                        "fallback": preview["text"].language != code,
                        "url": reverse(
                            "admin:newsletters_campaign_preview", args=[campaign.pk, code]
                        ),
                    }
                )
        figures = selectors.campaign_figures(campaign) if campaign.audience_prepared_at else None
        return {
            "previews": previews,
            "audience_by_language": (
                selectors.campaign_audience_by_language(campaign)
                if campaign.status in (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED)
                else None
            ),
            "may_test_send": request.user.has_perm("newsletters.change_campaign")
            and renderer is not None,
            "figures": figures,
            "chart": _chart(figures) if figures else None,
            "limits": selectors.warning_limits(),
        }

    def changelist_view(self, request, extra_context=None):
        recent = list(selectors.campaigns_recent())
        figures = selectors.campaigns_figures([c.pk for c in recent])
        extra = {
            **(extra_context or {}),
            "dashboard": [(campaign, figures[campaign.pk]) for campaign in recent],
            "limits": selectors.warning_limits(),
        }
        return super().changelist_view(request, extra_context=extra)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            return ("name", "purpose", "scheduled_at", *self.readonly_fields)
        return self.readonly_fields

    def has_change_permission(self, request, obj=None):
        # Once scheduled the content is what people receive: cancel instead of editing.
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return (
            obj is not None
            and obj.status == Campaign.Status.DRAFT
            and (super().has_delete_permission(request, obj))
        )

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Schedule the selected campaigns (now, or at their send time)"))
    def schedule(self, request, queryset):
        for campaign in queryset:
            try:
                campaigns.campaign_schedule(
                    campaign=campaign, actor=request.user, send_at=campaign.scheduled_at
                )
            except ValidationError as error:
                self.message_user(request, f"{campaign}: {error.messages[0]}", messages.ERROR)
            else:
                self.message_user(request, _("%s is scheduled.") % campaign, messages.SUCCESS)

    @admin.action(description=_("Cancel the selected campaigns"))
    def cancel(self, request, queryset):
        for campaign in queryset:
            campaigns.campaign_cancel(campaign=campaign, actor=request.user)
        self.message_user(request, _("Cancelled."), messages.SUCCESS)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("newsletters.change_campaign"):
            actions.pop("schedule", None)
            actions.pop("cancel", None)
        return actions


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "campaign",
        "customer",
        "status",
        "sent_at",
        "bounce",
        "complained_at",
        "first_opened_at",
        "open_count",
    )
    list_filter = ("status", "bounce", "campaign")
    list_select_related = ("campaign", "customer")
    raw_id_fields = ("customer",)
    search_fields = ("=customer__email",)
    search_help_text = _("Exact email address.")


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    """What the mailbox reader did with each message (newsletters/inbound.py); the messages
    themselves stay in the mailbox's folders, those left for staff in its staff folder."""

    list_display = ("processed_at", "kind", "outcome", "reason", "moved")
    list_filter = ("outcome", "kind")


@admin.register(Signup)
class SignupAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "customer", "created_at", "confirmation_sent_at", "confirmed_at")
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)
    search_fields = ("=customer__email",)
    search_help_text = _("Exact email address.")


@admin.register(Suppression)
class SuppressionAdmin(ReadOnlyAdmin):
    list_display = ("email_hash", "reason", "created_at")
    list_filter = ("reason",)

    def get_search_results(self, request, queryset, search_term):
        # Staff search by the address; only its hash is stored, so hash the term.
        if not search_term:
            return queryset, False
        from .services import suppression_hash

        try:
            return queryset.filter(email_hash=suppression_hash(search_term)), False
        except ValidationError:
            return queryset.none(), False

    search_fields = ("email_hash",)
    search_help_text = _("Exact email address; it is hashed before the search.")


class _Rows:
    """A write-only file for csv.writer that hands each line to a streaming response."""

    def write(self, line):
        return line


@admin.register(AudienceExport)
class AudienceExportAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "recipient", "size", "created_by")
    list_select_related = ("created_by",)
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return request.user.has_perm("newsletters.export_audience")

    def add_view(self, request, form_url="", extra_context=None):
        """The export form; a valid POST records the disclosure and downloads the CSV."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = AudienceExportForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                export = audience.audience_export(
                    actor=request.user, recipient=form.cleaned_data["recipient"]
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                writer = csv.writer(_Rows())
                rows = (writer.writerow(row) for row in audience.audience_export_rows(export))
                response = StreamingHttpResponse(rows, content_type="text/csv")
                filename = f"audience-{export.recipient}-{export.created_at:%Y%m%d-%H%M}.csv"
                response["Content-Disposition"] = f'attachment; filename="{filename}"'
                return response
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Export a custom audience"),
            "form": form,
            "audience_size": audience.audience_for_ads().count(),
        }
        return TemplateResponse(request, "admin/newsletters/audienceexport/export.html", context)
