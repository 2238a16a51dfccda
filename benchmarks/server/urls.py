"""The project's URLs and the load benchmark's yardstick: a view that goes through the same
middleware (sessions, CSRF, locale, security headers, ...) and does the least a signup could do,
validate one email field and INSERT one row, so that the signup's throughput is measured against
what this server, this database and this middleware stack can do at all."""

from django import forms
from django.db import connection
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from concerthouse.urls import urlpatterns as project_urlpatterns

TABLE = "bench_minimal_signup"  # created and dropped by benchmarks/load.py


class EmailForm(forms.Form):
    email = forms.EmailField(max_length=254)


@never_cache
@require_POST
def minimal(request):
    form = EmailForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (email) VALUES (%s)",  # noqa: S608 (a constant)
            [form.cleaned_data["email"]],
        )
    # Post, then redirect, as the signup answers.
    return HttpResponseRedirect(request.path)


urlpatterns = [path("bench/minimal/", minimal, name="bench_minimal"), *project_urlpatterns]
