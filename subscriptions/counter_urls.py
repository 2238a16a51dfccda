from django.urls import path

from . import counter

app_name = "counter"

urlpatterns = [
    path("", counter.search, name="search"),
    path("book/", counter.book, name="book"),
    path("subscriptions/<int:pk>/cancel/", counter.cancel, name="cancel"),
    path("people/<int:customer_pk>/seating/", counter.seating, name="seating"),
]
