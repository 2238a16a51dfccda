"""The open pixel, outside the language prefix: an image in an email has no language, and a
redirect to one would cost a request."""

from django.urls import path

from . import views

urlpatterns = [
    path("o/<str:token>.gif", views.open_pixel, name="newsletter_open"),
]
