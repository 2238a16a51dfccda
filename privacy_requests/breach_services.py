"""Personal-data breaches (Art. 33, 34): the register, the people affected, the 72-hour clock, the
notification to the authority and the messages to the people.

Every write checks the DPO's permission and leaves an event on the breach's timeline and an entry
in the audit log; nothing is ever deleted. Who is affected is computed from the personal-data map's
flows and links (concerthouse/privacy/recipients.py) in set-based statements, and stored, so that
the counts can be shown again after people have been erased, without anyone being named.
"""

import logging
import smtplib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from concerthouse.audit import audit_record
from concerthouse.authority import supervisory_authority
from concerthouse.bulk import insert_select
from concerthouse.email_address import normalise_email
from concerthouse.privacy.map import Category, RecipientKind, declarations
from concerthouse.privacy.person import people as all_people
from concerthouse.privacy.recipients import (
    category_order,
    flow_rows,
    flows_of_kind,
    holding,
    people_reached,
    people_with_rows,
    person_keys,
    record_counts,
    require_recipient,
    union,
)
from concerthouse.queue import enqueue_on_commit

from .models import (
    AffectedPerson,
    AuthorityNotification,
    Breach,
    BreachEvent,
    BreachScope,
    Processor,
)

logger = logging.getLogger(__name__)

MANAGE = "privacy_requests.manage_breaches"
# A claimed message whose worker has been gone longer than any task may run was perhaps sent: it
# is marked failed, never sent again.
CLAIM_ABANDONED_AFTER = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT * 2)

# The facts a correction may change; each change is an event with the value before and after.
CORRECTABLE = (
    "title",
    "description",
    "aware_at",
    "discovered",
    "discovery_details",
    "natures",
    "processor",
    "system",
    "started_at",
    "ended_at",
    "data_categories",
    "consequences",
    "measures_taken",
    "measures_proposed",
)


def _require(actor) -> None:
    if actor is None or not actor.has_perm(MANAGE):
        raise PermissionDenied


def _event(breach: Breach, action: str, *, actor, note: str = "", changes=None, detail=None):
    """One line of the timeline and one audit entry (the audit entry names fields, never values)."""
    BreachEvent.objects.create(
        breach=breach, action=action, actor=actor, note=note, changes=changes or {}
    )
    audit_record(action=f"breach.{action}", actor=actor, target=breach, detail=detail or {})


def _locked(breach: Breach) -> Breach:
    return Breach.objects.select_for_update().get(pk=breach.pk)


def systems() -> list[tuple[str, str]]:
    """The house's own systems a breach can concern: each app of the personal-data map."""
    labels = sorted({d.model._meta.app_label for d in declarations()})
    return [(label, str(apps.get_app_config(label).verbose_name)) for label in labels]


def _check_facts(values: dict) -> None:
    errors = {}
    now = timezone.now()
    if values.get("aware_at") and values["aware_at"] > now:
        errors["aware_at"] = [_("The moment you became aware of it cannot be in the future.")]
    natures = values.get("natures")
    if natures is not None and (not natures or set(natures) - set(Breach.Nature.values)):
        errors["natures"] = [
            _("Say what was breached: confidentiality, integrity or availability.")
        ]
    categories = values.get("data_categories")
    if categories is not None and set(categories) - set(Category.values):
        errors["data_categories"] = [_("Choose categories of the personal-data map.")]
    if values.get("system") and values["system"] not in dict(systems()):
        errors["system"] = [_("Choose one of the systems listed.")]
    started, ended = values.get("started_at"), values.get("ended_at")
    if started and ended and ended < started:
        errors["ended_at"] = [_("The end of the window comes before its start.")]
    if errors:
        raise ValidationError(errors)


# --- The register ---------------------------------------------------------------------------------
@transaction.atomic
def breach_record(*, actor, **facts) -> Breach:
    """A new entry of the register (Art. 33(5)), from the moment the house became aware of it."""
    _require(actor)
    unknown = set(facts) - set(CORRECTABLE)
    if unknown:
        raise TypeError(f"not facts of a breach: {sorted(unknown)}")
    if not facts.get("title", "").strip() or not facts.get("description", "").strip():
        raise ValidationError({"description": [_("Say what happened.")]})
    _check_facts({"natures": [], **facts})
    breach = Breach.objects.create(created_by=actor, reference=uuid.uuid4().hex[:20], **facts)
    # Numbered per year of awareness, from the primary key: unique without a counter to lock.
    breach.reference = f"{timezone.localtime(breach.aware_at):%Y}-{breach.pk:04d}"
    breach.save(update_fields=["reference"])
    _event(breach, "recorded", actor=actor, detail={"fields": sorted(facts)})
    return breach


def _value(breach: Breach, name: str):
    value = getattr(breach, f"{name}_id" if name == "processor" else name)
    return value.isoformat() if isinstance(value, datetime) else value


@transaction.atomic
def breach_correct(*, breach: Breach, actor, note: str = "", **changes) -> Breach:
    """Correct or complete the facts: a new event with each field's value before and after."""
    _require(actor)
    unknown = set(changes) - set(CORRECTABLE)
    if unknown:
        raise TypeError(f"not facts of a breach: {sorted(unknown)}")
    breach = _locked(breach)
    _check_facts(changes)
    before = {name: _value(breach, name) for name in changes}
    for name, value in changes.items():
        setattr(breach, name, value)
    after = {name: _value(breach, name) for name in changes}
    changed = {name: [before[name], after[name]] for name in changes if before[name] != after[name]}
    if not changed:
        return breach
    breach.save(update_fields=list(changes))
    _event(
        breach,
        "corrected",
        actor=actor,
        note=note,
        changes=changed,
        detail={"fields": sorted(changed)},
    )
    return breach


@transaction.atomic
def breach_assess_risk(*, breach: Breach, actor, risk: str, reasoning: str) -> Breach:
    """The risk to people, with its reasoning: unlikely (no notification, Art. 33(1)), a risk
    (the authority is notified) or a high risk (the people are told too, Art. 34)."""
    _require(actor)
    if risk not in Breach.Risk.values or risk == Breach.Risk.UNASSESSED:
        raise ValidationError({"risk": [_("Choose the risk.")]})
    if not reasoning.strip():
        raise ValidationError({"reasoning": [_("Give the reasoning behind the risk you chose.")]})
    breach = _locked(breach)
    breach.risk, breach.risk_reasoning = risk, reasoning.strip()
    breach.save(update_fields=["risk", "risk_reasoning"])
    _event(breach, "risk_assessed", actor=actor, note=breach.risk_reasoning, changes={"risk": risk})
    return breach


@transaction.atomic
def breach_decide_people(*, breach: Breach, actor, decision: str, reason: str) -> Breach:
    """Whether the people affected are told (Art. 34(1)) or why not (Art. 34(3)), and why."""
    _require(actor)
    if decision not in Breach.PeopleDecision.values or not decision:
        raise ValidationError({"decision": [_("Choose whether the people are told.")]})
    if not reason.strip():
        raise ValidationError({"reason": [_("Give the reason for the decision.")]})
    breach = _locked(breach)
    breach.people_decision, breach.people_decision_reason = decision, reason.strip()
    breach.save(update_fields=["people_decision", "people_decision_reason"])
    _event(
        breach,
        "people_decision",
        actor=actor,
        note=breach.people_decision_reason,
        changes={"decision": decision},
    )
    return breach


@transaction.atomic
def breach_close(*, breach: Breach, actor, note: str) -> Breach:
    _require(actor)
    if not note.strip():
        raise ValidationError({"note": [_("Say why the breach can be closed.")]})
    breach = _locked(breach)
    if breach.notification_owed:
        raise ValidationError(
            _("Notify the authority first, or record the assessment that a risk is unlikely.")
        )
    if breach.affected.filter(
        notice__in=[AffectedPerson.Notice.QUEUED, AffectedPerson.Notice.SENDING]
    ).exists():
        raise ValidationError(_("Messages to the people affected are still being sent."))
    breach.closed_at = timezone.now()
    breach.save(update_fields=["closed_at"])
    _event(breach, "closed", actor=actor, note=note.strip())
    return breach


# --- Who is affected --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    """What the DPO says the breach reached. Every part given narrows it: a recipient of the
    register (the people whose data it held), a system of the house's own (the people with rows
    in it), data categories, a window, the addresses a processor supplied."""

    processor: Processor | None = None
    system: str = ""
    categories: tuple[str, ...] = ()
    since: datetime | None = None  # only data passed on from this moment (a recipient)
    until: datetime | None = None  # data held by the end of the breach's window
    addresses: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.processor is None and not self.system and self.addresses is None:
            raise ValidationError(
                _("Say what the breach reached: a recipient, a system or a list of addresses.")
            )


@dataclass
class Affected:
    """The outcome of a scope: the people (a queryset of primary keys) and their records."""

    keys: QuerySet
    people: int
    categories: dict[str, int]
    records: dict[str, int]
    addresses_supplied: int | None = None
    addresses_found: int | None = None

    @property
    def categories_display(self) -> list[tuple[str, int]]:
        return [
            (str(Category(c).label), self.categories[c]) for c in category_order(self.categories)
        ]


def _system_labels(system: str) -> list[str]:
    return [d.label for d in declarations() if d.model._meta.app_label == system]


def _normalised(addresses) -> list[str]:
    found = []
    for address in addresses:
        try:
            found.append(normalise_email(address))
        except ValidationError:
            continue
    return sorted(set(found))


def _linked(declaration) -> Q:
    """Rows that still lead to a person (an erased person's held order leads to no one)."""
    condition = Q(pk__in=[])
    for path, _field in declaration.person:
        condition |= Q(**{f"{path}__isnull": False})
    return condition


def _parts(scope: Scope):
    """(declaration, rows, categories) of the records the scope reaches, before narrowing to
    people: a recipient's flows, or a hosting recipient's or a system's declarations."""
    wanted = set(scope.categories) or None
    parts = []
    processor = scope.processor
    if processor is not None and processor.kind != RecipientKind.HOSTING:
        code = processor.recipient_code or None
        for declaration, flow in flows_of_kind(processor.kind, wanted):
            rows = flow_rows(declaration, flow, code=code, until=scope.until, since=scope.since)
            rows = rows.filter(_linked(declaration))
            categories = tuple(c for c in flow.categories if wanted is None or c in wanted)
            parts.append((declaration, rows, categories))
        return parts
    hosted = set(processor.data_categories) if processor is not None else None
    labels = set(_system_labels(scope.system)) if scope.system else None
    for declaration in declarations():
        if not declaration.person or (labels is not None and declaration.label not in labels):
            continue
        categories = declaration.categories
        if hosted is not None:
            categories &= hosted
        if wanted is not None:
            categories &= wanted
        if not categories:
            continue
        rows = declaration.model._default_manager.filter(_linked(declaration))
        if scope.until is not None and declaration.made_at is not None:
            rows = rows.filter(**{f"{declaration.made_at}__lte": scope.until})
        # A row counts in each category it holds data of.
        for category in category_order(categories):
            parts.append((declaration, rows.filter(holding(declaration, {category})), (category,)))
    return parts


def _keys(scope: Scope, parts) -> tuple[QuerySet, bool]:
    """The primary keys of the people in scope, and whether the recipient's or system's own set
    was narrowed further (then records are counted per person)."""
    sets = []
    processor = scope.processor
    if processor is not None and processor.kind != RecipientKind.HOSTING:
        # The people the recipient's flow rows lead to: what people_reached computes, from the
        # rows `_parts` has already resolved (each agent's stored name looked up once).
        sets.append(union([key for d, rows, _c in parts for key in person_keys(d, rows)]))
    elif processor is not None:
        sets.append(
            people_reached(
                kind=processor.kind,
                code=processor.recipient_code or None,
                hosted=processor.data_categories,
                categories=scope.categories or None,
                until=scope.until,
                since=scope.since,
            )
        )
    if scope.system:
        sets.append(
            people_with_rows(
                categories=scope.categories or None,
                labels=_system_labels(scope.system),
                until=scope.until,
            )
        )
    if scope.addresses is not None:
        sets.append(
            all_people()
            .filter(email__in=_normalised(scope.addresses))
            .order_by()
            .values_list("pk", flat=True)
        )
    first, *rest = sets
    if not rest:
        return first, scope.addresses is not None
    return first.intersection(*rest), True


def breach_scope_count(*, scope: Scope) -> Affected:
    """Who the scope reaches and how many of their records, per category: computed by the
    database, nothing written. Shown to the DPO before anything is recorded."""
    parts = _parts(scope)
    keys, narrowed = _keys(scope, parts)
    # Without an address list or a second part, the records are the scope's own rows; with them,
    # only the rows of the people in the intersection.
    categories, records = record_counts(parts=parts, keys=keys if narrowed else None)
    affected = Affected(keys=keys, people=keys.count(), categories=categories, records=records)
    if scope.addresses is not None:
        supplied = _normalised(scope.addresses)
        affected.addresses_supplied = len(supplied)
        affected.addresses_found = all_people().filter(email__in=supplied).count()
    return affected


@transaction.atomic
def breach_scope_record(*, breach: Breach, actor, scope: Scope) -> BreachScope:
    """Store the people the scope reaches in the breach's affected set: one INSERT ... SELECT,
    each person once however many scopes find them. A breach's set only grows: people found by an
    earlier scope stay (they may have been told), and an erased person stays counted, unnamed."""
    _require(actor)
    breach = _locked(breach)
    if not breach.is_open:
        raise ValidationError(_("The breach is closed."))
    parts = _parts(scope)
    keys, narrowed = _keys(scope, parts)
    record = BreachScope.objects.create(
        breach=breach,
        processor=scope.processor,
        system=scope.system,
        data_categories=list(scope.categories),
        since=scope.since,
        until=scope.until,
        people=0,
        added=0,
        created_by=actor,
    )
    first = not breach.scopes.filter(added__gt=0).exists()
    if first:
        new = keys
    else:
        # An anti-join (NOT EXISTS), not NOT IN: a million people already in the set must not
        # be looked up one by one.
        already = AffectedPerson.objects.filter(breach=breach, person=OuterRef("pk"))
        new = all_people().filter(pk__in=keys).exclude(Exists(already)).order_by()
        new = new.values_list("pk", flat=True)
    added = insert_select(
        AffectedPerson, new, columns=["person"], values={"breach": breach.pk, "scope": record.pk}
    )
    record.added = added
    record.people = added if first else keys.count()
    # The records of the people this scope added (a person found again by a wider scope is
    # counted once, by the scope that added them), so the breach's totals are their sum.
    if first and not narrowed:
        categories, records = record_counts(parts=parts)
    else:
        stored = AffectedPerson.objects.filter(scope=record).values("person")
        categories, records = record_counts(parts=parts, keys=stored)
    record.counts = {"categories": categories, "records": records}
    if scope.addresses is not None:
        supplied = _normalised(scope.addresses)
        record.addresses_supplied = len(supplied)
        record.addresses_found = all_people().filter(email__in=supplied).count()
    record.save(
        update_fields=["added", "people", "counts", "addresses_supplied", "addresses_found"]
    )
    _event(
        breach,
        "scope_recorded",
        actor=actor,
        changes={"people": record.people, "added": added, "categories": categories},
        detail={"people": record.people, "added": added},
    )
    return record


def breach_totals(breach: Breach) -> dict:
    """The breach's affected set as stored: people (the erased counted, unnamed), records per
    category summed over its scopes, and the messages by state."""
    categories: dict[str, int] = {}
    for scope in breach.scopes.all():
        for category, count in scope.counts.get("categories", {}).items():
            categories[category] = categories.get(category, 0) + count
    by_notice = dict(breach.affected.order_by().values_list("notice").annotate(n=Count("pk")))
    return {
        "people": sum(by_notice.values()),
        "erased": breach.affected.filter(person__isnull=True).count(),
        "categories": [(str(Category(c).label), categories[c]) for c in category_order(categories)],
        "notices": {state: by_notice.get(state, 0) for state in AffectedPerson.Notice.values},
    }


# --- The authority (Art. 33) ---------------------------------------------------------------------
def authority_text(breach: Breach) -> str:
    """The notification of Art. 33(3)(a)-(d), in the house's language, from the entry: ready to
    paste into IMY's or Datatilsynet's form."""
    totals = breach_totals(breach)
    with translation.override(settings.LANGUAGE_CODE):
        return render_to_string(
            "privacy_requests/breach/authority.txt",
            {
                "breach": breach,
                "house_name": settings.HOUSE_NAME,
                "organisation_number": settings.HOUSE_ORGANISATION_NUMBER,
                "contact": settings.HOUSE_CONTACT_EMAIL,
                "authority": supervisory_authority(),
                "natures": [
                    Breach.Nature(n).label for n in breach.natures if n in Breach.Nature.values
                ],
                "categories": [Category(c).label for c in category_order(breach.data_categories)],
                "totals": totals,
                "phase": breach.notifications.count() + 1,
                "late": breach.authority_notified_at is None and timezone.now() > breach.deadline,
                "zone": timezone.get_current_timezone_name(),
            },
        ).strip()


@transaction.atomic
def breach_notify_authority(
    *,
    breach: Breach,
    actor,
    sent_at: datetime,
    text: str,
    late_reason: str = "",
    reference: str = "",
) -> AuthorityNotification:
    """Record what was sent to the authority and when: the first notification, or a follow-up
    (Art. 33(4)). The first one after 72 hours needs the reasons for the delay (Art. 33(1))."""
    _require(actor)
    breach = _locked(breach)
    if not text.strip():
        raise ValidationError({"text": [_("Give the text that was sent.")]})
    if sent_at > timezone.now():
        raise ValidationError(
            {"sent_at": [_("The notification cannot have been sent in the future.")]}
        )
    if sent_at < breach.aware_at:
        raise ValidationError({"sent_at": [_("The notification cannot precede the awareness.")]})
    phase = breach.notifications.count() + 1
    late = phase == 1 and sent_at > breach.deadline
    if late and not late_reason.strip():
        raise ValidationError(
            {
                "late_reason": [
                    _(
                        "The notification was sent more than 72 hours after you became aware of "
                        "the breach: give the reasons for the delay (Art. 33(1))."
                    )
                ]
            }
        )
    notification = AuthorityNotification.objects.create(
        breach=breach,
        phase=phase,
        text=text.strip(),
        sent_at=sent_at,
        authority_reference=reference.strip(),
        recorded_by=actor,
    )
    if phase == 1:
        breach.authority_notified_at = sent_at
        breach.late_reason = late_reason.strip() if late else ""
        breach.save(update_fields=["authority_notified_at", "late_reason"])
    _event(
        breach,
        "authority_notified" if phase == 1 else "authority_follow_up",
        actor=actor,
        note=breach.late_reason if late else "",
        changes={"phase": phase, "sent_at": sent_at.isoformat(), "late": late},
        detail={"phase": phase, "late": late},
    )
    return notification


def breach_clock(now: datetime | None = None) -> list[Breach]:
    """Open breaches, those still owing the authority a notification first, by their deadline
    (overdue first); then the rest, newest first."""
    now = now or timezone.now()
    open_ = list(Breach.objects.filter(closed_at__isnull=True).select_related("processor"))
    owing = sorted((b for b in open_ if b.notification_owed), key=lambda b: b.deadline)
    rest = sorted(
        (b for b in open_ if not b.notification_owed), key=lambda b: b.aware_at, reverse=True
    )
    for breach in open_:
        breach.hours = breach.hours_left(now)
    return owing + rest


# --- The people (Art. 34) ----------------------------------------------------------------------------
MESSAGE_PARTS = ("happened", "consequences", "measures")


@transaction.atomic
def breach_set_message(*, breach: Breach, actor, texts: dict[str, dict[str, str]]) -> Breach:
    """The message to the people, in clear and plain words, in every language of the house: what
    happened, what it may mean for them, what the house does (Art. 34(2))."""
    _require(actor)
    errors = {}
    clean = {}
    for language, _name in settings.LANGUAGES:
        given = texts.get(language, {})
        clean[language] = {part: (given.get(part) or "").strip() for part in MESSAGE_PARTS}
        for part, value in clean[language].items():
            if not value:
                errors[f"{part}_{language}"] = [_("Write this part in every language.")]
    if errors:
        raise ValidationError(errors)
    breach = _locked(breach)
    breach.people_message = clean
    breach.save(update_fields=["people_message"])
    _event(breach, "message_written", actor=actor)
    return breach


@transaction.atomic
def breach_notices_queue(*, breach: Breach, actor) -> int:
    """Queue the message to every person of the affected set still in the register: one UPDATE.
    The erased are counted and never messaged. Repeating it queues only people added since."""
    _require(actor)
    breach = _locked(breach)
    if breach.people_decision != Breach.PeopleDecision.TELL:
        raise ValidationError(_("Decide first to tell the people affected (Art. 34(1))."))
    if not breach.people_message:
        raise ValidationError(_("Write the message to the people first, in every language."))
    require_recipient(RecipientKind.MAIL)
    owed = breach.affected.filter(notice=AffectedPerson.Notice.NOT_QUEUED)
    owed.filter(person__isnull=True).update(notice=AffectedPerson.Notice.SKIPPED)
    queued = owed.filter(person__isnull=False).update(notice=AffectedPerson.Notice.QUEUED)
    _event(
        breach,
        "messages_queued",
        actor=actor,
        changes={"queued": queued},
        detail={"queued": queued},
    )
    from .tasks import send_breach_notices_task

    enqueue_on_commit(send_breach_notices_task, breach.pk)
    return queued


class BreachMessages:
    """The message in each language, rendered once per language: the same words for everyone,
    so nothing of one person is in another's message."""

    def __init__(self, breach: Breach):
        self.breach = breach
        self._rendered: dict[str, tuple[str, str]] = {}

    def _render(self, language: str) -> tuple[str, str]:
        if language not in self._rendered:
            texts = (
                self.breach.people_message.get(language)
                or self.breach.people_message[settings.LANGUAGE_CODE]
            )
            with translation.override(language):
                subject = gettext("About your personal data: a breach at %(house)s") % {
                    "house": settings.HOUSE_NAME
                }
                body = render_to_string(
                    "privacy_requests/email/breach_person.txt",
                    {
                        "breach": self.breach,
                        "texts": texts,
                        "house_name": settings.HOUSE_NAME,
                        "contact": settings.HOUSE_CONTACT_EMAIL,
                        "authority": supervisory_authority(),
                        "natures": [
                            Breach.Nature(n).label
                            for n in self.breach.natures
                            if n in Breach.Nature.values
                        ],
                        "categories": [
                            Category(c).label for c in category_order(self.breach.data_categories)
                        ],
                    },
                )
            self._rendered[language] = (subject, body)
        return self._rendered[language]

    def message(self, *, address: str, language: str) -> EmailMessage:
        subject, body = self._render(language)
        return EmailMessage(
            subject=subject,
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[address],
            reply_to=[settings.HOUSE_CONTACT_EMAIL],
        )


def _claim(breach: Breach, size: int) -> list[tuple[int, str, str]]:
    """Claim up to `size` queued messages (SKIP LOCKED: workers never share one), committed
    before anything is sent: (row, address, language) of each. A person erased since is skipped."""
    with transaction.atomic():
        rows = list(
            AffectedPerson.objects.filter(breach=breach, notice=AffectedPerson.Notice.QUEUED)
            .order_by("pk")
            # Only the claimed rows are locked: an erased person's row joins no person.
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", "person__email", "person__preferred_language")[:size]
        )
        if not rows:
            return []
        gone = [pk for pk, address, _language in rows if not address]
        claimed = [row for row in rows if row[1]]
        AffectedPerson.objects.filter(pk__in=gone).update(notice=AffectedPerson.Notice.SKIPPED)
        AffectedPerson.objects.filter(pk__in=[row[0] for row in claimed]).update(
            notice=AffectedPerson.Notice.SENDING, claimed_at=timezone.now()
        )
    return claimed


_RECIPIENT_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused)


def _send(rows: list[tuple[int, str, str]], messages: BreachMessages) -> None:
    """One SMTP connection for the batch. A row is marked sent as soon as the server took its
    message; if the server goes away, the rows not yet tried go back to the queue and the one in
    flight is marked failed rather than risk a second copy."""
    sent, failed, in_flight = [], [], None
    smtp = get_connection(fail_silently=False)
    try:
        smtp.open()
        for pk, address, language in rows:
            in_flight = pk
            try:
                smtp.send_messages([messages.message(address=address, language=language)])
            except _RECIPIENT_ERRORS:
                failed.append(pk)
            else:
                sent.append(pk)
            in_flight = None
    except BaseException:
        # The server went away, or the worker is being stopped (a time limit, a shutdown): the
        # rows not yet tried go back to the queue for the next run; the one in flight may have
        # been accepted, so it is marked failed (shown to the DPO) rather than risk a second copy.
        if in_flight is not None:
            failed.append(in_flight)
        done = set(sent) | set(failed)
        AffectedPerson.objects.filter(pk__in=[r[0] for r in rows if r[0] not in done]).update(
            notice=AffectedPerson.Notice.QUEUED, claimed_at=None
        )
        raise
    finally:
        AffectedPerson.objects.filter(pk__in=sent).update(
            notice=AffectedPerson.Notice.SENT, sent_at=timezone.now()
        )
        AffectedPerson.objects.filter(pk__in=failed).update(notice=AffectedPerson.Notice.FAILED)
        smtp.close()


def breach_notices_send(*, breach_id: int, batch_size: int | None = None) -> int:
    """Send the queued messages of a breach in batches; returns how many this call sent. Safe to
    run twice at once or one after the other, and to resume after a crash: a message is claimed
    before it goes and never queued again once it may have gone."""
    breach = Breach.objects.filter(pk=breach_id).first()
    if breach is None:
        return 0
    batch_size = batch_size or settings.BREACH_NOTICE_BATCH_SIZE
    messages = BreachMessages(breach)
    total = 0
    while rows := _claim(breach, batch_size):
        _send(rows, messages)
        total += len(rows)
    abandoned = breach.affected.filter(
        notice=AffectedPerson.Notice.SENDING, claimed_at__lt=timezone.now() - CLAIM_ABANDONED_AFTER
    ).update(notice=AffectedPerson.Notice.FAILED)
    if abandoned:
        logger.warning("breach %s: %d claimed messages abandoned by a worker", breach.pk, abandoned)
    if total:
        audit_record(action="breach.messages_sent", target=breach, detail={"sent": total})
    return total


def breaches_with_messages_owed() -> list[int]:
    return list(
        Breach.objects.filter(
            Q(affected__notice=AffectedPerson.Notice.QUEUED)
            | Q(affected__notice=AffectedPerson.Notice.SENDING)
        )
        .order_by()
        .values_list("pk", flat=True)
        .distinct()
    )
