"""Art. 12(3): one month from receipt, extendable by two further months.

"One month" is counted to the same date in the next month, or to the last day of that month where it
has no such date (31 January to 28 or 29 February), as dateutil's relativedelta does. A deadline
that falls on a day that is not a working day of the house's country moves to the next working day
(Regulation 1182/71, Art. 3(4)). Which days those are is each country's own rule for the end of a
statutory period (docs/privacy.md, Deadlines):

- Sweden: Saturdays, Sundays, the public holidays, and midsommarafton, julafton and nyårsafton,
  which lag (1930:173) om beräkning av lagstadgad tid, 2 §, treats as holidays (the `holidays`
  package's DE_FACTO category);
- Norway: Saturdays, Sundays and the public holidays (helligdager, 1 and 17 May), as domstolloven
  § 149 counts them. Julaften and nyttårsaften are working days in law: arbeidsmiljøloven § 10-10
  makes only their afternoons work-free (from 15.00 on julaften, 18.00 on nyttårsaften), and no
  statute puts them on a par with a holiday, so an answer is still due that morning.
"""

from datetime import date, timedelta
from functools import cache

import holidays
from dateutil.relativedelta import relativedelta
from django.conf import settings
from holidays.constants import DE_FACTO, PUBLIC

# The holidays package's categories of days off, per country.
DAYS_OFF = {
    "SE": (PUBLIC, DE_FACTO),
    "NO": (PUBLIC,),
}


@cache
def _days_off(country: str, year: int):
    return holidays.country_holidays(
        country, years=year, categories=DAYS_OFF.get(country, (PUBLIC,))
    )


def is_working_day(day: date, *, country: str) -> bool:
    return day.weekday() < 5 and day not in _days_off(country, day.year)


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
