import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True


class AuditEntry(models.Model):
    """One thing a member of staff (or the system) did to a person's data.

    Append-only: written through `concerthouse.audit.audit_record`, never edited, never deleted. It holds
    no personal values: the target is an opaque public id, `detail` names fields, never their contents.
    When the person is erased the entries stay, with the target id removed and `redacted_at` set, so
    that the history of who touched what survives without pointing at anyone.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    at = models.DateTimeField(_("time"), auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        # Accountability outlives the account: deactivate staff, never delete them.
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty when the system or the person themselves acted."),
    )
    action = models.CharField(_("action"), max_length=64, help_text=_("A dotted code."))
    target_type = models.CharField(_("target type"), max_length=64, blank=True)
    target_id = models.UUIDField(_("target id"), null=True, blank=True)
    purpose = models.CharField(_("purpose"), max_length=200, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    redacted_at = models.DateTimeField(_("redacted"), null=True, blank=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-at", "-id"]
        indexes = [
            # A person's history: the admin history page, the access report, erasure's redaction.
            models.Index(fields=["target_type", "target_id", "at"], name="audit_target_idx"),
            models.Index(fields=["at"], name="audit_at_idx"),
            # The changelist's action filter: one action's entries newest first, and the list of
            # actions itself (concerthouse.admin.IndexedValuesFilter).
            models.Index(fields=["action", "at"], name="audit_action_idx"),
        ]

    def __str__(self):
        return (
            f"{self.action} {self.target_type}:{self.target_id or '-'} @ {self.at:%Y-%m-%d %H:%M}"
        )

    @property
    def field_names(self) -> list[str]:
        """The fields an entry concerns: names only, never values."""
        if "fields" in self.detail:
            return list(self.detail["fields"])
        return [self.detail["field"]] if "field" in self.detail else []


class ErasureJournalEntry(models.Model):
    """An erasure, as keyed hashes only: enough to recognise the person if a restored backup
    brings them back, nothing from which to read who they were.

    The entries are also appended to a file outside the database (ERASURE_JOURNAL_PATH), because a
    restore rolls this table back together with the rest.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    erased_at = models.DateTimeField(_("erased"))
    # blind_index of the person's public id: the restored row itself, whatever its address.
    person_hash = models.CharField(max_length=64, db_index=True)
    # blind_index of the normalised address: the person's privacy requests, which outlive them.
    email_hash = models.CharField(max_length=64, db_index=True)
    written_at = models.DateTimeField(_("written to the journal file"), null=True, blank=True)

    class Meta:
        # Made by the retention app, which kept the journal before the privacy core did.
        db_table = "retention_erasurejournalentry"
        verbose_name = _("erasure journal entry")
        verbose_name_plural = _("erasure journal")
        ordering = ["erased_at"]
        indexes = [
            models.Index(
                fields=["erased_at"], condition=Q(written_at__isnull=True), name="journal_unwritten"
            )
        ]

    def __str__(self):
        return f"{self.erased_at:%Y-%m-%d %H:%M}"
