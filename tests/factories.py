import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

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
    return user
