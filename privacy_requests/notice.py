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
    Subject,
    categories_of,
    declarations,
    processings,
)
from concerthouse.privacy.measures import security_measures

from .models import Processor


def activities() -> list[dict]:
    """One entry per purpose (on one basis), with every model that serves it: an order and its
    payments are one activity, and so are a customer's contact details and their subscriptions."""
    grouped: dict[tuple, dict] = {}
    for declaration in declarations():
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
                },
            )
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
    every = activities()
    return {
        **_house(),
        "activities": every,
        "objectable": [a for a in every if a["legitimate_interest"]],
        "processors": Processor.objects.filter(is_active=True),
        "profiling": [d.profiling(None) for d in declarations() if d.profiling],
    }


def record_context() -> dict:
    """For the record of processing (Art. 30(1)(a)-(g)): each activity with the recipients that
    hold its categories of data, and the security measures of this installation."""
    every = activities()
    register = list(Processor.objects.filter(is_active=True))
    for activity in every:
        activity["recipients"] = [
            processor
            for processor in register
            if set(getattr(processor, "data_categories", None) or []) & activity["category_codes"]
        ]
    return {
        **_house(),
        "activities": every,
        "processors": register,
        "measures": security_measures(),
    }
