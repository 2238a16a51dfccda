from django.conf import settings


def house(request):
    """The house's name and contact, shown on every public page."""
    return {
        "house_name": settings.HOUSE_NAME,
        "house_contact_email": settings.HOUSE_CONTACT_EMAIL,
    }
