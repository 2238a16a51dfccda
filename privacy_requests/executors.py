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
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext

from concerthouse.audit import action_in_words
from concerthouse.authority import supervisory_authority
from concerthouse.models import AuditEntry
from concerthouse.privacy.export import (
    categories_in,
    disclosures_of,
    export_person,
    portable_data,
    rows_in_words,
)
from concerthouse.privacy.map import (
    PERSON_MODEL,
    Category,
    LegalBasis,
    RecipientKind,
    categories_of,
    choice_labels,
    declarations,
    processings_for,
)
from concerthouse.privacy.measures import security_measures
from concerthouse.privacy.person import subjects_of
from concerthouse.privacy.recipients import categories_linked, flows_of, holds
from concerthouse.signed_links import absolute

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
    return list(entries.values_list("at", "action", "purpose"))


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


# Tables with a section of their own in the report: the consent history and the staff access.
_OWN_SECTIONS = {"consent.consentevent", "concerthouse.auditentry"}


def _purposes(person, held: list, data: dict, subjects: set[str]) -> list[dict]:
    """Art. 15(1)(a), (b), (d): each purpose that concerns this person, on its legal basis, with
    the categories of data they really have under it and how long it is kept, in words."""
    grouped: dict[tuple, dict] = {}
    for declaration in held:
        rows = data[declaration.label]
        with_data = categories_in(declaration, rows)
        for processing in processings_for(declaration, subjects):
            key = (str(processing.purpose), processing.legal_basis, str(processing.interest))
            entry = grouped.setdefault(
                key,
                {
                    "purpose": processing.purpose,
                    "legal_basis": LegalBasis(processing.legal_basis).label,
                    "interest": processing.interest,
                    "categories": set(),
                    "retention": [],
                    "rows": 0,
                    "items": processing.items(person) if processing.items else [],
                },
            )
            entry["categories"] |= with_data & categories_of(declaration, processing)
            entry["rows"] += len(rows)
            text = processing.retention or declaration.retention.description
            if str(text) not in map(str, entry["retention"]):
                entry["retention"].append(text)
    result = []
    for entry in grouped.values():
        entry["categories"] = [Category(c).label for c in Category if c in entry["categories"]]
        result.append(entry)
    return result


def _your_data(held: list, data: dict) -> list[dict]:
    """Every table of the person's data in words: codes as labels, related rows by name."""
    tables = []
    for declaration in held:
        if declaration.label in _OWN_SECTIONS:
            continue
        headers, rows = rows_in_words(declaration, data[declaration.label])
        if headers:
            tables.append(
                {
                    "name": capfirst(declaration.model._meta.verbose_name_plural),
                    "headers": headers,
                    "rows": rows,
                }
            )
    return tables


def _staff_access_lines(person) -> str:
    zone = timezone.get_current_timezone()
    return "\n".join(
        f"<li>{_when(at, zone)}: {html.escape(str(action_in_words(action)))} "
        f"({html.escape(gettext(purpose))})</li>"
        for at, action, purpose in _staff_access(person)
    )


def access_report(request, person, data: dict | None = None) -> str:
    """The readable report of Art. 15(1)(a)-(h), in the person's language, from `data` (the
    person's export, when the caller already has it)."""
    if data is None:
        data = export_person(person) if person is not None else {}
    held = [d for d in declarations() if data.get(d.label)]
    disclosures = disclosures_of(person) if person is not None else []
    profile = (data.get(PERSON_MODEL) or [{}])[0]
    with translation.override(request.language):
        subjects = subjects_of(person) if person is not None else set()
        purposes = _purposes(person, held, data, subjects)
        wordings, consent_history = _consent_history(data.get("consent.consentevent", []))
        source = profile.get("source")
        return render_to_string(
            "privacy_requests/access_report.html",
            {
                "request": request,
                "house_name": settings.HOUSE_NAME,
                "organisation_number": settings.HOUSE_ORGANISATION_NUMBER,
                "contact": settings.HOUSE_CONTACT_EMAIL,
                "dpo_email": settings.DPO_EMAIL,
                "purposes": purposes,
                "objectable": [p for p in purposes if p["interest"]],
                "your_data": _your_data(held, data),
                "recipients": recipients_of(person) if person is not None else [],
                "disclosures": _disclosures_named(disclosures),
                "breaches": data.get("privacy_requests.affectedperson", []),
                "wordings": wordings,
                "consent_history": consent_history,
                "staff_access": mark_safe(  # noqa: S308 (escaped above)
                    _staff_access_lines(person) if person is not None else ""
                ),
                "source": choice_labels(PERSON_MODEL, "source").get(source, source)
                if source
                else "",
                "source_detail": profile.get("source_detail"),
                "profiling": [d.profiling(data[d.label]) for d in held if d.profiling],
                "measures": security_measures(),
                "request_url": absolute(reverse("privacy_requests:request")),
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
    """Art. 20: what the person provided, readable (labels in their language, ISO dates,
    natural keys instead of internal ids), as JSON and as one CSV per table."""
    with translation.override(request.language):
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
