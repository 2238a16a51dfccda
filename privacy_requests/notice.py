"""The privacy notice (Art. 13, 14) and the record of processing (Art. 30), generated from the
personal-data map, the processor register and the house's settings, so that they cannot drift
from what the code does."""

from django.conf import settings

from concerthouse.authority import supervisory_authority
from concerthouse.privacy.map import Category, LegalBasis, RecipientKind, declarations

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


def processing_activities() -> list[dict]:
    register = list(Processor.objects.filter(is_active=True))
    return [
        {
            "label": declaration.label,
            "name": declaration.model._meta.verbose_name_plural,
            "purpose": declaration.purpose,
            "legal_basis": LegalBasis(declaration.legal_basis).label,
            "categories": sorted({Category(c).label for c in declaration.fields.values()}),
            "fields": list(declaration.fields),
            "retention": declaration.retention.description,
            "erasure": declaration.erasure.label,
            "legal_hold": declaration.legal_hold.statute if declaration.legal_hold else "",
            "recipients": [entry.name for entry in _recipients_of(declaration, register)],
            # Rows kept only to record a disclosure (an audience export) exist only once a
            # recipient of their kind is registered: the exports are refused until then.
            "in_use": declaration.disclosures is None
            or any(entry.kind in {f.kind for f in declaration.flows} for entry in register),
        }
        for declaration in declarations()
    ]


def notice_activities() -> list[dict]:
    """The activities as the person reads them: models that serve one purpose on one basis for one
    period (an order and its payments) are one activity, with their categories together."""
    grouped: dict[tuple, dict] = {}
    for activity in processing_activities():
        if not activity["in_use"]:
            continue
        key = tuple(
            str(activity[name]) for name in ("purpose", "legal_basis", "retention", "legal_hold")
        )
        if key in grouped:
            merged = grouped[key]
            merged["categories"] = sorted({*merged["categories"], *activity["categories"]})
            merged["fields"] = [*merged["fields"], *activity["fields"]]
            merged["recipients"] = sorted({*merged["recipients"], *activity["recipients"]})
        else:
            grouped[key] = dict(activity)
    return list(grouped.values())


def notice_context(*, per_model: bool = False) -> dict:
    """For the public notice (activities grouped as the person reads them) or, `per_model`, for
    the record of processing (one row per declared model)."""
    return {
        "house_name": settings.HOUSE_NAME,
        "organisation_number": settings.HOUSE_ORGANISATION_NUMBER,
        "contact": settings.HOUSE_CONTACT_EMAIL,
        "authority": supervisory_authority(),
        "activities": processing_activities() if per_model else notice_activities(),
        "processors": Processor.objects.filter(is_active=True),
    }
