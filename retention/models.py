"""The retention engine's own records: its runs, one log row per rule and run, and where each lane
got to. None of them holds a name, an address or any other value from the purged rows."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Run(models.Model):
    """One pass of every retention rule, counted from one moment (`as_of`).

    The row is also the lock: at most one run is `running` (a unique index, so two workers that
    start together cannot both win), and the run proves it is alive by beating at every batch. A run
    whose worker died stops beating; after the lease it is interrupted, and the next run resumes it
    from its rules' checkpoints.
    """

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        INTERRUPTED = "interrupted", _("Interrupted, to be resumed")
        FINISHED = "finished", _("Finished")
        FAILED = "failed", _("Finished with errors")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("Daily schedule")
        COMMAND = "command", _("Management command")

    as_of = models.DateTimeField(_("rules applied as of"))
    trigger = models.CharField(_("started by"), max_length=16, choices=Trigger.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last sign of life"), default=timezone.now)
    # Who holds the run now: a worker that lost the lease and comes back finds another token here
    # and stops, so that a stalled worker and the one that took over never both work.
    holder = models.UUIDField(default=uuid.uuid4, editable=False)
    resumed = models.PositiveIntegerField(_("times resumed"), default=0)

    class Meta:
        verbose_name = _("retention run")
        verbose_name_plural = _("retention runs")
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="running"),
                name="retention_one_run_at_a_time",
            ),
        ]

    def __str__(self):
        return f"{self.started_at:%Y-%m-%d %H:%M} {self.get_status_display()}"


class RuleRun(models.Model):
    """What one rule did in one run: counts and times, and (in its checkpoints) where it got to."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="rules")
    rule = models.CharField(_("rule"), max_length=64)
    model = models.CharField(_("data"), max_length=100)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # The rule's candidates are split by primary key into this many lanes, each worked through by a
    # database connection of its own at the same time, each with its own checkpoint. Fixed when the
    # rule starts, so that a resumed run splits them as the interrupted one did.
    lanes = models.PositiveSmallIntegerField(_("lanes"), default=1)
    rows = models.PositiveBigIntegerField(_("rows purged"), default=0)
    related_rows = models.PositiveBigIntegerField(_("related rows"), default=0)
    # Past their time and still here when the rule was done: their person is held (restricted,
    # Art. 18; a privacy request owed its answer, Art. 12; a copy of their data not yet expired),
    # or someone was at work on them when their batch came (they go in the next run).
    skipped = models.PositiveBigIntegerField(_("kept past their time"), default=0)
    batches = models.PositiveIntegerField(_("batches"), default=0)
    # Elapsed time, over every attempt that ended in this process (a worker killed outright takes
    # its attempt's time with it; `Run.resumed` says that it happened).
    seconds = models.FloatField(_("seconds"), default=0)
    # The kind of error only (an exception's message may quote the values of a row).
    error = models.CharField(_("error"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("retention rule run")
        verbose_name_plural = _("retention rule runs")
        ordering = ["run", "rule"]
        constraints = [
            models.UniqueConstraint(fields=["run", "rule"], name="retention_rule_once_per_run"),
        ]

    def __str__(self):
        return f"{self.rule}: {self.rows}"


class Checkpoint(models.Model):
    """Where one lane of a rule run got to: every candidate of the lane (primary key modulo the
    rule run's lanes) up to `last_pk` has been dealt with. Written in each batch's transaction, so
    that a killed run resumes from whole batches."""

    rule_run = models.ForeignKey(RuleRun, on_delete=models.CASCADE, related_name="checkpoints")
    lane = models.PositiveSmallIntegerField()
    last_pk = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("retention checkpoint")
        verbose_name_plural = _("retention checkpoints")
        ordering = ["rule_run", "lane"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule_run", "lane"], name="retention_one_checkpoint_a_lane"
            ),
        ]

    def __str__(self):
        return f"{self.rule_run.rule} lane {self.lane}: {self.last_pk}"
