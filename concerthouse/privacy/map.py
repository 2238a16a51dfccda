"""The personal-data map: one declaration per model that holds personal data, many uses.

Every app declares its models in `<app>/personal_data.py` (discovered at start-up). A declaration says
which fields are personal and of what category, why they are processed and on which legal basis, how
to find one person's rows, what erasure does to them (delete, anonymise, or keep under a legal hold) and
how long they are kept. The admin's field visibility, the access and portability exports, erasure, the
retention purges and the generated privacy notice all read the map, so they cannot disagree, and
`undeclared_personal_models` finds any model that holds personal data and was left out.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.apps import apps as django_apps
from django.conf import settings
from django.db import models
from django.db.models import Q, QuerySet, TextChoices
from django.utils.functional import Promise, lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

# The model that stands for a person (as AUTH_USER_MODEL names the user): anything that points at
# it, directly or through other models, holds personal data. The app that owns it registers how to
# find and hold a person (concerthouse.privacy.person).
PERSON_MODEL = settings.PRIVACY_PERSON_MODEL.lower()


class Category(TextChoices):
    CONTACT = "contact", _("Contact details")
    IDENTITY = "identity", _("National identity number")
    FINANCIAL = "financial", _("Bank account")
    HEALTH = "health", _("Health-related needs")
    BEHAVIOURAL = "behavioural", _("Activity and history")
    CONSENT_EVIDENCE = "consent_evidence", _("Consent evidence")
    ACCOUNTING = "accounting", _("Accounting records")


class LegalBasis(TextChoices):
    CONSENT = "consent", _("Consent (GDPR Art. 6(1)(a))")
    CONTRACT = "contract", _("Performance of a contract (GDPR Art. 6(1)(b))")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation (GDPR Art. 6(1)(c))")
    LEGITIMATE_INTERESTS = "legitimate_interests", _("Legitimate interests (GDPR Art. 6(1)(f))")
    EXPLICIT_CONSENT = "explicit_consent", _("Explicit consent (GDPR Art. 9(2)(a))")


class Subject(TextChoices):
    """The kinds of person the register holds (Art. 30(1)(c)); a person may be of several."""

    CUSTOMER = (
        "customer",
        _("Customers: people who hold or held a season subscription or bought from us"),
    )
    READER = (
        "reader",
        _("Newsletter readers: people who asked for our newsletters, offers or surveys"),
    )
    PROSPECT = "prospect", _("Prospects we met at fairs and meetings or in correspondence")
    REQUESTER = "requester", _("People who asked us about their personal data")
    # Whoever is none of the first three: a former reader, someone who wrote or called.
    OTHER = "other", _("Others we have been in contact with, such as former newsletter readers")


EVERYONE = tuple(Subject)


class Erasure(TextChoices):
    DELETE = "delete", _("Deleted")
    ANONYMISE = "anonymise", _("Anonymised")
    HOLD = "hold", _("Kept under a legal hold, then deleted")
    # The suppression list: what makes an erasure stick (Art. 17 and 21(3)) cannot itself be erased.
    KEEP = "keep", _("Kept as a one-way keyed hash, so that we never contact you again")


class RecipientKind(TextChoices):
    """How an entry of the processor register comes to hold people's data: what the map's flows
    (below) and the register's entries are matched by."""

    HOSTING = "hosting", _("Hosts our records of the categories listed")
    MAIL = "mail", _("Sends our email")
    TICKET_AGENT = "ticket_agent", _("Ticket agent")
    AD_PLATFORM = "ad_platform", _("Ad platform (custom audiences)")


@dataclass(frozen=True)
class Flow:
    """Rows of a declaration whose data went to a recipient outside the house: who holds whose
    data (Art. 15(1)(c), 19, 33). The per-person answer (`recipients.flows_of`) and the set-wise
    one (`recipients.people_reached`, a breach's affected people) both read these, so they cannot
    disagree.

    A flow names the kind of recipient; a flow with `code` also says which one (the ad platform
    of an export, the ticket agent of an order), as stored, and `code_of` turns a stored value
    into the code of the register's entry. A flow without `code` reaches every recipient of its
    kind (every mail processor the house sends through).
    """

    kind: RecipientKind
    at: str  # when the row's data went: a field (path) of the model, for a breach's window
    rows: Q | None = None  # which rows went; every row of the declaration when None
    code: str | Any | None = None  # a field (path) or an expression: which recipient, as stored
    code_of: Callable[[str], str] = str
    categories: tuple[Category, ...] = (Category.CONTACT,)  # what went with the row
    # Only one-way hashes went (an ad platform's custom audience): a notice to the recipient
    # names the person by the same hash of their address, `identifier(address)`, never in clear.
    hashed: bool = False
    identifier: Callable[[str], str] | None = None


@dataclass(frozen=True)
class Visibility:
    """Who may see a field of a special category, and whether they see it whole or masked."""

    permission: str
    masked: bool


# Categories that ordinary staff access does not reach (DESIGN.md, Roles): identity numbers and bank
# accounts are masked for finance and the DPO and revealed only through an audited action; health
# data is seen by box office and the DPO only. Everyone without the permission never sees the field.
RESTRICTED_CATEGORIES = {
    Category.IDENTITY: Visibility(permission="customers.reveal_identifiers", masked=True),
    Category.FINANCIAL: Visibility(permission="customers.reveal_identifiers", masked=True),
    Category.HEALTH: Visibility(permission="customers.view_health_data", masked=False),
}


@dataclass(frozen=True)
class LegalHold:
    """A statute that obliges the house to keep rows that erasure would otherwise remove."""

    statute: str | Promise
    # The last day one row must be kept: told to the person on erasure, applied by the purge.
    held_until: Callable[[models.Model], date]


@dataclass(frozen=True)
class Rule:
    """One retention rule: which rows are past their time at a moment `now`. The retention engine
    (retention/engine.py) purges them daily, forecasts them, and logs each rule's runs by `code`."""

    code: str  # stable across releases: the run log and the forecast are keyed by it
    label: str | Promise
    expired: Callable[[datetime], Q]


@dataclass(frozen=True)
class Retention:
    """How long rows are kept: told in the notice, applied by the retention engine.

    A declaration without rules keeps its rows as long as the rows they belong to (a cascade from
    the person or an order). On the person model, a rule purges whole people: every mapped row is
    erased as on an Art. 17 request, rows under a legal hold excepted.
    """

    description: str | Promise
    rules: tuple[Rule, ...] = ()
    # Work outside the database before rows are deleted, however they are reached (files on disk).
    before_delete: Callable[[QuerySet], None] | None = None
    # The people these rows hold at a moment, as a filter on the person model: no rule purges
    # their rows while they are held, as if they were restricted (a privacy request must stay
    # answerable, Art. 12, and the copy of their data downloadable until it expires).
    keeps_person: Callable[[datetime], Q] | None = None

    def expired(self, now: datetime) -> Q | None:
        """Rows past any of the rules at `now`, or None when no rule applies."""
        if not self.rules:
            return None
        condition = Q(pk__in=[])
        for rule in self.rules:
            condition |= rule.expired(now)
        return condition


@dataclass(frozen=True)
class Addressed:
    """Where a row holds a person's address, and when the row was made: a restored row made
    before the person's erasure is erased again; one made after it belongs to someone who wrote
    to us again, and stays."""

    address: str
    made_at: str


@dataclass(frozen=True)
class Processing:
    """One purpose a declaration's rows serve, on one legal basis, for the kinds of person named
    (Art. 13(1)(c)-(d), 30(1)(b)-(c)): the notice lists every one, the access report the ones
    that apply to the person who asks.

    A processing on legitimate interests names the interest (Art. 13(1)(d)); the notice and the
    report then show the right to object on its own (Art. 21(4)).
    """

    purpose: str | Promise
    legal_basis: LegalBasis
    applies_to: tuple[str, ...] = EVERYONE
    interest: str | Promise = ""
    # When the period differs from the declaration's (one row, several purposes).
    retention: str | Promise = ""
    # The categories of the declaration's fields this purpose uses; all of them when empty (a
    # newsletter needs the address, not the bank account).
    categories: tuple[str, ...] = ()
    # One line each, in words: what the processing covers one by one (each newsletter a consent
    # of its own). Called with None for the notice (all on offer), or with the person (theirs).
    items: Callable[[Any], list[str]] | None = None

    def __post_init__(self):
        if self.legal_basis == LegalBasis.LEGITIMATE_INTERESTS and not self.interest:
            raise ValueError(f"{self.purpose!s}: legitimate interests, but no interest named")


@dataclass(frozen=True)
class Declaration:
    model: type[models.Model]
    fields: dict[str, Category]
    purpose: str | Promise
    legal_basis: LegalBasis
    # The rows of the people in a queryset of customers, as a filter on this model.
    owned_by: Callable[[QuerySet], Q]
    erasure: Erasure
    retention: Retention
    # Erasure by anonymising sets these fields to these values (a callable is called once per run).
    anonymise: dict[str, Any] = field(default_factory=dict)
    legal_hold: LegalHold | None = None
    # Fields the person gave us themselves: what the portability export (Art. 20) carries.
    provided_by_person: frozenset[str] = frozenset()
    # Values from related rows that make an export readable, e.g. "notice__text": the wording of a
    # consent, not just its id. Exported, never erased through this declaration.
    export_related: tuple[str, ...] = ()
    # Who received these rows outside the house (Art. 15(1)(c), 19): (recipient code, when) pairs,
    # the codes matching entries of the processor register.
    disclosures: Callable[[QuerySet], Iterable[tuple[str, Any]]] | None = None
    # How a row leads to its person, for questions about many people at once (a breach's
    # affected set): (path on this model, field of the person model) pairs, any of which links.
    # The reverse of `owned_by`; a model whose rows cannot be linked (a keyed hash) has none.
    person: tuple[tuple[str, str], ...] = (("customer", "pk"),)
    # When a row was made, so that a breach of a window counts only rows that existed in it.
    made_at: str | None = None
    # Which of these rows went to recipients outside the house, and to which kind.
    flows: tuple[Flow, ...] = ()
    # Rectification (Art. 16): the fields a correction may change, and the service that changes
    # them with its validation and audit, called as rectify(row, changes, actor).
    rectifiable: tuple[str, ...] = ()
    rectify: Callable[[models.Model, dict[str, Any], Any], Any] | None = None
    # Rows an erasure leaves as they are for now, as a filter on this model: an erasure request
    # still owed its answer needs the address to send it, and forgets it once answered.
    erasure_spares: Q | None = None
    # Rows that hold the person's address rather than a link to them, and so can outlive the
    # person's own row: after a restore, the erasure journal finds them by the address's hash.
    addressed: Addressed | None = None
    # The purposes of these rows, each with its basis and the kinds of person it concerns; without
    # them, `purpose` and `legal_basis` are the one processing, for `subjects`.
    processing: tuple[Processing, ...] = ()
    subjects: tuple[str, ...] = EVERYONE
    # Related values that name a row of another table in words, by field: "series" shown as
    # "series__name" in the access report; and as a natural key, "series__code", in the
    # portability export, which carries no internal ids.
    words: dict[str, str] = field(default_factory=dict)
    natural_keys: dict[str, str] = field(default_factory=dict)
    # How to put a stored value in words where its field has no choices (codes in one column).
    describe: dict[str, Callable[[Any], str]] = field(default_factory=dict)
    # Profiling these rows stand for (Art. 15(1)(h)), in words: called with None for the notice,
    # with the person's rows (as exported) for the access report.
    profiling: Callable[[list[dict] | None], str] | None = None

    @property
    def label(self) -> str:
        return self.model._meta.label_lower

    def rows_of(self, people: QuerySet) -> QuerySet:
        return self.model._default_manager.filter(self.owned_by(people))

    def fields_in(self, *categories: Category) -> list[str]:
        return [name for name, category in self.fields.items() if category in categories]

    @property
    def categories(self) -> set[str]:
        return set(self.fields.values())

    def of_person(self, person) -> Q:
        """One person's rows, as a filter on this model, through the links of `person` (which
        concerthouse.privacy.recipients follows the other way, for many people at once)."""
        condition = Q(pk__in=[])
        for path, person_field in self.person:
            condition |= Q(**{path: getattr(person, person_field)})
        return condition


_declarations: dict[str, Declaration] = {}
_exemptions: dict[str, str] = {}
_exempt_retentions: dict[str, Retention] = {}
# Rules another app adds to a model it does not own: the app that knows what makes the rows
# expire declares the rule (newsletters knows which people only an unconfirmed signup brought in).
_added_rules: dict[str, list[Rule]] = {}
# Purposes another app adds to a model it does not own: the person's contact details serve each
# app's purpose (the contract, each newsletter), and the app that knows the purpose declares it.
_added_processing: dict[str, list[Processing]] = {}


def register(declaration: Declaration) -> Declaration:
    unknown = set(declaration.fields) - {f.name for f in declaration.model._meta.get_fields()}
    if unknown:
        raise ValueError(f"{declaration.label} declares fields it does not have: {sorted(unknown)}")
    unnamed = [
        name
        for name in declaration.provided_by_person
        if declaration.model._meta.get_field(name).is_relation
        and name not in declaration.natural_keys
    ]
    if unnamed:
        # The portability export carries no internal ids: a related row goes by its natural key.
        raise ValueError(f"{declaration.label}: {sorted(unnamed)} need natural_keys")
    if declaration.erasure == Erasure.HOLD and declaration.legal_hold is None:
        raise ValueError(f"{declaration.label} is kept under a hold but names no statute")
    if declaration.erasure == Erasure.HOLD:
        # Rows the law makes the house keep must outlive the person's own row.
        cascading = [
            f.name
            for f in declaration.model._meta.concrete_fields
            if f.is_relation
            and _related_label(f) == PERSON_MODEL
            and f.remote_field.on_delete is models.CASCADE
        ]
        if cascading:
            raise ValueError(
                f"{declaration.label} is kept under a hold, but deleting the person would delete "
                f"it through {cascading}: use on_delete=SET_NULL and keep what the statute needs"
            )
    _declarations[declaration.label] = declaration
    return declaration


def exempt(label: str, *, reason: str, retention: Retention | None = None) -> None:
    """Leave a model that looks personal out of the map, saying why (shown in the record). An
    exempt model may still have a retention, such as files deleted after a time."""
    _exemptions[label.lower()] = reason
    if retention is not None:
        _exempt_retentions[label.lower()] = retention


def add_rules(model: type[models.Model], *rules: Rule) -> None:
    """Add retention rules to the rows of another app's model."""
    added = _added_rules.setdefault(model._meta.label_lower, [])
    added += [rule for rule in rules if rule not in added]


def add_processing(model: type[models.Model], *processing: Processing) -> None:
    """Add purposes to the rows of another app's model."""
    added = _added_processing.setdefault(model._meta.label_lower, [])
    added += [item for item in processing if item not in added]


def processings(declaration: Declaration) -> list[Processing]:
    """Every purpose the declaration's rows serve: its own and those other apps added."""
    own = list(declaration.processing) or [
        Processing(
            purpose=declaration.purpose,
            legal_basis=declaration.legal_basis,
            applies_to=declaration.subjects,
        )
    ]
    return own + _added_processing.get(declaration.label, [])


def categories_of(declaration: Declaration, processing: Processing) -> set[str]:
    """The categories of data a processing of these rows uses."""
    declared = set(declaration.fields.values())
    return declared & set(processing.categories) if processing.categories else declared


def processings_for(declaration: Declaration, subjects: set[str]) -> list[Processing]:
    """The purposes that concern a person of these kinds; all of them when none does (the rows
    exist, so some purpose brought them: saying all is truer than saying none)."""
    every = processings(declaration)
    return [p for p in every if set(p.applies_to) & subjects] or every


def declarations() -> list[Declaration]:
    return list(_declarations.values())


def declaration_for(model: type[models.Model]) -> Declaration | None:
    return _declarations.get(model._meta.label_lower)


def choice_labels(label: str, field: str) -> dict[Any, Any]:
    """The labels of a declared field's choices, by value: what a code means in words."""
    model = _declarations[label.lower()].model
    return dict(model._meta.get_field(field).flatchoices)


# --- Periods in words ---------------------------------------------------------------------------
# Storage periods are told as the settings make them, in the reader's language, never "a set time".
def years(count: int) -> str:
    return ngettext("%(count)d year", "%(count)d years", count) % {"count": count}


def months(count: int) -> str:
    return ngettext("%(count)d month", "%(count)d months", count) % {"count": count}


def days(count: int) -> str:
    return ngettext("%(count)d day", "%(count)d days", count) % {"count": count}


def in_words(function: Callable[[], str]) -> Promise:
    """A text computed when shown: from the settings of that moment, in the active language."""
    return lazy(function, str)()


def retention_of(model: type[models.Model]) -> Retention | None:
    label = model._meta.label_lower
    if label in _declarations:
        return _declarations[label].retention
    return _exempt_retentions.get(label)


def retention_rules() -> list[tuple[type[models.Model], Rule]]:
    """Every retention rule, declared or exempt, with its model, in a stable order."""
    found = [(d.model, rule) for d in _declarations.values() for rule in d.retention.rules]
    for label, retention in _exempt_retentions.items():
        found += [(django_apps.get_model(label), rule) for rule in retention.rules]
    for label, rules in _added_rules.items():
        found += [(django_apps.get_model(label), rule) for rule in rules]
    return sorted(found, key=lambda pair: pair[1].code)


def field_visibility(model: type[models.Model], user) -> dict[str, str]:
    """For each restricted field of `model`: "hidden", "masked" or "visible" to `user`."""
    declaration = declaration_for(model)
    if declaration is None:
        return {}
    result = {}
    for name, category in declaration.fields.items():
        rule = RESTRICTED_CATEGORIES.get(category)
        if rule is None:
            continue
        if not user.has_perm(rule.permission):
            result[name] = "hidden"
        else:
            result[name] = "masked" if rule.masked else "visible"
    return result


# --- Completeness --------------------------------------------------------------------------------
# Field names that mean personal data wherever they appear. A plain `name` is not among them: lists,
# seasons and concerts have names too.
PERSONAL_FIELD_NAME = re.compile(
    r"(^|_)(email|e_mail|phone|mobile|first_name|last_name|full_name|given_name|family_name|surname"
    r"|address|street|postal_code|postcode|zip_code|birth|birthday|national_id|personnummer"
    r"|fodselsnummer|bank_account|iban|ip)(_|$)"
)
PERSONAL_FIELD_TYPES = (models.EmailField, models.GenericIPAddressField)


def _related_label(field) -> str:
    target = field.remote_field.model
    return target.lower() if isinstance(target, str) else target._meta.label_lower


def _looks_personal_by_field(model) -> bool:
    return any(
        isinstance(f, PERSONAL_FIELD_TYPES) or PERSONAL_FIELD_NAME.search(f.name)
        for f in model._meta.get_fields()
        if f.concrete and not f.is_relation
    )


def undeclared_personal_models(
    candidates: Iterable[type[models.Model]] | None = None,
) -> list[str]:
    """Labels of models that hold personal data but are neither declared nor exempted.

    A model holds personal data when it has a personal-looking field, or a relation to the person
    model or to another model that (transitively) points at it.
    """
    models_ = list(django_apps.get_models() if candidates is None else candidates)
    person_linked = {PERSON_MODEL}
    changed = True
    while changed:  # a fixpoint: Payment -> Order -> Customer makes Payment personal too
        changed = False
        for model in models_:
            label = model._meta.label_lower
            if label in person_linked or label in _exemptions:
                continue
            relations = [f for f in model._meta.get_fields() if f.concrete and f.is_relation]
            if any(_related_label(f) in person_linked for f in relations):
                person_linked.add(label)
                changed = True
    missing = []
    for model in models_:
        label = model._meta.label_lower
        if label in _declarations or label in _exemptions or model._meta.abstract:
            continue
        if label in person_linked or _looks_personal_by_field(model):
            missing.append(label)
    return sorted(missing)
