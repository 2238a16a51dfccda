import time

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from consent.models import Channel, Purpose
from consent.selectors import notice_current
from consent.services import consent_confirm
from customers.models import Customer
from customers.services import customer_create

# Made-up identifiers with valid check digits.
FODSELSNUMMER = "24058936800"
KONTONUMMER = "86011117947"


class CustomerFactory(factory.Factory):
    """Customers made through the service, as every real one is."""

    class Meta:
        model = Customer

    email = factory.Sequence(lambda n: f"person{n}@example.se")
    first_name = factory.Faker("first_name", locale="sv_SE")
    last_name = factory.Faker("last_name", locale="sv_SE")
    country = "SE"
    source = Customer.Source.WEB_SIGNUP

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return customer_create(**kwargs)


def make_staff(username: str, role=None, **extra):
    User = get_user_model()
    user = User.objects.create_user(username=username, password="pw-" + username, is_staff=True)
    if role is not None:
        user.groups.add(Group.objects.get(name=role.value))
    for name, value in extra.items():
        setattr(user, name, value)
    user.save()
    # Every member of staff has an authenticator, as production requires (tests/test_staff_auth.py).
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    return user


def authenticator_code(user) -> str:
    """The code the member of staff's authenticator app shows: for now, or for the next time step
    when now's code was used already (a code is accepted once, and one step ahead is accepted)."""
    device = TOTPDevice.objects.get(user=user)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if totp.t() <= device.last_t:
        totp.time = device.t0 + (device.last_t + 1 - device.drift) * device.step
    return f"{totp.token():0{device.digits}d}"


def sign_in(client, user):
    """The test client signed in as the member of staff with both factors, as the login form
    leaves the session."""
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    return client


def subscribe(customer: Customer, *codes: str, language: str = "en") -> Customer:
    """Confirmed consent to each purpose (by code), as the preference centre records it."""
    for code in codes:
        purpose = Purpose.objects.get(code=code)
        consent_confirm(
            customer=customer,
            purpose=purpose,
            notice=notice_current(purpose=purpose, language=language),
            channel=Channel.PREFERENCE_CENTRE,
        )
    return customer


def mailed(customer: Customer, *, code: str = "news") -> Customer:
    """A newsletter sent to the person, as a campaign records it: their address went through the
    mail processor."""
    from django.utils import timezone

    from newsletters.models import Campaign, Delivery

    campaign = Campaign.objects.create(
        name=f"Sent to {customer.pk}", purpose=Purpose.objects.get(code=code), status="sent"
    )
    Delivery.objects.create(
        campaign=campaign, customer=customer, status="sent", sent_at=timezone.now()
    )
    return customer
