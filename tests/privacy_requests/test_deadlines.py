"""Art. 12(3) deadlines: one month, to the same date or the month's last day, then the next
working day of the house's country."""

from datetime import date

import pytest

from privacy_requests.deadlines import due_date, extended_due_date


@pytest.mark.parametrize(
    ("received", "country", "due"),
    [
        # The same date in the next month.
        (date(2027, 3, 10), "SE", date(2027, 4, 12)),  # 10 April 2027 is a Saturday
        (date(2027, 6, 15), "NO", date(2027, 7, 15)),
        # No such date: the last day of that month.
        (date(2028, 1, 31), "SE", date(2028, 2, 29)),  # leap year, a Tuesday
        (date(2029, 1, 31), "NO", date(2029, 2, 28)),  # a Wednesday
        (date(2027, 3, 31), "SE", date(2027, 4, 30)),
        # The last day falls on a weekend: the next working day.
        (date(2026, 1, 31), "SE", date(2026, 3, 2)),  # Saturday 28 February
        (date(2027, 1, 31), "NO", date(2027, 3, 1)),  # Sunday 28 February
        # Public holidays of the house's country only.
        (date(2027, 4, 17), "NO", date(2027, 5, 18)),  # 17 May, Norway's constitution day
        (date(2027, 4, 17), "SE", date(2027, 5, 17)),  # an ordinary Monday in Sweden
        (date(2028, 5, 6), "SE", date(2028, 6, 7)),  # 6 June, Sweden's national day
        (date(2028, 5, 6), "NO", date(2028, 6, 6)),
        (date(2026, 11, 25), "SE", date(2026, 12, 28)),  # Christmas Day, Boxing Day, a Sunday
    ],
)
def test_the_deadline_is_one_month_on_moved_to_a_working_day(received, country, due):
    assert due_date(received, country=country) == due


def test_an_extension_adds_two_months_counted_from_receipt():
    assert extended_due_date(date(2027, 1, 31), country="SE") == date(2027, 4, 30)
    assert extended_due_date(date(2026, 11, 30), country="NO") == date(
        2027, 3, 1
    )  # Sunday 28 February


def test_the_house_country_is_the_default(settings):
    settings.HOUSE_COUNTRY = "NO"
    assert due_date(date(2027, 4, 17)) == date(2027, 5, 18)
    settings.HOUSE_COUNTRY = "SE"
    assert due_date(date(2027, 4, 17)) == date(2027, 5, 17)
