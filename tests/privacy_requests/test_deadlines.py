"""Art. 12(3) deadlines: one month, to the same date or the month's last day, then the next
working day of the house's country."""

from datetime import date

import pytest

from privacy_requests.deadlines import (
    due_date,
    extended_due_date,
    is_working_day,
    next_working_day,
)


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


# --- The days Swedes and Norwegians do not work ---------------------------------------------------
# Sweden: midsommarafton, julafton and nyårsafton end no period (lag 1930:173, 2 §). Norway: they
# do not exist as days off in law; julaften and nyttårsaften are working days until the afternoon
# (arbeidsmiljøloven § 10-10), and domstolloven § 149 moves a period only off a Saturday or a
# holiday. Each date below is a weekday.
@pytest.mark.parametrize(
    ("day", "working_in_sweden", "working_in_norway"),
    [
        (date(2026, 6, 19), False, True),  # midsommarafton, a Friday
        (date(2027, 6, 25), False, True),  # midsommarafton, a Friday
        (date(2026, 12, 24), False, True),  # julafton / julaften, a Thursday
        (date(2027, 12, 24), False, True),  # a Friday
        (date(2026, 12, 31), False, True),  # nyårsafton / nyttårsaften, a Thursday
        (date(2027, 12, 31), False, True),  # a Friday
        (date(2026, 12, 23), True, True),  # the day before julafton: an ordinary day in both
        (date(2027, 1, 6), False, True),  # trettondedag jul, Sweden's public holiday only
        (date(2027, 3, 25), True, False),  # skjærtorsdag, Norway's public holiday only
        (date(2027, 5, 17), True, False),  # 17 May, and 2. pinsedag that year
        (date(2026, 6, 22), True, True),  # the Monday after midsommar
    ],
)
def test_which_weekdays_are_working_days_in_each_country(day, working_in_sweden, working_in_norway):
    assert is_working_day(day, country="SE") is working_in_sweden
    assert is_working_day(day, country="NO") is working_in_norway


@pytest.mark.parametrize(
    ("received", "country", "due"),
    [
        # Due on midsommarafton: in Sweden the Monday after midsommardagen; in Norway that day.
        (date(2026, 5, 19), "SE", date(2026, 6, 22)),
        (date(2026, 5, 19), "NO", date(2026, 6, 19)),
        (date(2027, 5, 25), "SE", date(2027, 6, 28)),
        # Due on julafton, a Thursday: in Sweden past jul to the Monday; in Norway that morning.
        (date(2026, 11, 24), "SE", date(2026, 12, 28)),
        (date(2026, 11, 24), "NO", date(2026, 12, 24)),
        # On a Friday julafton, Christmas falling on the weekend.
        (date(2027, 11, 24), "SE", date(2027, 12, 27)),
        (date(2027, 11, 24), "NO", date(2027, 12, 24)),
        # Norway's Easter begins on skjærtorsdag: to the Tuesday after 2. påskedag.
        (date(2027, 2, 25), "NO", date(2027, 3, 30)),
        (date(2027, 2, 25), "SE", date(2027, 3, 25)),
        (date(2028, 3, 13), "NO", date(2028, 4, 18)),
        # Trettondedag jul in Sweden.
        (date(2027, 12, 6), "SE", date(2028, 1, 7)),
        (date(2027, 12, 6), "NO", date(2028, 1, 6)),
    ],
)
def test_a_deadline_on_a_day_off_moves_to_the_next_working_day_of_the_country(
    received, country, due
):
    assert due_date(received, country=country) == due


def test_an_extension_ending_on_julafton_moves_in_sweden_and_not_in_norway():
    assert extended_due_date(date(2027, 9, 24), country="SE") == date(2027, 12, 27)
    assert extended_due_date(date(2027, 9, 24), country="NO") == date(2027, 12, 24)


def test_nyarsafton_is_passed_over_in_sweden_and_nyttarsaften_kept_in_norway():
    # Thursday 31 December 2026: in Sweden then New Year's Day, the weekend, Monday 4 January.
    assert next_working_day(date(2026, 12, 31), country="SE") == date(2027, 1, 4)
    assert next_working_day(date(2026, 12, 31), country="NO") == date(2026, 12, 31)
