import itertools

import pytest
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.utils import timezone

from consent.selectors import notice_current
from customers.models import Customer
from newsletters.models import Campaign, Delivery
from newsletters.services import newsletter_signup

_numbers = itertools.count(1)


def long_ago():
    """Longer ago than the lead rule keeps a lead after its last contact."""
    return timezone.now() - relativedelta(years=settings.RETENTION_LEAD_YEARS, days=10)


@pytest.fixture
def make_leads(news):
    """Leads met through the newsletter form who never confirmed: each with a signup, a consent
    event, a (pending) consent, a delivery and an audit entry. `expired` ones were last in touch
    longer ago than the lead rule keeps them."""
    campaign = Campaign.objects.create(name="Spring season", purpose=news)

    def make(count: int, *, expired: bool = True) -> list[Customer]:
        notice = notice_current(purpose=news, language="sv")
        people = []
        for _ in range(count):
            number = next(_numbers)
            signup = newsletter_signup(
                email=f"lead{number}@example.se",
                language="sv",
                notices=[notice],
                first_name="Lena",
                last_name=f"Lind{number}",
            )
            Delivery.objects.create(campaign=campaign, customer=signup.customer)
            people.append(signup.customer)
        if expired:
            Customer.objects.filter(pk__in=[p.pk for p in people]).update(
                last_activity_at=long_ago()
            )
        return list(Customer.objects.filter(pk__in=[p.pk for p in people]).order_by("pk"))

    return make
