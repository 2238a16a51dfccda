from django.urls import path

from . import views

app_name = "privacy_requests"

urlpatterns = [
    path("privacy/", views.privacy_notice, name="notice"),
    path("privacy/request/", views.request_form, name="request"),
    path("privacy/request/sent/", views.request_sent, name="sent"),
    path("privacy/verify/<str:token>/", views.verify, name="verify"),
    path("privacy/download/<str:token>/", views.download, name="download"),
]
