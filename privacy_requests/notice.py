"""The privacy notice (Art. 13, 14) and the record of processing (Art. 30), generated from the
personal-data map, the processor register and the house's settings, so that they cannot drift
from what the code does.

Both list the map's processings: each purpose with its legal basis, the kinds of person it
concerns, the data and how long it is kept. The notice groups them as the person reads them; the
record adds the recipients, the transfers, the models and fields, and the security measures.
"""

from django.conf import settings

from concerthouse.authority import supervisory_authority
from concerthouse.privacy.map import (
    Category,
    LegalBasis,
    RecipientKind,
    Subject,
    categories_of,
    declarations,
    processings,
)
from concerthouse.privacy.measures import security_measures

from .models import Processor


def _recipients_of(declaration, register: list[Processor]) -> list[Processor]:
    """The register's entries this declaration's rows reach: through its flows, or hosted."""
    kinds = {flow.kind for flow in declaration.flows}
    return [
        entry
        for entry in register
        if entry.kind in kinds
        or (
            entry.kind == RecipientKind.HOSTING
            and declaration.categories & set(entry.data_categories)
        )
    ]


def _in_use(declaration, register: list[Processor]) -> bool:
    """Rows kept only to record a disclosure (an audience export) exist only once a recipient of
    their kind is registered: the exports are refused until then, and the notice says nothing."""
    return declaration.disclosures is None or any(
        entry.kind in {flow.kind for flow in declaration.flows} for entry in register
    )


def activities(register: list[Processor] | None = None) -> list[dict]:
    """One entry per purpose (on one basis), with every model that serves it: an order and its
    payments are one activity, and so are a customer's contact details and their subscriptions.
    Each with the register's entries that receive its data (Art. 13(1)(e), 30(1)(d))."""
    if register is None:
        register = list(Processor.objects.filter(is_active=True))
    grouped: dict[tuple, dict] = {}
    for declaration in declarations():
        if not _in_use(declaration, register):
            continue
        for processing in processings(declaration):
            key = (str(processing.purpose), processing.legal_basis, str(processing.interest))
            activity = grouped.setdefault(
                key,
                {
                    "purpose": processing.purpose,
                    "legal_basis": LegalBasis(processing.legal_basis).label,
                    "legitimate_interest": processing.legal_basis
                    == LegalBasis.LEGITIMATE_INTERESTS,
                    "interest": processing.interest,
                    "subjects": set(),
                    "categories": set(),
                    "retention": [],
                    "legal_hold": [],
                    "items": processing.items(None) if processing.items else [],
                    "records": [],
                    "recipients": [],
                },
            )
            for entry in _recipients_of(declaration, register):
                if entry not in activity["recipients"]:
                    activity["recipients"].append(entry)
            activity["subjects"].update(processing.applies_to)
            activity["categories"].update(categories_of(declaration, processing))
            text = processing.retention or declaration.retention.description
            if str(text) not in map(str, activity["retention"]):
                activity["retention"].append(text)
            hold = declaration.legal_hold.statute if declaration.legal_hold else ""
            if hold and str(hold) not in map(str, activity["legal_hold"]):
                activity["legal_hold"].append(hold)
            activity["records"].append(
                {
                    "label": declaration.label,
                    "name": declaration.model._meta.verbose_name_plural,
                    "fields": [
                        declaration.model._meta.get_field(name).verbose_name
                        for name in declaration.fields
                    ],
                    "erasure": declaration.erasure.label,
                }
            )
    result = list(grouped.values())
    for activity in result:
        activity["subjects"] = [Subject(s).label for s in Subject if s in activity["subjects"]]
        activity["category_codes"] = set(activity["categories"])
        activity["categories"] = [
            Category(c).label for c in Category if c in activity["categories"]
        ]
    return result


def _house() -> dict:
    return {
        "house_name": settings.HOUSE_NAME,
        "organisation_number": settings.HOUSE_ORGANISATION_NUMBER,
        "house_address": settings.HOUSE_ADDRESS,
        "contact": settings.HOUSE_CONTACT_EMAIL,
        "dpo_name": settings.DPO_NAME,
        "dpo_email": settings.DPO_EMAIL,
        "authority": supervisory_authority(),
    }


def notice_context() -> dict:
    """For the public notice: the activities, the interests one may object to, the processors,
    the profiling the house takes part in."""
    register = list(Processor.objects.filter(is_active=True))
    every = activities(register)
    return {
        **_house(),
        "activities": every,
        "objectable": [a for a in every if a["legitimate_interest"]],
        "processors": register,
        # Only what the house can do: no audience export without an ad platform registered.
        "profiling": [
            d.profiling(None) for d in declarations() if d.profiling and _in_use(d, register)
        ],
    }


def record_context() -> dict:
    """For the record of processing (Art. 30(1)(a)-(g)): each activity with the recipients that
    receive its data, and the security measures of this installation."""
    register = list(Processor.objects.filter(is_active=True))
    every = activities(register)
    return {
        **_house(),
        "activities": every,
        "processors": register,
        "measures": security_measures(),
    }
