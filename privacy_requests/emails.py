"""Emails to the person (verification, notices, the answer), to the DPO and to recipients."""

from email.utils import formataddr

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from concerthouse import signed_links
from concerthouse.authority import supervisory_authority
from concerthouse.privacy.erasure import holds_for_display
from concerthouse.privacy.map import Category, RecipientKind
from concerthouse.privacy.recipients import hashed_identifier

from .models import AccessPackage, PrivacyRequest

VERIFY = "privacy_requests.verify"
PACKAGE = "privacy_requests.package"


def verification_url(request: PrivacyRequest) -> str:
    token = signed_links.make(request.public_id.hex, salt=VERIFY)
    return signed_links.url("privacy_requests:verify", token, language=request.language)


def package_url(package: AccessPackage, *, language: str) -> str:
    token = signed_links.make(package.public_id.hex, salt=PACKAGE)
    return signed_links.url("privacy_requests:download", token, language=language)


def _message(*, to: str, language: str, subject: str, template: str, context: dict):
    context = {
        "house_name": settings.HOUSE_NAME,
        "contact": settings.HOUSE_CONTACT_EMAIL,
        "authority": supervisory_authority(),
        **context,
    }
    with translation.override(language):
        body = render_to_string(f"privacy_requests/email/{template}.txt", context)
    return EmailMessage(
        subject=subject,
        body=body,
        from_email=formataddr((settings.HOUSE_NAME, settings.DEFAULT_FROM_EMAIL)),
        to=[to],
        reply_to=[settings.HOUSE_CONTACT_EMAIL],
    )


def verification(request: PrivacyRequest) -> EmailMessage:
    with translation.override(request.language):
        subject = _("Confirm your request to %(house)s") % {"house": settings.HOUSE_NAME}
        kind = request.get_kind_display()
    return _message(
        to=request.email,
        language=request.language,
        subject=subject,
        template="verify",
        context={
            "kind": kind,
            "url": verification_url(request),
            "days": settings.PRIVACY_VERIFICATION_DAYS,
        },
    )


def notice(request: PrivacyRequest, which: str) -> EmailMessage:
    """The person's notices: extension, rejection, the answer. (The notice of a restriction's
    lifting is the person's app's, the same whichever path lifts it.)"""
    with translation.override(request.language):
        kind = request.get_kind_display()
        subject = {
            "extension": _("Your request needs more time"),
            "rejection": _("Our answer to your request"),
            "completed": _("Our answer to your request"),
        }[which]
        package = request.packages.order_by("-created_at").first()
        return _message(
            to=request.email,
            language=request.language,
            subject=f"{subject}: {kind}",
            template=which,
            context={
                "request": request,
                "kind": kind,
                "package_url": package_url(package, language=request.language) if package else None,
                "package_days": settings.PRIVACY_PACKAGE_LINK_DAYS,
                "holds": holds_for_display(request.erasure_holds),
            },
        )


def dpo_notice(request: PrivacyRequest) -> EmailMessage:
    """To the house's privacy address: that a request waits, never who made it."""
    url = signed_links.absolute(reverse("dpo:request", args=[request.public_id]))
    with translation.override(settings.LANGUAGE_CODE):
        kind = request.get_kind_display()
        subject = _("New privacy request: %(kind)s, due %(due)s") % {
            "kind": kind,
            "due": request.deadline.isoformat(),
        }
    return _message(
        to=settings.HOUSE_CONTACT_EMAIL,
        language=settings.LANGUAGE_CODE,
        subject=subject,
        template="dpo",
        context={"kind": kind, "url": url, "due": request.deadline},
    )


def recipient_notice(notice) -> EmailMessage:
    """Art. 19, in English (recipients are businesses): what to do, and for whom, naming the
    person only by what the recipient already holds (Art. 5(1)(f)): the address to those that
    received it, the hash of it to an ad platform that received only hashes, and to a processor
    that hosts none of their contact details, nothing but our reference."""
    request, processor = notice.request, notice.processor
    hashed = hashed_identifier(processor.kind, request.email) if request.email else None
    in_clear = not hashed and (
        processor.kind != RecipientKind.HOSTING or Category.CONTACT in processor.data_categories
    )
    with translation.override("en"):
        kind = request.get_kind_display()
        categories = ", ".join(str(label).lower() for label in processor.categories_display)
    return _message(
        to=processor.erasure_contact,
        language="en",
        subject=f"GDPR Art. 19 notice from {settings.HOUSE_NAME}: {request.public_id}",
        template="recipient",
        context={
            "request": request,
            "kind": kind,
            "processor": processor,
            "address": request.email if in_clear else "",
            "hashed": hashed,
            "categories": categories,
        },
    )
