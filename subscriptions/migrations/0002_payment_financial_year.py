from dateutil.relativedelta import relativedelta
from django.db import migrations, models


def financial_years_from_orders(apps, schema_editor):
    """A payment made before this field existed belongs to the first financial year of its
    order's calendar (the year the order names, or one of the twelve-month years after it) that
    has not ended by the day it was paid: no setting is read, so the order's own year decides."""
    Payment = apps.get_model("subscriptions", "Payment")
    changed = []
    for payment in Payment.objects.select_related("order").iterator(chunk_size=1000):
        year_end = payment.order.financial_year_ends_on
        years = 0
        while year_end + relativedelta(years=years) < payment.paid_on:
            years += 1
        payment.financial_year_ends_on = year_end + relativedelta(years=years)
        changed.append(payment)
        if len(changed) == 1000:
            Payment.objects.bulk_update(changed, ["financial_year_ends_on"], batch_size=1000)
            changed = []
    Payment.objects.bulk_update(changed, ["financial_year_ends_on"], batch_size=1000)


class Migration(migrations.Migration):

    dependencies = [
        ('subscriptions', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='payment',
            name='financial_year_ends_on',
            field=models.DateField(null=True, verbose_name='end of the financial year'),
        ),
        migrations.RunPython(financial_years_from_orders, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='payment',
            name='financial_year_ends_on',
            field=models.DateField(verbose_name='end of the financial year'),
        ),
    ]
