from dateutil.relativedelta import relativedelta
from django.db import migrations, models


def year_end_of(paid_on, order_year_end):
    """The end of the financial year `paid_on` falls in, on the calendar of its order's year:
    a year ends on the last day of a month, so the same month's last day some years before or
    after (29 February included). No setting is read: the order's own year decides."""
    def shifted(years):
        return order_year_end + relativedelta(years=years, day=31)

    years = paid_on.year - order_year_end.year
    while shifted(years) < paid_on:
        years += 1
    while shifted(years - 1) >= paid_on:
        years -= 1
    return shifted(years)


def financial_years_from_orders(apps, schema_editor):
    Payment = apps.get_model("subscriptions", "Payment")
    changed = []
    for payment in Payment.objects.select_related("order").iterator(chunk_size=1000):
        payment.financial_year_ends_on = year_end_of(
            payment.paid_on, payment.order.financial_year_ends_on
        )
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
