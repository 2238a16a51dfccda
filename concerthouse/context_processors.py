from django.conf import settings
from django.urls import translate_url
from django.utils.translation import get_language_info


def house(request):
    """The house's name and contact, and this page in each language, for every public page."""
    return {
        "house_name": settings.HOUSE_NAME,
        "house_contact_email": settings.HOUSE_CONTACT_EMAIL,
        "language_links": [
            (code, get_language_info(code)["name_local"], translate_url(request.path, code))
            for code, _name in settings.LANGUAGES
        ],
    }
