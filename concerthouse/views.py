from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .celery import app as celery_app


def home(request):
    return render(request, "home.html")


def _database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return "down"
    return "ok"


def _broker_state() -> str:
    if celery_app.conf.task_always_eager:
        return "eager"  # no broker configured: tasks run in the web process
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception:
        return "down"
    return "ok"


@require_GET
@never_cache
def health(request):
    """Database and broker state for a load balancer or a monitor; nothing about any person.

    503 when the database is down. A broker that is down is reported (and 503) but public forms keep
    working: they store first and a periodic sweep sends what the broker missed.
    """
    state = {"database": _database_state(), "broker": _broker_state()}
    healthy = state["database"] == "ok" and state["broker"] in ("ok", "eager")
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", **state}, status=200 if healthy else 503
    )
