from django.urls import path

from . import views

app_name = "subscriptions"

urlpatterns = [
    path("subscriptions/", views.book, name="book"),
    path("subscriptions/booked/<str:token>/", views.booked, name="booked"),
]
