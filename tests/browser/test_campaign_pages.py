"""Marketing in a real browser: preview a campaign in each language, send a test to oneself, and
read what became of a sent one; every page checked with axe-core (no serious or critical
violation) and usable on a 375 px wide phone."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone

from newsletters import campaigns, services
from newsletters.models import Campaign, CampaignText, Delivery
from tests.browser import log_in
from tests.factories import CustomerFactory, subscribe

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# axe-core from npm, vendored with its licence (tests/browser/axe/). Injected as an init script,
# which the page's CSP does not govern, so the pages are checked under their real policy.
AXE = Path(__file__).parent / "axe" / "axe.min.js"
PHONE = {"width": 375, "height": 740}


def serious_violations(page) -> list[str]:
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{violation['id']} ({violation['impact']}): "
        + "; ".join(node["target"][0] for node in violation["nodes"][:3])
        for violation in results["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def fits_the_width(page) -> bool:
    """Nothing wider than the screen: no sideways scrolling of the page itself."""
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.fixture
def checked_page(page):
    page.context.add_init_script(path=str(AXE))  # popups too
    return page


@pytest.fixture
def draft(news, marketing):
    marketing.email = "kampanj@konserthus.example"
    marketing.save()
    for number, language in enumerate(["sv", "sv", "nb", "en"]):
        subscribe(
            CustomerFactory(email=f"fan{number}@example.se", preferred_language=language), "news"
        )
    campaign = Campaign.objects.create(name="Våren 2027", purpose=news, created_by=marketing)
    CampaignText.objects.create(
        campaign=campaign,
        language="sv",
        subject="Vårens konserter",
        body="Hej!\n\nVälkommen till en vår med Mahler och Sibelius.",
    )
    CampaignText.objects.create(
        campaign=campaign,
        language="en",
        subject="Spring concerts",
        body="Hello!\n\nWelcome to a spring of Mahler and Sibelius.",
    )
    return campaign


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_marketing_previews_and_test_sends_a_campaign(checked_page, marketing, draft, viewport):
    page = checked_page
    if viewport:
        page.set_viewport_size(viewport)
    log_in(page, "marketing")
    page.goto(f"/admin/newsletters/campaign/{draft.pk}/change/")

    # The audience per language, as it stands now.
    audience = page.locator("section.campaign-audience")
    assert "Swedish" in audience.inner_text() and "2" in audience.inner_text()
    # Each language's preview: Swedish as written, Norwegian readers get the fallback.
    previews = page.locator("section.campaign-previews")
    assert "Vårens konserter" in previews.inner_text()
    assert "No text in this language" in previews.inner_text()
    assert serious_violations(page) == []
    assert fits_the_width(page)

    with page.expect_popup() as popup:
        page.click("a:has-text('Open the email in Swedish')")
    preview = popup.value
    preview.wait_for_load_state()
    assert "Välkommen till en vår" in preview.inner_text("body")
    assert preview.evaluate("() => document.documentElement.lang") == "sv"
    assert serious_violations(preview) == []
    if viewport:
        assert fits_the_width(preview)
    preview.close()

    page.click("button:has-text('Send a test to my address')")
    page.wait_for_selector(".messagelist .success")
    assert "kampanj@konserthus.example" in page.inner_text(".messagelist")
    assert sorted(m.subject for m in mail.outbox) == [
        "[Test] Spring concerts",
        "[Test] Vårens konserter",
    ]
    assert not Delivery.objects.exists()


def test_marketing_reads_what_became_of_a_sent_campaign(checked_page, marketing, draft):
    page = checked_page
    page.set_viewport_size(PHONE)
    people = [subscribe(CustomerFactory(email=f"reader{n}@example.se"), "news") for n in range(6)]
    Campaign.objects.filter(pk=draft.pk).update(
        status=Campaign.Status.SCHEDULED, scheduled_at=timezone.now() - timedelta(seconds=1)
    )
    campaigns.campaign_send(campaign_id=draft.pk)
    delivery = Delivery.objects.get(customer=people[0])
    services.bounces_record([(delivery.pk, "hard", "5.1.1", "User unknown")])

    log_in(page, "marketing")
    page.goto("/admin/newsletters/campaign/")
    dashboard = page.locator("section.campaign-dashboard")
    assert "Våren 2027" in dashboard.inner_text() and "too high" in dashboard.inner_text()
    assert serious_violations(page) == []

    page.click("section.campaign-dashboard a:has-text('Våren 2027')")
    figures = page.locator("section.campaign-figures")
    figures.wait_for()
    assert "Hard bounces: 10.0 % of the messages sent" in figures.inner_text()
    assert page.locator("svg.campaign-chart rect.bar-delivered").count() == 1
    assert serious_violations(page) == []
    assert fits_the_width(page)
