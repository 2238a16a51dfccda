"""A paginator for the admin's big changelists (customers, the consent ledger, the delivery and
audit logs, orders, subscriptions) that never counts more rows than a page list needs.

Django's paginator counts the whole filtered queryset (`SELECT COUNT(*)`) on every page, and for an
unfiltered changelist that is the whole table: a million customers cost more to count than the page
costs to show. This one counts at most `cap + 1` rows (`SELECT COUNT(*) FROM (... LIMIT cap + 1)`,
without the ordering, which a count does not need). Up to the cap the count is exact; beyond it
the changelist says "more than 10,000" and offers the pages up to the cap, which is as far as staff
ever page: past that they search or filter. For an unfiltered list on PostgreSQL it adds the
planner's estimate of the table's rows ("about 1,000,000 in all"), read from `pg_class` for free.
"""

from django.core.paginator import Paginator
from django.db import connections
from django.utils.formats import number_format
from django.utils.functional import cached_property
from django.utils.translation import gettext


class CappedPaginator(Paginator):
    cap = 10_000

    @cached_property
    def count(self) -> int:
        """The number of rows, exact up to `cap`; `cap + 1` means "more than `cap`"."""
        return self.object_list.order_by()[: self.cap + 1].count()

    @property
    def is_capped(self) -> bool:
        return self.count > self.cap

    @cached_property
    def num_pages(self) -> int:
        if self.is_capped:
            # Only full pages below the cap: a last page holding the one row past the cap would
            # suggest the list ends there.
            return max(1, self.cap // self.per_page)
        return super().num_pages

    def get_elided_page_range(self, number=1, *, on_each_side=3, on_ends=2):
        """For a capped count, the pages around this one and no last page: the list does not end
        at the cap, so "… 199 200" would say it does."""
        if not self.is_capped:
            yield from super().get_elided_page_range(
                number, on_each_side=on_each_side, on_ends=on_ends
            )
            return
        number = self.validate_number(number)
        first = 1
        if number - on_each_side > on_ends + 2:
            yield from range(1, on_ends + 1)
            yield self.ELLIPSIS
            first = number - on_each_side
        yield from range(first, min(number + on_each_side, self.num_pages) + 1)
        yield self.ELLIPSIS

    @cached_property
    def estimated_total(self) -> int | None:
        """The planner's estimate of an unfiltered list's rows, on PostgreSQL; None for a filtered
        list, another database, or a table never analysed."""
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor != "postgresql" or queryset.query.where:
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
                [connection.ops.quote_name(queryset.model._meta.db_table)],
            )
            row = cursor.fetchone()
        if row is None or row[0] < 0:  # -1: never vacuumed or analysed
            return None
        return _rounded(int(row[0]))

    @property
    def count_label(self) -> str:
        """ "More than 10,000 customers (about 1,000,000 in all)", for a capped count."""
        label = gettext("More than %(count)s %(name)s") % {
            "count": number_format(self.cap, force_grouping=True),
            "name": self.object_list.model._meta.verbose_name_plural,
        }
        if self.estimated_total is not None and self.estimated_total > self.cap:
            label += " " + gettext("(about %(count)s in all)") % {
                "count": number_format(self.estimated_total, force_grouping=True)
            }
        return label

    @property
    def results_label(self) -> str:
        """ "More than 10,000 results", for a capped search."""
        return gettext("More than %(count)s results") % {
            "count": number_format(self.cap, force_grouping=True)
        }


def _rounded(value: int) -> int:
    """Two significant digits: an estimate should not look like a count."""
    digits = len(str(value))
    return round(value, -(digits - 2)) if digits > 2 else value
