from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("health/", views.health, name="health"),
    path("admin/", admin.site.urls),
    # The DPO's dashboard (and the register of requests taken by phone): staff pages, not public.
    # Its retention page belongs to the retention engine, beside the requests, not inside them.
    path("dpo/retention/", include("retention.urls")),
    path("dpo/", include("privacy_requests.dashboard_urls")),
    # The box-office counter: a staff tool in the admin's look (subscriptions/counter.py).
    path("counter/", include("subscriptions.counter_urls")),
    # An image in an email has no language; outside the prefix it needs no redirect.
    path("", include("newsletters.pixel_urls")),
]

# Public pages carry their language in the path (/sv/, /nb/, /en/), so a link in an email opens in
# the language the person chose.
urlpatterns += i18n_patterns(
    path("", views.home, name="home"),
    path("", include("newsletters.urls")),
    path("", include("subscriptions.urls")),
    path("", include("privacy_requests.urls")),
)

# Translated error pages that show nothing of the request (concerthouse/errors.py).
handler400 = "concerthouse.errors.bad_request"
handler403 = "concerthouse.errors.permission_denied"
handler404 = "concerthouse.errors.page_not_found"
handler500 = "concerthouse.errors.server_error"
