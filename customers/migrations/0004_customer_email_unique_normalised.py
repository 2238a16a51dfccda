"""Addresses are stored normalised, so they are unique as stored.

The unique index on LOWER(email) becomes one on the column itself: every form and service stores
the address in its one normalised form (concerthouse.email_address.normalise_email: trimmed, NFC,
lower-case), and every look-up compares it exactly. First, any address stored before that rule
held is brought to its normalised form; two people whose addresses differ only in their Unicode
form (NFD and NFC) would become one address, and are reported by id for staff to merge, since
this migration cannot choose between their records. Runs on SQLite and PostgreSQL alike.
"""

from django.core.exceptions import ValidationError
from django.db import migrations, models

from concerthouse.email_address import normalise_email


def normalise_stored(apps, schema_editor):
    Customer = apps.get_model("customers", "Customer")
    changed = {}
    for pk, email in Customer.objects.values_list("pk", "email").iterator(chunk_size=5000):
        try:
            normalised = normalise_email(email)
        except ValidationError:
            continue  # not an address at all: left as it is, for staff to correct
        if normalised != email:
            changed[pk] = normalised
    # Lower-case twins could not exist (the index on LOWER(email)); twins in another Unicode form
    # or with spaces around can, among the changed addresses or with one already normalised.
    first_with = {}
    for pk, email in changed.items():
        twin = first_with.setdefault(email, pk)
        if twin == pk:
            twin = Customer.objects.filter(email=email).exclude(pk=pk).values_list("pk").first()
            twin = twin and twin[0]
        if twin:
            raise RuntimeError(
                f"customers {pk} and {twin} have the same address once normalised: merge them, "
                "then migrate again"
            )
    for pk, email in changed.items():
        Customer.objects.filter(pk=pk).update(email=email)


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0003_admin_search_indexes"),
    ]

    operations = [
        migrations.RunPython(normalise_stored, migrations.RunPython.noop, elidable=True),
        migrations.RemoveConstraint(
            model_name="customer",
            name="customer_email_ci_unique",
        ),
        migrations.AddConstraint(
            model_name="customer",
            constraint=models.UniqueConstraint(
                fields=("email",),
                name="customer_email_unique",
                violation_error_code="duplicate_email",
                violation_error_message="A person with this email address is already registered.",
            ),
        ),
    ]
