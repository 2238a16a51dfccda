# The notice that a restriction will be lifted (Art. 18(3)) is now recorded on the person, where
# every path that lifts a restriction reads it; a notice already sent through a request moves there.

from django.db import migrations


def move_sent_notices(apps, schema_editor):
    PrivacyRequest = apps.get_model("privacy_requests", "PrivacyRequest")
    person_model = PrivacyRequest._meta.get_field("customer").related_model
    told = PrivacyRequest.objects.filter(
        lift_notice_sent_at__isnull=False, customer__restricted_at__isnull=False
    ).values_list("customer_id", "lift_notice_sent_at")
    for person_id, sent_at in told:
        person_model.objects.filter(
            pk=person_id, restriction_lift_notice_sent_at__isnull=True
        ).update(restriction_lift_announced_at=sent_at, restriction_lift_notice_sent_at=sent_at)


class Migration(migrations.Migration):

    dependencies = [
        ("privacy_requests", "0005_breaches"),
        ("customers", "0006_restriction_lift_notice"),
    ]

    operations = [
        migrations.RunPython(move_sent_notices, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="privacyrequest",
            name="lift_notice_sent_at",
        ),
    ]
