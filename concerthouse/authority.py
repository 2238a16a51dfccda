"""The supervisory authority of the house's country: where a person may complain (Art. 77)."""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Authority:
    name: str
    website: str
    address: str


AUTHORITIES = {
    "SE": Authority(
        name="Integritetsskyddsmyndigheten (IMY)",
        website="https://www.imy.se",
        address="Box 8114, 104 20 Stockholm",
    ),
    "NO": Authority(
        name="Datatilsynet",
        website="https://www.datatilsynet.no",
        address="Postboks 458 Sentrum, 0105 Oslo",
    ),
}


def supervisory_authority() -> Authority:
    return AUTHORITIES[settings.HOUSE_COUNTRY]
