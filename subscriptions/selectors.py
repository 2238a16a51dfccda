"""Reads of the box-office counter (subscriptions/counter.py)."""

import contextlib
import uuid

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from concerthouse.email_address import normalise_email
from customers import validators
from customers.models import Customer

from .models import SeasonSubscription, SeatingNeed


def find_people(query: str, *, limit: int = 20) -> list[Customer]:
    """The counter's search: an exact email, phone, booking reference or public id first (served by
    their unique indexes), otherwise names that start with the words typed. Each person comes with
    `subscription_list`, their season subscriptions."""
    # The booking reference is looked up first, on its own: OR-ed with the person's columns across
    # a join, it would make PostgreSQL join every subscription with every person to filter them.
    booked = SeasonSubscription.objects.filter(reference=query.upper()).values_list(
        "customer_id", flat=True
    )
    exact = Q(pk__in=list(booked))
    with contextlib.suppress(ValidationError):
        exact |= Q(email=normalise_email(query))
    with contextlib.suppress(ValidationError):
        exact |= Q(phone=validators.normalise_phone(query, country=Customer.Country.SWEDEN))
    with contextlib.suppress(ValueError):
        exact |= Q(public_id=uuid.UUID(query))
    people = list(Customer.objects.filter(exact)[:limit])
    if not people:
        words = query.split()
        names = Q()
        if len(words) >= 2:
            names = Q(first_name__istartswith=words[0], last_name__istartswith=words[-1])
        names |= Q(last_name__istartswith=query) | Q(first_name__istartswith=query)
        people = list(Customer.objects.filter(names).order_by("last_name", "first_name")[:limit])
    subscriptions = SeasonSubscription.objects.filter(customer__in=people).select_related(
        "series__season"
    )
    by_person = {}
    for subscription in subscriptions:
        by_person.setdefault(subscription.customer_id, []).append(subscription)
    for person in people:
        person.subscription_list = by_person.get(person.pk, [])
    return people


def seating_needs_of(customer: Customer) -> QuerySet[SeatingNeed]:
    """A person's seating needs, season by season (health data: the caller checks the permission
    and audits the viewing)."""
    return customer.seating_needs.select_related("season").order_by("season__starts_on")
