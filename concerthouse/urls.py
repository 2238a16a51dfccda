from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("health/", views.health, name="health"),
    path("admin/", admin.site.urls),
]

# Public pages carry their language in the path (/sv/, /nb/, /en/), so a link in an email opens in
# the language the person chose.
urlpatterns += i18n_patterns(
    path("", views.home, name="home"),
)
