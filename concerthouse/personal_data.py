from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import AuditEntry
from .privacy.map import (
    PERSON_MODEL,
    Category,
    Declaration,
    Erasure,
    LegalBasis,
    Retention,
    exempt,
    register,
)


def _entries_about(people):
    return Q(target_type=PERSON_MODEL, target_id__in=people.values("public_id"))


register(
    Declaration(
        model=AuditEntry,
        fields={
            "at": Category.BEHAVIOURAL,
            "action": Category.BEHAVIOURAL,
            "purpose": Category.BEHAVIOURAL,
            "target_id": Category.BEHAVIOURAL,
        },
        purpose=_("Accountability for staff access to and changes of personal data"),
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        owned_by=_entries_about,
        person=(("target_id", "public_id"),),
        made_at="at",
        # The history of who did what stays; only the link to the person goes, and the entry says so.
        erasure=Erasure.ANONYMISE,
        anonymise={"target_id": None, "redacted_at": timezone.now},
        retention=Retention(
            _("Kept as long as the register; the link to you is removed when you are erased.")
        ),
    )
)

exempt(
    "auth.user",
    reason="Staff accounts: employee data, handled under the house's personnel policy, "
    "not part of the audience register.",
)

# django-axes: staff sign-in failures. Staff data, like the accounts; only the failures it counts
# are kept (AXES_DISABLE_ACCESS_LOG), and they go when the lock-out time has passed.
for _label in ("axes.accessattempt", "axes.accesslog", "axes.accessfailurelog"):
    exempt(
        _label,
        reason="Failed staff sign-ins, counted to lock an account out: employee data under the "
        "house's personnel policy, kept until the lock-out ends.",
    )

exempt(
    "concerthouse.erasurejournalentry",
    reason="The record that an erasure happened, as keyed hashes from which no one can be read "
    "back; kept so that restoring a backup can never bring an erased person back (Art. 17).",
)
