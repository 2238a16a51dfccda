import re
from pathlib import Path

import polib
import pytest

LOCALE = Path(__file__).resolve().parent.parent / "locale"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "heading"),
    [
        ("sv", "Dina uppgifter, dina rättigheter"),
        ("nb", "Dine data, dine rettigheter"),
        ("en", "Your data, your rights"),
    ],
)
def test_the_home_page_speaks_each_language_and_offers_the_others(client, language, heading):
    response = client.get(f"/{language}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'<html lang="{language}">' in html
    assert heading in html
    for code in ("sv", "nb", "en"):
        assert f'href="/{code}/" hreflang="{code}"' in html


@pytest.mark.django_db
def test_a_bare_address_goes_to_a_language():
    from django.test import Client

    response = Client(headers={"accept-language": "nb"}).get("/")
    assert response.status_code == 302 and response["Location"] == "/nb/"


@pytest.mark.parametrize("language", ["sv", "nb"])
def test_every_text_a_person_reads_is_translated(language):
    catalogue = polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))
    assert [e.msgid for e in catalogue.untranslated_entries()] == []
    assert [e.msgid for e in catalogue.fuzzy_entries()] == []
    compiled = LOCALE / language / "LC_MESSAGES" / "django.mo"
    assert (
        compiled.stat().st_mtime
        >= (LOCALE / language / "LC_MESSAGES" / "django.po").stat().st_mtime - 1
    )


PUBLIC_PAGES = ["/{}/", "/{}/newsletter/", "/{}/newsletter/thanks/", "/{}/preferences/"]


@pytest.mark.django_db
def test_a_first_time_visitor_is_told_that_only_functional_cookies_are_used(client):
    first = client.get("/sv/")
    assert "Den här webbplatsen använder bara funktionella kakor" in first.content.decode()
    assert first.cookies["cookie_notice_seen"]["httponly"]
    again = client.get("/sv/newsletter/")
    assert b"cookie-notice" not in again.content
    assert "cookie_notice_seen" not in again.cookies


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["sv", "nb", "en"])
def test_public_pages_store_nothing_but_functional_cookies(client, language):
    for page in PUBLIC_PAGES:
        response = client.get(page.format(language))
        assert response.status_code == 200, page
        assert set(response.cookies) <= {"cookie_notice_seen", "csrftoken"}, page


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["sv", "nb", "en"])
def test_public_pages_make_no_third_party_requests(client, language):
    # Nothing that a browser would fetch from elsewhere: scripts, styles, images, fonts, frames.
    fetched = re.compile(r'<(script|link|img|iframe|source)\b[^>]*(src|href)="([^"]+)"')
    for page in PUBLIC_PAGES:
        html = client.get(page.format(language)).content.decode()
        assert "<script" not in html, page
        for _tag, _attr, url in fetched.findall(html):
            assert url.startswith("/"), (page, url)
