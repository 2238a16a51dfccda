import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings

from consent.models import Consent
from customers.management.commands.load_demo_data import DEMO_STAFF
from customers.models import Customer
from newsletters.models import Campaign


@pytest.mark.django_db
# As `make run` (settings.local): the demo accounts sign in with their password alone.
@override_settings(DEBUG=True, STAFF_REQUIRE_SECOND_FACTOR=False)
def test_demo_data_loads_once_and_every_demo_account_logs_in():
    out = io.StringIO()
    call_command("load_demo_data", "--customers", "40", stdout=out)
    call_command("load_demo_data", "--customers", "40", stdout=out)  # a second `make run`
    assert Customer.objects.count() == 40
    assert (
        Customer.objects.filter(country="SE").exists()
        and Customer.objects.filter(country="NO").exists()
    )
    assert Customer.objects.exclude(national_id_index="").exists()
    assert Consent.objects.filter(state="confirmed").exists()
    assert Consent.objects.filter(state="pending").exists()
    assert Campaign.objects.count() == 1  # once, not once per run
    for username, password, _role in DEMO_STAFF:
        assert password in out.getvalue()
        client = Client()
        response = client.post(
            "/admin/login/?next=/admin/", {"username": username, "password": password}
        )
        assert response.status_code == 302, username
        assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_demo_data_refuses_to_run_outside_development():
    with pytest.raises(CommandError):
        call_command("load_demo_data")
    assert not Customer.objects.exists()
