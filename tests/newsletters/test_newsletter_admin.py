import pytest
from django.core import mail
from django.test import TestCase

from consent.models import ConsentEvent, NoticeVersion, Purpose
from newsletters.models import Campaign
from tests.factories import CustomerFactory, subscribe

CAMPAIGNS = "/admin/newsletters/campaign/"


def inline(prefix, rows, **management):
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for n, row in enumerate(rows):
        data.update({f"{prefix}-{n}-{key}": value for key, value in row.items()})
    return data


@pytest.mark.django_db
def test_marketing_writes_schedules_and_sends_a_campaign_in_the_admin(
    client_for, marketing, news, recipient_register
):
    subscribe(CustomerFactory(email="marta@example.se", first_name="Märta"), "news")
    client = client_for(marketing)
    response = client.post(
        CAMPAIGNS + "add/",
        {
            "name": "Höstens program",
            "purpose": news.pk,
            **inline(
                "texts",
                [
                    {"language": "en", "subject": "Autumn", "body": "The season opens."},
                    {"language": "sv", "subject": "Hösten", "body": "Säsongen börjar."},
                ],
            ),
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    campaign = Campaign.objects.get()
    assert (campaign.status, campaign.created_by) == ("draft", marketing)
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(CAMPAIGNS, {"action": "schedule", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    assert [m.to for m in mail.outbox] == [["marta@example.se"]]
    # What was sent is no longer editable.
    page = client.get(f"{CAMPAIGNS}{campaign.pk}/change/").content.decode()
    assert 'id="id_name"' not in page and "Sent: 1" in page


@pytest.mark.django_db
def test_a_campaign_can_only_target_an_email_list(client_for, marketing):
    page = client_for(marketing).get(CAMPAIGNS + "add/").content.decode()
    assert "Concert newsletter" in page and "Offers" in page
    assert "Ads on social media" not in page and "Accessibility" not in page


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["box_office", "finance"])
def test_box_office_and_finance_have_no_access_to_newsletters(role, request, client_for):
    client = client_for(request.getfixturevalue(role))
    for url in (CAMPAIGNS, "/admin/newsletters/audienceexport/add/", "/admin/consent/consent/"):
        assert client.get(url).status_code == 403, url


@pytest.mark.django_db
def test_the_dpo_sees_campaigns_and_the_suppression_list_but_changes_nothing(client_for, dpo, news):
    client = client_for(dpo)
    assert client.get(CAMPAIGNS).status_code == 200
    assert client.get(CAMPAIGNS + "add/").status_code == 403
    assert client.get("/admin/newsletters/suppression/").status_code == 200


@pytest.mark.django_db
def test_the_suppression_list_is_searched_by_address_without_storing_it(client_for, dpo, news):
    from newsletters.services import suppression_add

    suppression_add(email="ase@example.no", reason="erased")
    client = client_for(dpo)
    assert b"1 result" in client.get("/admin/newsletters/suppression/?q=ASE@example.no").content
    assert b"0 results" in client.get("/admin/newsletters/suppression/?q=other@example.no").content


@pytest.mark.django_db
def test_the_consent_ledger_is_read_only_for_everyone(client_for, marketing, dpo, news):
    person = subscribe(CustomerFactory(), "news")
    event = ConsentEvent.objects.get(customer=person)
    for user in (marketing, dpo):
        client = client_for(user)
        assert client.get("/admin/consent/consentevent/add/").status_code == 403
        page = client.get(f"/admin/consent/consentevent/{event.pk}/change/")
        assert page.status_code == 200 and b'name="_save"' not in page.content
        assert client.post(f"/admin/consent/consentevent/{event.pk}/delete/").status_code == 403


@pytest.mark.django_db
def test_marketing_adds_a_list_with_its_wording_and_published_wording_never_changes(
    client_for, marketing
):
    client = client_for(marketing)
    response = client.post(
        "/admin/consent/purpose/add/",
        {
            "name": "Chamber music",
            "code": "chamber",
            "kind": "newsletter",
            "is_active": "on",
            "position": "5",
            **inline(
                "notices",
                [
                    {
                        "language": "sv",
                        "version": "1",
                        "label": "Kammarmusik",
                        "text": "Nyheter om kammarmusik.",
                    }
                ],
            ),
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    purpose = Purpose.objects.get(code="chamber")
    notice = NoticeVersion.objects.get(purpose=purpose)
    page = client.get(f"/admin/consent/purpose/{purpose.pk}/change/").content.decode()
    assert 'name="notices-0-label"' not in page  # the published version is shown, not editable
    assert "Kammarmusik" in page
    assert notice.label == "Kammarmusik"
