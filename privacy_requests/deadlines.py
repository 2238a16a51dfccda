"""Art. 12(3): one month from receipt, extendable by two further months.

"One month" is counted to the same date in the next month, or to the last day of that month where it
has no such date (31 January to 28 or 29 February), as dateutil's relativedelta does. A deadline
that falls on a weekend or on a public holiday of the house's country moves to the next working day
(Regulation 1182/71, Art. 3(4)), using the `holidays` package.
"""

from datetime import date, timedelta
from functools import cache

import holidays
from dateutil.relativedelta import relativedelta
from django.conf import settings


@cache
def _public_holidays(country: str, year: int):
    return holidays.country_holidays(country, years=year)


def is_working_day(day: date, *, country: str) -> bool:
    return day.weekday() < 5 and day not in _public_holidays(country, day.year)


def next_working_day(day: date, *, country: str) -> date:
    while not is_working_day(day, country=country):
        day += timedelta(days=1)
    return day


def due_date(received: date, *, months: int = 1, country: str | None = None) -> date:
    """The last day to answer a request received on `received`, `months` months on."""
    country = country or settings.HOUSE_COUNTRY
    return next_working_day(received + relativedelta(months=months), country=country)


def extended_due_date(received: date, *, country: str | None = None) -> date:
    """Two further months on top of the first one (Art. 12(3)), counted from receipt."""
    return due_date(received, months=3, country=country)
