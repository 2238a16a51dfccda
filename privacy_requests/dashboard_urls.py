from django.urls import include, path

from . import breaches, dashboard

app_name = "dpo"

urlpatterns = [
    path("", dashboard.queue, name="queue"),
    path("requests/register/", dashboard.register, name="register"),
    path("requests/<uuid:public_id>/", dashboard.detail, name="request"),
    path("requests/<uuid:public_id>/<slug:action>/", dashboard.act, name="act"),
    path("record/", dashboard.record_of_processing, name="record"),
    path("processors/", dashboard.processors, name="processors"),
    path("breaches/", include(breaches.urlpatterns)),
]
