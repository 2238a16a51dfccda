"""What the access and portability requests produce (Art. 15, 20), and who holds a person's data
(Art. 15(1)(c), 19), from the personal-data map and the processor register.

Every function here works per declaration with set-based queries, so the number of queries grows
with the number of declared models, never with the number of a person's rows.
"""

import csv
import html
import io
import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext

from concerthouse.authority import supervisory_authority
from concerthouse.models import AuditEntry
from concerthouse.privacy.export import disclosures_of, export_person, portable_data
from concerthouse.privacy.map import (
    PERSON_MODEL,
    Category,
    LegalBasis,
    RecipientKind,
    choice_labels,
    declarations,
)
from concerthouse.privacy.recipients import categories_linked, flows_of, holds

from .models import AccessPackage, Processor
from .packages import package_write


# --- Who holds the person's data -----------------------------------------------------------------
def recipients_of(person) -> list[Processor]:
    """Art. 15(1)(c) and 19: the active entries of the register that received this person's data,
    by the flows the personal-data map declares (concerthouse/privacy/recipients.py): the ticket
    agent they came from, the platforms of recorded audience exports, the mail processor if mail
    was sent to them, and a processor hosting a category only if they have rows of it. The access
    report and the Art. 19 notices both ask here, and a breach's scope reads the same flows."""
    if person is None:
        return []
    reached = flows_of(person)
    held = categories_linked(person)
    return [
        processor
        for processor in Processor.objects.filter(is_active=True)
        if holds(
            kind=processor.kind,
            code=processor.recipient_code,
            categories=processor.data_categories,
            reached=reached,
            held=held,
        )
    ]


def _disclosures_named(disclosures) -> list[tuple[str, object]]:
    """(recipient, when) of the recorded disclosures, the recipient by its register name."""
    names = dict(
        Processor.objects.filter(kind=RecipientKind.AD_PLATFORM)
        .exclude(recipient_code="")
        .values_list("recipient_code", "name")
    )
    return [(names.get(code, code), when) for code, when in disclosures]


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
    return {value: html.escape(str(name)) for value, name in choice_labels(label, field).items()}


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
                "recipients": recipients_of(person),
                "disclosures": _disclosures_named(disclosures),
                "breaches": data.get("privacy_requests.affectedperson", []),
                "wordings": wordings,
                "consent_history": consent_history,
                "staff_access": mark_safe(staff_access),  # noqa: S308 (escaped above)
                "source": profile.get("source"),
                "source_detail": profile.get("source_detail"),
                "authority": supervisory_authority(),
            },
        )


def build_access_package(request, person) -> AccessPackage:
    """data.json (every row the map finds, as stored) and report.html, zipped."""
    data = export_person(person) if person is not None else {}
    return package_write(
        request,
        {
            "data.json": json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False),
            "report.html": access_report(request, person, data),
        },
    )


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
    return package_write(request, files)
