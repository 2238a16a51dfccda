"""Demo newsletter data for a laptop (called by `load_demo_data`): consents of several kinds, a few
signups still waiting for their link, and a draft campaign in three languages. Runs once."""

import random

from django.utils import timezone

from consent.models import Channel, Consent, Purpose
from consent.selectors import notice_current
from consent.services import consent_confirm, consent_give
from customers.models import Customer

from .models import Campaign, CampaignText, Signup

FAMILY = {
    "sv": ("Familjekonserter", "Tips om konserter för barn och familjer, några gånger om året."),
    "nb": ("Familiekonserter", "Tips om konserter for barn og familier, noen ganger i året."),
    "en": ("Family concerts", "Tips about concerts for children and families, a few times a year."),
}
CAMPAIGN = {
    "sv": ("Säsongen börjar", "Hej!\n\nHöstens första konsert är på fredag. Välkommen!"),
    "nb": ("Sesongen begynner", "Hei!\n\nHøstens første konsert er på fredag. Velkommen!"),
    "en": ("The season begins", "Hello!\n\nThe first concert of the autumn is on Friday."),
}


def load(*, seed: int, stdout) -> None:
    if Campaign.objects.exists() or Consent.objects.exists():
        return
    rng = random.Random(seed)
    family = _family_list()
    purposes = {p.code: p for p in Purpose.objects.all()}
    people = Customer.objects.processable().only("pk", "preferred_language")
    confirmed = pending = 0
    for person in people:
        language = person.preferred_language
        wanted = [purposes["news"]] if rng.random() < 0.6 else []
        if rng.random() < 0.25:
            wanted.append(family)
        if wanted and rng.random() < 0.4:
            wanted.append(purposes["open-tracking"])
        if rng.random() < 0.35:
            wanted.append(purposes["ad-matching"])
        if not wanted:
            continue
        if rng.random() < 0.08:  # a signup whose link was never clicked
            signup = Signup.objects.create(
                customer=person,
                language=language,
                confirmation_requested_at=timezone.now(),
                confirmation_sent_at=timezone.now(),
            )
            for purpose in wanted:
                consent_give(
                    customer=person,
                    purpose=purpose,
                    notice=notice_current(purpose=purpose, language=language),
                    channel=Channel.WEB_SIGNUP,
                    evidence=f"signup {signup.public_id}",
                )
            pending += 1
            continue
        for purpose in wanted:
            consent_confirm(
                customer=person,
                purpose=purpose,
                notice=notice_current(purpose=purpose, language=language),
                channel=Channel.WEB_SIGNUP,
                evidence="demo data",
            )
        confirmed += 1
    campaign = Campaign.objects.create(name="Season opening (demo)", purpose=purposes["news"])
    for language, (subject, body) in CAMPAIGN.items():
        CampaignText.objects.create(
            campaign=campaign, language=language, subject=subject, body=body
        )
    stdout.write(f"Demo newsletter consents: {confirmed} confirmed, {pending} awaiting their link.")


def _family_list() -> Purpose:
    purpose, _created = Purpose.objects.get_or_create(
        code="family",
        defaults={"kind": Purpose.Kind.NEWSLETTER, "name": "Family concerts", "position": 1},
    )
    for language, (label, text) in FAMILY.items():
        purpose.notices.get_or_create(
            language=language, version=1, defaults={"label": label, "text": text}
        )
    return purpose
