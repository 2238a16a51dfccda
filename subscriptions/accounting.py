"""The bookkeeping hold: how long the law makes a house keep its accounting records.

Sweden, Bokföringslagen (1999:1078) 7 kap. 2 §: until the end of the seventh year after the end of
the calendar year in which the financial year ended. Norway, bokføringsloven § 13: five years after
the end of the financial year. The country is the house's when the record was made, stored on it,
so that a record keeps its statute even if the settings change.
"""

from datetime import date

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from concerthouse.privacy.map import years

# How many years after the end of the financial year the record is kept.
HOLD_YEARS = {"SE": 7, "NO": 5}
STATUTES = {
    "SE": _("Bokföringslagen (1999:1078) 7 kap. 2 §"),
    "NO": _("Bokføringsloven § 13"),
}
CURRENCIES = {"SE": "SEK", "NO": "NOK"}


def financial_year_end(day: date) -> date:
    """The last day of the financial year that `day` falls in. A house whose financial year is
    not the calendar year (brutet räkenskapsår / avvikende regnskapsår) sets the month it starts."""
    start_month = settings.HOUSE_FINANCIAL_YEAR_START_MONTH
    start = date(day.year if day.month >= start_month else day.year - 1, start_month, 1)
    return start + relativedelta(years=1, days=-1)


def held_until(*, country: str, financial_year_ends_on: date) -> date:
    """The last day the record must be kept."""
    if country == "SE":
        return date(financial_year_ends_on.year + HOLD_YEARS["SE"], 12, 31)
    if country == "NO":
        return financial_year_ends_on + relativedelta(years=HOLD_YEARS["NO"])
    raise ValueError(f"no bookkeeping statute known for country {country!r}")


def statute(country: str):
    return STATUTES[country]


def hold_in_words(country: str) -> str:
    """How long the law of `country` keeps a record, as the notice tells it."""
    if country == "SE":
        return _(
            "%(period)s after the end of the financial year, to the end of that calendar year"
        ) % {"period": years(HOLD_YEARS["SE"])}
    return _("%(period)s after the end of the financial year") % {
        "period": years(HOLD_YEARS[country])
    }


def expired(
    today: date, *, country: str = "country", year_end: str = "financial_year_ends_on"
) -> Q:
    """Records whose hold has ended by `today`, as a filter on the fields that hold their country
    and the end of their financial year (a payment's country is its order's, "order__country"):
    the same dates as `held_until`, in SQL."""
    return Q(
        **{
            country: "SE",
            # held until 31 Dec of (year + 7): gone from 1 Jan of year + 8.
            f"{year_end}__lt": date(today.year - HOLD_YEARS["SE"], 1, 1),
        }
    ) | Q(
        **{
            country: "NO",
            f"{year_end}__lt": today - relativedelta(years=HOLD_YEARS["NO"]),
        }
    )


def order_expired(today: date) -> Q:
    """Orders whose hold has ended by `today`, and the holds of all their payments with it: a
    payment goes with its order, and a later one (a refund) keeps the order as long as itself."""
    from .models import Payment

    held = Payment.objects.filter(order=OuterRef("pk")).exclude(
        expired(today, country="order__country")
    )
    return expired(today) & ~Q(Exists(held))
