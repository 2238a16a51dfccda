"""What each right does to a person's data, driven by the personal-data map alone.

Every function here works per declaration with set-based queries, so the number of queries grows
with the number of declared models, never with the number of a person's rows.
"""

import csv
import html
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext

from concerthouse.audit import untranslated
from concerthouse.authority import supervisory_authority
from concerthouse.erasure import erase_people
from concerthouse.models import AuditEntry
from concerthouse.personal_data_map import (
    PERSON_MODEL,
    Category,
    Erasure,
    LegalBasis,
    Right,
    declarations,
    exercise_right,
    export_person,
)
from retention import journal

from .models import AccessPackage, Processor


def person_model():
    return apps.get_model(PERSON_MODEL)


def find_person(email: str):
    """The person in the register with this address, or None."""
    return person_model().objects.with_email(email).first()


def _people(person):
    return type(person)._default_manager.filter(pk=person.pk)


# --- Who holds the person's data -----------------------------------------------------------------
def categories_held(person) -> set[str]:
    """The categories of data the register holds about the person: one EXISTS per declaration."""
    people = _people(person)
    held = set()
    for declaration in declarations():
        if declaration.rows_of(people).exists():
            held.update(declaration.fields.values())
    return held


def disclosures_of(person) -> list[tuple[str, object]]:
    people = _people(person)
    found = []
    for declaration in declarations():
        if declaration.disclosures is not None:
            found += list(declaration.disclosures(declaration.rows_of(people)))
    return found


def recipients_of(person, disclosures=None) -> list[Processor]:
    """Art. 15(1)(c) and 19: the register's processors and recipients that hold this person's data,
    by the categories they process, and those the person's data was disclosed to."""
    categories = categories_held(person)
    if disclosures is None:
        disclosures = disclosures_of(person)
    codes = {code for code, _when in disclosures}
    register = Processor.objects.filter(is_active=True)
    return [
        processor
        for processor in register
        if set(processor.data_categories) & categories
        or (processor.recipient_code and processor.recipient_code in codes)
    ]


# --- Access (Art. 15) and portability (Art. 20) --------------------------------------------------
def _staff_access(person) -> list[tuple]:
    """When staff looked at or changed the person's data, and for what purpose; never who."""
    entries = AuditEntry.objects.filter(
        target_type=PERSON_MODEL, target_id=person.public_id, actor__isnull=False
    ).order_by("at")
    return list(entries.values_list("at", "purpose"))


def _when(moment, zone) -> str:
    # strftime rather than the template filter: a person may have thousands of rows.
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _escaped_labels(label: str, field: str) -> dict:
    model = apps.get_model(label)
    return {
        value: html.escape(str(name)) for value, name in model._meta.get_field(field).flatchoices
    }


def _consent_history(events: list[dict]) -> tuple[list[dict], str]:
    """The wordings the person was shown, once each, and the dated history of their consents.

    Built here rather than in a template loop: the ledger of one person can hold thousands of
    events, and the report must stay fast (under a second for 10,000 rows)."""
    wordings, labels = {}, {}
    for event in events:
        key = (event["purpose__code"], event["notice__language"], event["notice__version"])
        if key not in wordings:
            wordings[key] = {
                "label": event["notice__label"],
                "text": event["notice__text"],
                "version": event["notice__version"],
                "language": event["notice__language"],
            }
            labels[key] = html.escape(f"{event['notice__label']} (v{event['notice__version']})")
    actions = _escaped_labels("consent.consentevent", "action")
    channels = _escaped_labels("consent.consentevent", "channel")
    zone = timezone.get_current_timezone()
    lines = "\n".join(
        f"<li>{_when(e['at'], zone)}: {actions[e['action']]} · "
        f"{labels[(e['purpose__code'], e['notice__language'], e['notice__version'])]} · "
        f"{channels[e['channel']]}</li>"
        for e in events
    )
    return list(wordings.values()), mark_safe(lines)  # noqa: S308 (every value escaped above)


def access_report(request, person, data: dict | None = None) -> str:
    """The readable report of Art. 15(1)(a)-(h), in the person's language, from `data` (the
    person's export, when the caller already has it)."""
    if data is None:
        data = export_person(person) if person is not None else {}
    held = [d for d in declarations() if data.get(d.label)]
    disclosures = disclosures_of(person) if person is not None else []
    profile = (data.get(PERSON_MODEL) or [{}])[0]
    with translation.override(request.language):
        wordings, consent_history = _consent_history(data.get("consent.consentevent", []))
        staff_access = "\n".join(
            f"<li>{_when(at, timezone.get_current_timezone())}: "
            f"{html.escape(gettext(purpose))}</li>"
            for at, purpose in (_staff_access(person) if person is not None else [])
        )
        return render_to_string(
            "privacy_requests/access_report.html",
            {
                "request": request,
                "house_name": settings.HOUSE_NAME,
                "organisation_number": settings.HOUSE_ORGANISATION_NUMBER,
                "contact": settings.HOUSE_CONTACT_EMAIL,
                "held": [
                    {
                        "purpose": d.purpose,
                        "legal_basis": LegalBasis(d.legal_basis).label,
                        "categories": sorted({Category(c).label for c in d.fields.values()}),
                        "retention": d.retention.description,
                        "rows": len(data[d.label]),
                    }
                    for d in held
                ],
                "recipients": recipients_of(person, disclosures) if person is not None else [],
                "disclosures": disclosures,
                "wordings": wordings,
                "consent_history": consent_history,
                "staff_access": mark_safe(staff_access),  # noqa: S308 (escaped above)
                "source": profile.get("source"),
                "source_detail": profile.get("source_detail"),
                "authority": supervisory_authority(),
            },
        )


def _write_package(request, files: dict[str, str]) -> AccessPackage:
    directory = packages_directory()
    directory.mkdir(parents=True, exist_ok=True)
    package = AccessPackage(
        request=request,
        expires_at=timezone.now() + timedelta(days=settings.PRIVACY_PACKAGE_DAYS),
    )
    package.file_name = f"{package.public_id}.zip"
    # The fastest compression level: a large ledger compresses well at any level.
    with zipfile.ZipFile(
        directory / package.file_name, "w", zipfile.ZIP_DEFLATED, compresslevel=1
    ) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    package.save()
    return package


def packages_directory() -> Path:
    return Path(settings.PRIVATE_MEDIA_ROOT) / "packages"


def package_path(package: AccessPackage) -> Path:
    return packages_directory() / package.file_name


def build_access_package(request, person) -> AccessPackage:
    """data.json (every row the map finds, as stored) and report.html, zipped."""
    data = export_person(person) if person is not None else {}
    return _write_package(
        request,
        {
            "data.json": json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False),
            "report.html": access_report(request, person, data),
        },
    )


# Art. 20 covers data processed on consent or on a contract, and only what the person provided.
PORTABLE_BASES = {LegalBasis.CONSENT, LegalBasis.CONTRACT, LegalBasis.EXPLICIT_CONSENT}


def portable_data(person) -> dict[str, list[dict]]:
    people = _people(person)
    result = {}
    for declaration in declarations():
        fields = sorted(declaration.provided_by_person)
        if not fields or declaration.legal_basis not in PORTABLE_BASES:
            continue
        rows = declaration.rows_of(people).order_by("pk").values(*fields)
        result[declaration.label] = [dict(row) for row in rows]
    return result


def build_portability_package(request, person) -> AccessPackage:
    data = portable_data(person) if person is not None else {}
    files = {"data.json": json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False)}
    for label, rows in data.items():
        if rows:
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
            files[f"{label}.csv"] = out.getvalue()
    return _write_package(request, files)


# --- Erasure (Art. 17) ---------------------------------------------------------------------------
@dataclass(frozen=True)
class HeldRows:
    """Rows a statute obliges the house to keep: told to the person with the statute and date."""

    label: str  # the model, e.g. "subscriptions.order"
    statute: str
    held_until: date
    count: int


def erase_person(person, *, actor=None, spare=None) -> list[HeldRows]:
    """Delete or anonymise every mapped row of the person; keep rows under a legal hold and say
    which. `spare` is a row the erasure must not touch (the request being executed, whose contact
    details are still needed to send the answer).

    The registered erasure hooks (the suppression list) run first, while the address is known; the
    erasure is written to the journal, so that restoring a backup cannot bring the person back.
    """
    now = timezone.now()
    held = _holds_of(person, today=timezone.localdate(now))
    exercise_right(Right.ERASURE, person=person, actor=actor)
    journal.record(person, now=now)
    spare_rows = None if spare is None else type(spare)._base_manager.filter(pk=spare.pk)
    erase_people(_people(person), now=now, spare=spare_rows)
    return held


def _holds_of(person, *, today: date) -> list[HeldRows]:
    """The person's rows a statute still covers today, by model, with the last day of the hold."""
    people = _people(person)
    held = []
    for declaration in declarations():
        if declaration.erasure != Erasure.HOLD:
            continue
        hold = declaration.legal_hold
        keep = [row for row in declaration.rows_of(people) if hold.held_until(row) >= today]
        if keep:
            held.append(
                HeldRows(
                    label=declaration.label,
                    # In the source language: translated when told, in the person's language.
                    statute=untranslated(hold.statute),
                    held_until=max(hold.held_until(row) for row in keep),
                    count=len(keep),
                )
            )
    return held


def holds_for_display(holds: list[dict]) -> list[dict]:
    """An erasure's recorded holds, named in the active language."""
    return [
        {
            "what": apps.get_model(hold["model"])._meta.verbose_name_plural,
            "statute": gettext(hold["statute"]),
            "until": hold["until"],
        }
        for hold in holds
    ]
