from django.urls import path

from . import views

app_name = "newsletters"

# Public pages, under the language prefix (see concerthouse/urls.py), so that a link in an email
# opens in the language the person chose.
urlpatterns = [
    path("newsletter/", views.signup, name="signup"),
    path("newsletter/thanks/", views.signup_done, name="signup_done"),
    path("newsletter/confirm/<str:token>/", views.confirm, name="confirm"),
    path("preferences/", views.preferences_request, name="preferences_request"),
    path("preferences/<str:token>/", views.preferences, name="preferences"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
