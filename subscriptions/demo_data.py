"""Demo season data for a laptop (called by `load_demo_data`): this season and the last, two series
with concerts (one in two days, so the pre-concert email has something to send), subscriptions with
their orders and payments, and one person's seating needs under explicit consent. Runs once."""

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from consent.models import Channel, Purpose
from consent.selectors import notice_current
from customers.models import Customer

from . import accounting, services
from .models import (
    Concert,
    Order,
    Payment,
    Season,
    SeasonSubscription,
    Series,
    house_currency,
)


def _season_of(today: date) -> tuple[date, date]:
    start_year = today.year if today.month >= 8 else today.year - 1
    return date(start_year, 8, 15), date(start_year + 1, 6, 15)


def load(*, seed: int, stdout) -> None:
    if Season.objects.exists():
        return
    rng = random.Random(seed)
    today = timezone.localdate()
    starts, ends = _season_of(today)
    last = Season.objects.create(
        name=f"{starts.year - 1}/{str(starts.year)[2:]}",
        starts_on=starts.replace(year=starts.year - 1),
        ends_on=ends.replace(year=ends.year - 1),
    )
    this = Season.objects.create(
        name=f"{starts.year}/{str(starts.year + 1)[2:]}", starts_on=starts, ends_on=ends
    )
    currency = house_currency()
    series = []
    for season in (last, this):
        for code, name, weekday, price in (
            ("thu", "Torsdagsserien", 3, Decimal("1450.00")),
            ("sat", "Lördagsserien", 5, Decimal("1200.00")),
        ):
            one = Series.objects.create(
                season=season,
                code=f"{code}-{season.starts_on.year}",
                name=name,
                price_per_seat=price,
                capacity=400,
                on_sale=season is this,
            )
            series.append(one)
            first = season.starts_on + timedelta(days=(weekday - season.starts_on.weekday()) % 7)
            for week in range(0, 40, 6):
                Concert.objects.create(
                    series=one,
                    title=rng.choice(["Sibelius 5", "Mahler 4", "Grieg & Nielsen", "Brahms 2"]),
                    venue="Stora salen",
                    starts_at=timezone.make_aware(
                        datetime.combine(first + timedelta(weeks=week), time(19, 0))
                    ),
                    information="Dörrarna öppnar 18.00. Garderoben är gratis för abonnenter.",
                )
    soon = series[-2]
    Concert.objects.create(
        series=soon,
        title="Beethoven 7",
        venue="Stora salen",
        starts_at=timezone.make_aware(datetime.combine(today + timedelta(days=2), time(19, 0))),
        information="Dörrarna öppnar 18.00.",
    )
    people = list(Customer.objects.processable().order_by("pk")[:60])
    booked = 0
    for person in people:
        for one in series:
            if rng.random() < 0.3:
                _book(person, one, currency, rng)
                booked += 1
    services.relationships_end_due(today=today)
    if people:
        purpose = Purpose.objects.get(kind=Purpose.Kind.ACCESSIBILITY)
        services.seating_needs_record(
            customer=people[0],
            season=this,
            needs=["wheelchair", "companion"],
            notice=notice_current(purpose=purpose, language=people[0].preferred_language),
            channel=Channel.COUNTER_OR_PHONE,
            evidence="demo",
        )
    stdout.write(f"  subscriptions: 2 seasons, {len(series)} series, {booked} subscriptions")


def _book(person: Customer, series: Series, currency: str, rng: random.Random) -> None:
    """A booking as the counter makes it, written directly so that loading sends no email."""
    seats = rng.choice([1, 1, 2, 2, 3])
    on = series.season.starts_on - timedelta(days=rng.randint(10, 120))
    order = Order.objects.create(
        reference=f"O-{services.new_reference(10)}",
        customer=person,
        buyer_name=person.full_name or person.email,
        buyer_address=", ".join(
            part for part in (person.street_address, person.postal_code, person.city) if part
        ),
        description=services.order_description(series, seats),
        amount=series.price_per_seat * seats,
        currency=currency,
        ordered_on=on,
        channel=Order.Channel.BOX_OFFICE,
        financial_year_ends_on=accounting.financial_year_end(on),
    )
    Payment.objects.create(
        order=order,
        method=Payment.Method.CARD,
        amount=order.amount,
        currency=currency,
        paid_on=on,
        financial_year_ends_on=order.financial_year_ends_on,
    )
    SeasonSubscription.objects.create(
        reference=services.new_reference(),
        customer=person,
        series=series,
        seats=seats,
        price=order.amount,
        currency=currency,
        channel=Order.Channel.BOX_OFFICE,
        booked_at=timezone.make_aware(datetime.combine(on, time(12))),
        ends_on=series.season.ends_on,
        order=order,
        confirmation_sent_at=timezone.now(),
    )
    Customer.objects.filter(pk=person.pk).update(
        kind=Customer.Kind.CUSTOMER,
        relationship_started_on=on,
        relationship_ended_on=None,
    )
