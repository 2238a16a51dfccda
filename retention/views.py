"""The retention page of the DPO dashboard: the engine's last runs and its forecast."""

from django.contrib.auth.decorators import permission_required
from django.shortcuts import render

from concerthouse.privacy.map import retention_rules
from concerthouse.staff_auth import staff_required

from . import engine

# How far ahead the forecast looks.
FORECAST_DAYS = 30


@staff_required
@permission_required("retention.view_run", raise_exception=True)
def dashboard(request):
    """The retention engine's last runs, rule by rule, and what each rule will purge next."""
    labels = {rule.code: rule.label for _model, rule in retention_rules()}
    runs = [
        (run, [(labels.get(log.rule, log.rule), log) for log in run.rules.all()])
        for run in engine.last_runs(10)
    ]
    forecast = [
        {
            "label": line.rule.label,
            "data": line.model._meta.verbose_name_plural,
            "due": line.due,
            "within": line.within,
        }
        for line in engine.forecast(days=FORECAST_DAYS)
    ]
    return render(
        request,
        "retention/dashboard.html",
        {"runs": runs, "forecast": forecast, "days": FORECAST_DAYS},
    )
