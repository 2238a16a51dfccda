"""The processor register says how each entry receives the house's data (so that the map's flows
find who holds whose data), speaks every language (countries and transfer bases as choices, the
purposes per language), and names each processor's breach contact and reporting time.

Existing free text is carried over: a country written as a name becomes its ISO code, a known
transfer basis its choice (an unknown one is left empty, for the DPO to choose); the purposes are
kept as the text of the house's language."""

import django_countries.fields
from django.conf import settings
from django.db import migrations, models

EEA_WORDS = ("eu/eea", "eea", "eu", "within")


def _country_code(text: str) -> str:
    from django_countries import countries

    text = (text or "").strip()
    if len(text) == 2 and text.upper() in dict(countries):
        return text.upper()
    for candidate in (text, text.split("(")[0].strip(), text.split(",")[0].strip()):
        with_name = countries.by_name(candidate)
        if with_name:
            return with_name
    return ""


def _transfer_basis(text: str) -> str:
    lowered = (text or "").lower()
    if "privacy framework" in lowered or "dpf" in lowered:
        return "dpf"
    if "art. 45" in lowered or "adequacy" in lowered:
        return "adequacy"
    if "contractual" in lowered or "scc" in lowered or "46" in lowered:
        return "scc"
    if "binding corporate" in lowered or "bcr" in lowered or "47" in lowered:
        return "bcr"
    if "49" in lowered or "derogation" in lowered:
        return "derogation"
    if any(word in lowered for word in EEA_WORDS):
        return "eea"
    return ""


def carry_over(apps, schema_editor):
    Processor = apps.get_model("privacy_requests", "Processor")
    for entry in Processor.objects.all():
        entry.country_code = _country_code(entry.country)
        entry.transfer_basis_code = _transfer_basis(entry.transfer_basis)
        entry.purposes_by_language = {settings.LANGUAGE_CODE: entry.purposes} if entry.purposes else {}
        # Before, an entry with a disclosure code was matched by recorded audience exports; every
        # other entry by the categories it processes.
        entry.kind = "ad_platform" if entry.recipient_code else "hosting"
        entry.save(
            update_fields=["country_code", "transfer_basis_code", "purposes_by_language", "kind"]
        )


def carry_back(apps, schema_editor):
    Processor = apps.get_model("privacy_requests", "Processor")
    for entry in Processor.objects.all():
        entry.country = entry.country_code
        entry.transfer_basis = entry.transfer_basis_code
        texts = entry.purposes_by_language or {}
        entry.purposes = texts.get(settings.LANGUAGE_CODE) or next(iter(texts.values()), "")
        entry.save(update_fields=["country", "transfer_basis", "purposes"])


class Migration(migrations.Migration):
    dependencies = [("privacy_requests", "0003_on_delete_in_database")]

    operations = [
        migrations.AddField(
            model_name="processor",
            name="kind",
            field=models.CharField(default="hosting", max_length=20),
        ),
        migrations.AddField(
            model_name="processor",
            name="country_code",
            field=django_countries.fields.CountryField(blank=True, default="", max_length=2),
        ),
        migrations.AddField(
            model_name="processor",
            name="transfer_basis_code",
            field=models.CharField(blank=True, default="", max_length=20),
        ),
        migrations.AddField(
            model_name="processor",
            name="purposes_by_language",
            field=models.JSONField(default=dict),
        ),
        migrations.AlterField(
            model_name="processor",
            name="purposes",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.RunPython(carry_over, carry_back),
        migrations.RemoveField(model_name="processor", name="country"),
        migrations.RemoveField(model_name="processor", name="transfer_basis"),
        migrations.RemoveField(model_name="processor", name="purposes"),
        migrations.RenameField(model_name="processor", old_name="country_code", new_name="country"),
        migrations.RenameField(
            model_name="processor", old_name="transfer_basis_code", new_name="transfer_basis"
        ),
        migrations.RenameField(
            model_name="processor", old_name="purposes_by_language", new_name="purposes"
        ),
        migrations.AddField(
            model_name="processor",
            name="third_country",
            field=django_countries.fields.CountryField(blank=True, default="", max_length=2),
        ),
        migrations.AddField(
            model_name="processor",
            name="breach_contact",
            field=models.EmailField(blank=True, default="", max_length=254),
        ),
        migrations.AddField(
            model_name="processor",
            name="breach_reporting_hours",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='processor',
            name='breach_contact',
            field=models.EmailField(blank=True, help_text='Who reports a personal-data breach to us, and whom we ask about one.', max_length=254, verbose_name='breach contact'),
        ),
        migrations.AlterField(
            model_name='processor',
            name='breach_reporting_hours',
            field=models.PositiveSmallIntegerField(blank=True, help_text='Within how many hours the contract obliges a processor to report a breach to us (Art. 33(2)).', null=True, verbose_name='breach reporting time (hours)'),
        ),
        migrations.AlterField(
            model_name='processor',
            name='country',
            field=django_countries.fields.CountryField(help_text='Where they process the data.', max_length=2, verbose_name='country'),
        ),
        migrations.AlterField(
            model_name='processor',
            name='kind',
            field=models.CharField(choices=[('hosting', 'Hosts our records of the categories listed'), ('mail', 'Sends our email'), ('ticket_agent', 'Ticket agent'), ('ad_platform', 'Ad platform (custom audiences)')], default='hosting', help_text='Hosting: holds our records of the categories below, for everyone who has such records. Mail: the data of the people we send email to. Ticket agent and ad platform: the data of the people it sold to, or who were in an audience sent to it.', max_length=20, verbose_name='what it receives'),
        ),
        migrations.AlterField(
            model_name='processor',
            name='purposes',
            field=models.JSONField(default=dict, help_text='What they do with the data, for whom.', verbose_name='purposes'),
        ),
        migrations.AlterField(
            model_name='processor',
            name='recipient_code',
            field=models.SlugField(blank=True, help_text="For a ticket agent or an ad platform: the code our records name it by, such as 'meta' or 'google' for audience exports, or the agent's name as imports record it ('eventim').", verbose_name='code'),
        ),
        migrations.AlterField(
            model_name='processor',
            name='third_country',
            field=django_countries.fields.CountryField(blank=True, help_text='A country outside the EU/EEA the data may go to, if any.', max_length=2, verbose_name='transfers to'),
        ),
        migrations.AlterField(
            model_name='processor',
            name='transfer_basis',
            field=models.CharField(choices=[('eea', 'No transfer outside the EU/EEA'), ('adequacy', 'An adequacy decision of the European Commission (Art. 45)'), ('dpf', 'The EU-U.S. Data Privacy Framework, an adequacy decision (Art. 45)'), ('scc', 'Standard contractual clauses (Art. 46(2)(c))'), ('bcr', 'Binding corporate rules (Art. 47)'), ('derogation', 'A derogation for a specific situation (Art. 49)')], default='eea', help_text='Within the EU/EEA, or the Art. 45/46 basis of a transfer outside it.', max_length=20, verbose_name='transfer basis'),
        ),
    ]
