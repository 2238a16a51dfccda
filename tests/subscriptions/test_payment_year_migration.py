"""The migration that gave payments a financial year of their own: each existing payment gets the
year it was made in, on its order's calendar, without reading today's settings."""

import importlib
from datetime import date

import pytest

migration = importlib.import_module("subscriptions.migrations.0002_payment_financial_year")


@pytest.mark.parametrize(
    ("paid_on", "order_year_ends_on", "year_ends_on"),
    [
        # In the order's own year, on its last day, and the day after.
        (date(2025, 12, 20), date(2025, 12, 31), date(2025, 12, 31)),
        (date(2025, 12, 31), date(2025, 12, 31), date(2025, 12, 31)),
        (date(2026, 1, 10), date(2025, 12, 31), date(2026, 12, 31)),
        # A broken financial year (July to June).
        (date(2025, 9, 1), date(2026, 6, 30), date(2026, 6, 30)),
        (date(2026, 7, 1), date(2026, 6, 30), date(2027, 6, 30)),
        # Years ending in February end on the 29th in a leap year.
        (date(2024, 2, 28), date(2023, 2, 28), date(2024, 2, 29)),
        (date(2024, 2, 29), date(2023, 2, 28), date(2024, 2, 29)),
        (date(2024, 3, 1), date(2023, 2, 28), date(2025, 2, 28)),
        # Paid before the order's year (a deposit): the year it was paid in.
        (date(2024, 11, 1), date(2025, 12, 31), date(2024, 12, 31)),
    ],
)
def test_an_existing_payment_gets_the_financial_year_it_was_made_in(
    paid_on, order_year_ends_on, year_ends_on
):
    assert migration.year_end_of(paid_on, order_year_ends_on) == year_ends_on
