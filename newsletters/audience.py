"""The custom audience for ad platforms: hashed contact details of people who consented to it.

Harmonien's policy: customer lists with email and phone are matched in ad systems only "if the ad
systems can match a large enough number of users". Only people with confirmed ad-matching consent
who are neither restricted nor objecting are included; below a minimum size nothing is exported;
each export is recorded, with its members, as a disclosure to that recipient (Art. 15(1)(c), 19).
"""

import hashlib
from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from concerthouse.audit import audit_record
from concerthouse.privacy.map import RecipientKind
from concerthouse.privacy.recipients import require_recipient
from consent.models import Purpose
from consent.selectors import people_consenting
from customers.models import Customer

from .models import AudienceExport, AudienceExportMember

# The column names each platform's customer-list upload expects.
COLUMNS = {
    AudienceExport.Recipient.META: ("email", "phone"),
    AudienceExport.Recipient.GOOGLE: ("Email", "Phone"),
}


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest() if value else ""


def normalised_hashes(*, email: str, phone: str, recipient: str) -> tuple[str, str]:
    """SHA-256 of the values as the platforms specify: the email trimmed and lower-case, as the
    register stores it (normalise_email); the phone in E.164 with its country code, which Meta
    wants as digits only and Google with '+'."""
    if phone and recipient == AudienceExport.Recipient.META:
        phone = phone.lstrip("+")
    return _sha256(email), _sha256(phone)


def audience_for_ads():
    purpose = Purpose.objects.filter(kind=Purpose.Kind.AD_MATCHING).first()
    if purpose is None:
        return Customer.objects.none()
    return people_consenting(purpose=purpose)


@transaction.atomic
def audience_export(*, actor, recipient: str) -> AudienceExport:
    """Record an export of today's consenting audience; refused below the minimum size."""
    if not actor.has_perm("newsletters.export_audience"):
        raise PermissionDenied
    if recipient not in AudienceExport.Recipient.values:
        raise ValidationError({"recipient": [_("Choose a recipient.")]})
    # The notice and the access report name the recipients from the register: an export to a
    # platform the register does not name would make them untrue.
    require_recipient(
        RecipientKind.AD_PLATFORM,
        recipient,
        name=str(AudienceExport.Recipient(recipient).label),
    )
    people = list(audience_for_ads().order_by("pk").values_list("pk", flat=True))
    if len(people) < settings.AUDIENCE_EXPORT_MINIMUM:
        raise ValidationError(
            _(
                "Only %(count)s people have consented to ad matching; an audience is exported "
                "only from %(minimum)s people, so that nobody can be singled out."
            )
            % {"count": len(people), "minimum": settings.AUDIENCE_EXPORT_MINIMUM}
        )
    export = AudienceExport.objects.create(recipient=recipient, created_by=actor, size=len(people))
    AudienceExportMember.objects.bulk_create(
        (AudienceExportMember(export=export, customer_id=pk) for pk in people), batch_size=5000
    )
    audit_record(
        action="audience.exported",
        actor=actor,
        detail={"recipient": recipient, "people": len(people)},
    )
    return export


def audience_export_rows(export: AudienceExport, *, chunk_size: int = 2000) -> Iterator[tuple]:
    """The CSV rows of a recorded export, header first, read in chunks (constant memory)."""
    yield COLUMNS[export.recipient]
    people = (
        Customer.objects.filter(audience_exports__export=export)
        .order_by("pk")
        .values_list("email", "phone")
    )
    for email, phone in people.iterator(chunk_size=chunk_size):
        yield normalised_hashes(email=email, phone=phone, recipient=export.recipient)
