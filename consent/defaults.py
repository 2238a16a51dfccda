"""The purposes every house has, created after every `migrate` (and after a test flush).

Each entry: code, kind, staff name, {language: (checkbox text, notice text)}. These are version 1 of
each wording; a house changes a wording by publishing a new version in the admin, never by editing
this file, because the ledger points at the versions people saw.
"""

# Houses add their own newsletter lists in the admin; "news" is a first one so that the signup
# form has a box on a fresh install.
PURPOSES = [
    (
        "news",
        "newsletter",
        "Concert newsletter",
        {
            "sv": (
                "Nyhetsbrev om konserter",
                "Nyheter om våra konserter och vårt program, ungefär en gång i månaden. Vi "
                "använder din e-postadress bara till det här utskicket. Du kan avregistrera dig "
                "när som helst via länken i varje utskick.",
            ),
            "nb": (
                "Nyhetsbrev om konserter",
                "Nyheter om konsertene og programmet vårt, omtrent én gang i måneden. Vi bruker "
                "e-postadressen din bare til denne utsendelsen. Du kan melde deg av når som helst "
                "via lenken i hver utsendelse.",
            ),
            "en": (
                "Concert newsletter",
                "News about our concerts and programme, about once a month. We use your email "
                "address for this mailing only. You can unsubscribe at any time through the link "
                "in every email.",
            ),
        },
    ),
    (
        "offers",
        "offers",
        "Offers",
        {
            "sv": (
                "Erbjudanden",
                "Erbjudanden om biljetter och abonnemang per e-post. Du kan återkalla ditt "
                "samtycke när som helst.",
            ),
            "nb": (
                "Tilbud",
                "Tilbud på billetter og abonnement på e-post. Du kan trekke tilbake samtykket "
                "ditt når som helst.",
            ),
            "en": (
                "Offers",
                "Offers on tickets and season subscriptions by email. You can withdraw your "
                "consent at any time.",
            ),
        },
    ),
    (
        "surveys",
        "surveys",
        "Audience surveys",
        {
            "sv": (
                "Publikundersökningar",
                "Inbjudningar per e-post att svara på frågor om dina konsertbesök. Det är "
                "frivilligt att svara.",
            ),
            "nb": (
                "Publikumsundersøkelser",
                "Invitasjoner på e-post til å svare på spørsmål om konsertbesøkene dine. Det er "
                "frivillig å svare.",
            ),
            "en": (
                "Audience surveys",
                "Invitations by email to answer questions about your concert visits. Answering "
                "is voluntary.",
            ),
        },
    ),
    (
        "ad-matching",
        "ad_matching",
        "Ads on social media (custom audiences)",
        {
            "sv": (
                "Annonser i sociala medier",
                "Vi får lämna en envägskrypterad (hashad) version av din e-postadress och ditt "
                "telefonnummer till Meta (Facebook, Instagram) och Google, så att våra annonser "
                "kan visas för dig där. Listan används bara om plattformen kan matcha tillräckligt "
                "många personer. Du kan återkalla samtycket när som helst.",
            ),
            "nb": (
                "Annonser i sosiale medier",
                "Vi kan gi en enveis kryptert (hashet) versjon av e-postadressen og "
                "telefonnummeret ditt til Meta (Facebook, Instagram) og Google, slik at annonsene "
                "våre kan vises for deg der. Listen brukes bare hvis plattformen kan matche et "
                "stort nok antall personer. Du kan trekke tilbake samtykket når som helst.",
            ),
            "en": (
                "Ads on social media",
                "We may give Meta (Facebook, Instagram) and Google a one-way hashed version of "
                "your email address and phone number, so that our ads can be shown to you there. "
                "The list is used only if the platform can match enough people. You can withdraw "
                "your consent at any time.",
            ),
        },
    ),
    (
        "open-tracking",
        "open_tracking",
        "Email open tracking",
        {
            "sv": (
                "Mät när jag öppnar e-post",
                "Våra utskick får innehålla en liten bild som talar om för oss datum och antal "
                "gånger du öppnar dem, så att vi kan göra dem bättre. Utan ditt samtycke skickar "
                "vi inga sådana bilder till dig.",
            ),
            "nb": (
                "Mål når jeg åpner e-post",
                "Utsendelsene våre kan inneholde et lite bilde som forteller oss dato og antall "
                "ganger du åpner dem, slik at vi kan gjøre dem bedre. Uten samtykket ditt sender "
                "vi deg ingen slike bilder.",
            ),
            "en": (
                "Measure when I open emails",
                "Our emails may contain a tiny image that tells us the date and number of times "
                "you open them, so that we can improve them. Without your consent we send you no "
                "such image.",
            ),
        },
    ),
    (
        "accessibility",
        "accessibility",
        "Accessibility needs (explicit consent, Art. 9(2)(a))",
        {
            "sv": (
                "Uppgifter om tillgänglighet",
                "Vi sparar att du behöver till exempel rullstolsplats eller ledsagarplats, så att "
                "vi kan ordna din plats. Uppgiften ses bara av biljettkontoret och "
                "dataskyddsombudet och raderas när säsongen är slut. Du kan återkalla samtycket "
                "när som helst.",
            ),
            "nb": (
                "Opplysninger om tilrettelegging",
                "Vi lagrer at du trenger for eksempel rullestolplass eller ledsagerplass, slik at "
                "vi kan ordne plassen din. Opplysningen ses bare av billettkontoret og "
                "personvernombudet og slettes når sesongen er over. Du kan trekke tilbake "
                "samtykket når som helst.",
            ),
            "en": (
                "Accessibility needs",
                "We record that you need, for example, a wheelchair place or a companion seat, so "
                "that we can arrange your seat. Only the box office and the data protection "
                "officer see it, and it is deleted when the season ends. You can withdraw your "
                "consent at any time.",
            ),
        },
    ),
]


def ensure_default_purposes(apps) -> None:
    """Create any default purpose or version-1 wording that is missing; never changes one."""
    Purpose = apps.get_model("consent", "Purpose")
    NoticeVersion = apps.get_model("consent", "NoticeVersion")
    for position, (code, kind, name, texts) in enumerate(PURPOSES):
        purpose, _created = Purpose.objects.get_or_create(
            code=code, defaults={"kind": kind, "name": name, "position": position}
        )
        for language, (label, text) in texts.items():
            NoticeVersion.objects.get_or_create(
                purpose=purpose,
                language=language,
                version=1,
                defaults={"label": label, "text": text},
            )
