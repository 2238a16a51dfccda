"""Demo processor register (the vendors the two seed policies name) and a few requests in the
DPO's queue. Runs once, from `load_demo_data`."""

from datetime import date, timedelta

from django.utils import timezone

from concerthouse.privacy.map import RecipientKind

from . import deadlines
from .models import PrivacyRequest, Processor, RequestEvent

PROCESSORS = [
    {
        "name": "Knowit Experience",
        "role": Processor.Role.PROCESSOR,
        # Harmonien's policy: Knowit works in the email-marketing system, so it holds the data of
        # the people the newsletters are sent to.
        "kind": RecipientKind.MAIL,
        "purposes": {
            "sv": "Planerar, analyserar och skickar nyhetsbreven i vårt e-postsystem.",
            "nb": "Planlegger, analyserer og sender nyhetsbrevene i e-postsystemet vårt.",
            "en": "Plans, analyses and sends the newsletters in our email system.",
        },
        "data_categories": ["contact", "behavioural", "consent_evidence"],
        "country": "NO",
        "erasure_contact": "personvern@knowit.example",
        "breach_contact": "sikkerhet@knowit.example",
        "breach_reporting_hours": 24,
    },
    {
        "name": "Marketing Monitor",
        "role": Processor.Role.PROCESSOR,
        "kind": RecipientKind.MAIL,
        "purposes": {
            "sv": "E-postsystemet som våra e-postmeddelanden skickas från.",
            "nb": "E-postsystemet som e-postene våre sendes fra.",
            "en": "The email system our emails are sent from.",
        },
        "data_categories": ["contact", "behavioural"],
        "country": "NO",
        "erasure_contact": "privacy@marketingmonitor.example",
        "breach_contact": "security@marketingmonitor.example",
        "breach_reporting_hours": 24,
    },
    {
        "name": "Meta Platforms Ireland (Facebook, Instagram)",
        "role": Processor.Role.JOINT_CONTROLLER,
        "kind": RecipientKind.AD_PLATFORM,
        "purposes": {
            "sv": "Matchar hashade kundlistor för annonsering, bara med samtycke.",
            "nb": "Matcher hashede kundelister for annonsering, bare med samtykke.",
            "en": "Matches hashed customer lists for advertising, only with consent.",
        },
        "data_categories": ["contact"],
        "country": "IE",
        "third_country": "US",
        "transfer_basis": Processor.TransferBasis.DPF,
        "erasure_contact": "privacy@meta.example",
        "breach_contact": "privacy@meta.example",
        "recipient_code": "meta",
    },
    {
        "name": "Google Ireland (Google Ads)",
        "role": Processor.Role.JOINT_CONTROLLER,
        "kind": RecipientKind.AD_PLATFORM,
        "purposes": {
            "sv": "Matchar hashade kundlistor för annonsering, bara med samtycke.",
            "nb": "Matcher hashede kundelister for annonsering, bare med samtykke.",
            "en": "Matches hashed customer lists for advertising, only with consent.",
        },
        "data_categories": ["contact"],
        "country": "IE",
        "third_country": "US",
        "transfer_basis": Processor.TransferBasis.DPF,
        "erasure_contact": "privacy@google.example",
        "breach_contact": "privacy@google.example",
        "recipient_code": "google",
    },
    {
        "name": "Eventim (ticket agent)",
        "role": Processor.Role.RECIPIENT,
        "kind": RecipientKind.TICKET_AGENT,
        "purposes": {
            "sv": "Säljer biljetter och abonnemang åt oss och skickar oss bokningarna.",
            "nb": "Selger billetter og abonnement for oss og sender oss bestillingene.",
            "en": "Sells tickets and season subscriptions on our behalf and sends us the bookings.",
        },
        "data_categories": ["contact", "accounting"],
        "country": "SE",
        "erasure_contact": "dataskydd@eventim.example",
        "breach_contact": "security@eventim.example",
        "breach_reporting_hours": 48,
        # What the demo's ticket-agent imports record as the agent (customers.ticket_agent_code).
        "recipient_code": "eventim",
    },
    {
        "name": "Abacus IT (Visma accounting)",
        "role": Processor.Role.PROCESSOR,
        "kind": RecipientKind.HOSTING,
        "purposes": {
            "sv": "Vårt bokföringssystem: order och betalningar.",
            "nb": "Regnskapssystemet vårt: ordre og betalinger.",
            "en": "Our accounting system: orders and payments.",
        },
        "data_categories": ["accounting"],
        "country": "NO",
        "erasure_contact": "personvern@abacus.example",
        "breach_contact": "sikkerhet@abacus.example",
        "breach_reporting_hours": 36,
    },
]


def load(*, seed: int, stdout) -> None:
    if Processor.objects.exists():
        return
    for entry in PROCESSORS:
        Processor.objects.create(contract_date=date(2018, 7, 1), **entry)
    today = timezone.now()
    for days_ago, kind, email in (
        (3, PrivacyRequest.Kind.ACCESS, "demo.access@example.se"),
        (20, PrivacyRequest.Kind.ERASURE, "demo.erasure@example.no"),
        (40, PrivacyRequest.Kind.RECTIFICATION, "demo.fix@example.se"),
    ):
        received = today - timedelta(days=days_ago)
        request = PrivacyRequest.objects.create(
            kind=kind,
            state=PrivacyRequest.State.OPEN,
            channel=PrivacyRequest.Channel.WEB,
            email=email,
            language="sv",
            wrong_data="Fel efternamn" if kind == PrivacyRequest.Kind.RECTIFICATION else "",
            correct_data="Rätt efternamn" if kind == PrivacyRequest.Kind.RECTIFICATION else "",
            created_at=received,
            received_at=received,
            due_on=deadlines.due_date(timezone.localdate(received)),
        )
        RequestEvent.objects.create(request=request, action="verified", at=received)
    stdout.write(f"Demo processor register: {len(PROCESSORS)} entries; 3 privacy requests.")
