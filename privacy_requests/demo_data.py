"""Demo processor register (the vendors the two seed policies name) and a few requests in the
DPO's queue. Runs once, from `load_demo_data`."""

from datetime import date, timedelta

from django.utils import timezone

from . import deadlines
from .models import PrivacyRequest, Processor, RequestEvent

PROCESSORS = [
    {
        "name": "Knowit Experience",
        "role": Processor.Role.PROCESSOR,
        "purposes": "Plans, analyses and sends the newsletters; runs targeted advertising.",
        "data_categories": ["contact", "behavioural", "consent_evidence"],
        "country": "Norway",
        "transfer_basis": "Within the EU/EEA",
        "erasure_contact": "personvern@knowit.example",
    },
    {
        "name": "Marketing Monitor",
        "role": Processor.Role.PROCESSOR,
        "purposes": "The email system the newsletters are sent from.",
        "data_categories": ["contact", "behavioural"],
        "country": "Norway",
        "transfer_basis": "Within the EU/EEA",
        "erasure_contact": "privacy@marketingmonitor.example",
    },
    {
        "name": "Meta Platforms Ireland (Facebook, Instagram)",
        "role": Processor.Role.JOINT_CONTROLLER,
        "purposes": "Matches hashed customer lists for advertising, only with consent.",
        "data_categories": [],
        "country": "Ireland (data may go to the USA)",
        "transfer_basis": "EU-U.S. Data Privacy Framework (Art. 45)",
        "erasure_contact": "privacy@meta.example",
        "recipient_code": "meta",
    },
    {
        "name": "Google Ireland (Google Ads)",
        "role": Processor.Role.JOINT_CONTROLLER,
        "purposes": "Matches hashed customer lists for advertising, only with consent.",
        "data_categories": [],
        "country": "Ireland (data may go to the USA)",
        "transfer_basis": "EU-U.S. Data Privacy Framework (Art. 45)",
        "erasure_contact": "privacy@google.example",
        "recipient_code": "google",
    },
    {
        "name": "Eventim (ticket agent)",
        "role": Processor.Role.RECIPIENT,
        "purposes": "Sells tickets and season subscriptions on our behalf and sends us the bookings.",
        "data_categories": ["contact", "accounting"],
        "country": "Sweden",
        "transfer_basis": "Within the EU/EEA",
        "erasure_contact": "dataskydd@eventim.example",
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
