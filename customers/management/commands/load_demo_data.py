"""Demo data for a laptop: Swedish and Norwegian customers made up by Faker, and one staff account
per role. Refuses to run outside DEBUG, so that published demo passwords never reach a real house."""

import importlib
import importlib.util
import random

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from faker import Faker

from concerthouse.roles import Role
from customers.models import Customer
from customers.services import customer_create, customer_set_identifiers
from customers.validators import normalise_phone

# Local use only: printed by `make run`, documented in README.
DEMO_STAFF = [
    ("marketing", "marketing-demo", Role.MARKETING),
    ("boxoffice", "boxoffice-demo", Role.BOX_OFFICE),
    ("finance", "finance-demo", Role.FINANCE),
    ("dpo", "dpo-demo", Role.DPO),
    ("admin", "admin-demo", None),
]
# Faker calls Norwegian Bokmål "no_NO".
LOCALES = {"SE": ("sv_SE", "sv", "example.se"), "NO": ("no_NO", "nb", "example.no")}


def _kontonummer(rng: random.Random) -> str:
    """A made-up Norwegian account number with a valid MOD11 check digit."""
    while True:
        digits = [rng.randint(0, 9) for _ in range(10)]
        weights = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2]
        check = 11 - sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if check == 11:
            check = 0
        if check != 10:
            return "".join(map(str, digits)) + str(check)


class Command(BaseCommand):
    help = "Load demo customers and one demo staff account per role (local development only)."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=300)
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, customers, seed, **options):
        if not settings.DEBUG:
            raise CommandError("Demo data is for local development only (DEBUG is off).")
        with transaction.atomic():
            self._staff()
            created = 0 if Customer.objects.exists() else self._customers(customers, seed)
            # Apps that build on customers add their own demo rows from `<app>/demo_data.py`.
            for app_config in apps.get_app_configs():
                module = f"{app_config.name}.demo_data"
                if importlib.util.find_spec(module) is not None:
                    importlib.import_module(module).load(seed=seed, stdout=self.stdout)
        self.stdout.write(f"Demo customers: {Customer.objects.count()} ({created} new).")
        self.stdout.write("Demo staff accounts (local use only) at http://127.0.0.1:8000/admin/ :")
        for username, password, role in DEMO_STAFF:
            label = role.label if role else "superuser"
            self.stdout.write(f"  {username:<10} {password:<16} {label}")

    def _staff(self):
        User = get_user_model()
        for username, password, role in DEMO_STAFF:
            user, _created = User.objects.get_or_create(username=username)
            user.is_staff = True
            user.is_superuser = role is None
            user.set_password(password)
            user.save()
            if role is not None:
                user.groups.set([Group.objects.get(name=role.value)])

    def _customers(self, count: int, seed: int) -> int:
        rng = random.Random(seed)
        finance = get_user_model().objects.get(username="finance")
        fakers = {country: Faker(locale) for country, (locale, _l, _d) in LOCALES.items()}
        for faker in fakers.values():
            faker.seed_instance(seed)
        for number in range(count):
            country = "SE" if number % 2 == 0 else "NO"
            faker = fakers[country]
            _locale, language, domain = LOCALES[country]
            first, last = faker.first_name(), faker.last_name()
            email = f"{first}.{last}.{number}@{domain}"
            kind = rng.choice([Customer.Kind.LEAD, Customer.Kind.CUSTOMER])
            customer = customer_create(
                source=rng.choice(Customer.Source.values),
                email=_ascii(email),
                first_name=first,
                last_name=last,
                phone=_phone(faker, country) if rng.random() < 0.8 else "",
                street_address=faker.street_address(),
                postal_code=faker.postcode(),
                city=faker.city(),
                country=country,
                preferred_language=language if rng.random() < 0.9 else "en",
                kind=kind,
            )
            past = timezone.now() - timezone.timedelta(days=rng.randint(0, 5 * 365))
            Customer.objects.filter(pk=customer.pk).update(
                last_activity_at=past,
                relationship_started_on=past.date() if kind == Customer.Kind.CUSTOMER else None,
            )
            if number % 25 == 0:
                customer_set_identifiers(
                    customer=customer,
                    actor=finance,
                    purpose=Customer.IdentifiersPurpose.REFUNDS,
                    national_id=faker.ssn(),
                    bank_account=_kontonummer(rng) if country == "NO" else None,
                )
        return count


def _phone(faker: Faker, country: str) -> str:
    """Faker's numbers come in many spellings; keep the ones phonenumbers accepts as valid."""
    for _attempt in range(5):
        try:
            return normalise_phone(faker.phone_number(), country=country)
        except ValidationError:
            continue
    return ""


def _ascii(email: str) -> str:
    """Made-up addresses in ASCII: å→a, ø→o, and so on."""
    table = str.maketrans({"å": "a", "ä": "a", "ö": "o", "ø": "o", "æ": "ae", "é": "e", " ": ""})
    return email.lower().translate(table)
