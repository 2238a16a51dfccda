"""Who outside the house holds whose data: the flows the map declares next to the data, matched
against the register of processors and recipients.

One declaration answers two questions, so that the answers cannot disagree:
- per person (`flows_of`, `categories_linked`): which recipients received this person's data, for
  the access report (Art. 15(1)(c)) and the Art. 19 notices;
- set-wise (`people_reached`, `people_with_rows`): which people a recipient or a system held data
  of in a time window, as a queryset of primary keys that the database computes in one statement,
  for a breach's affected set (Art. 33, 34).

The app that keeps the register (privacy_requests) registers it here (`register_recipients`), so
that an app below it can refuse to hand data to a recipient the register does not name
(`require_recipient`) without importing it.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThan
from django.utils.translation import gettext_lazy as _

from .map import Category, Declaration, Flow, RecipientKind, declarations
from .person import people


# --- The register, as the lower apps see it -----------------------------------------------------
@dataclass(frozen=True)
class RecipientRegister:
    # Whether an active entry of this kind (and, when given, this code) is registered.
    registered: Callable[[str, str | None], bool]


_register: RecipientRegister | None = None


def register_recipients(register: RecipientRegister) -> None:
    global _register
    _register = register


def require_recipient(kind: RecipientKind, code: str | None = None, *, name: str = "") -> None:
    """Refuse to hand data to a recipient the register does not name (Art. 13(1)(e), 30(1)(d)):
    what a person is told about recipients must never be contradicted by what the house does."""
    if _register is not None and _register.registered(kind, code):
        return
    kind = RecipientKind(kind)
    if code:
        message = _(
            "%(name)s is not in the processor register. The data protection officer registers it "
            "first (DPO dashboard, Processor register) as “%(kind)s” with the code “%(code)s”."
        )
    else:
        message = _(
            "No recipient of the kind “%(kind)s” is in the processor register. The data "
            "protection officer registers the service first (DPO dashboard, Processor register)."
        )
    raise ValidationError(message % {"name": name or code, "kind": kind.label, "code": code})


# --- The rows of a flow ---------------------------------------------------------------------------
def _code_expression(flow: Flow):
    return F(flow.code) if isinstance(flow.code, str) else flow.code


def _stored_codes(rows: QuerySet, flow: Flow) -> list[str]:
    """The recipient values the rows name, each once (a few agents or platforms, however many
    rows)."""
    values = (
        rows.annotate(_recipient=_code_expression(flow))
        .order_by()
        .values_list("_recipient", flat=True)
        .distinct()
    )
    return [value for value in values if value]


def flow_rows(
    declaration: Declaration,
    flow: Flow,
    *,
    code: str | None = None,
    until: datetime | None = None,
    since: datetime | None = None,
) -> QuerySet:
    """The rows of `declaration` whose data went through `flow` (to the recipient `code`, when the
    flow names one), by the end of the window `until` and, with `since`, not before it."""
    rows = declaration.model._default_manager.all()
    if flow.rows is not None:
        rows = rows.filter(flow.rows)
    if until is not None:
        rows = rows.filter(**{f"{flow.at}__lte": until})
    if since is not None:
        rows = rows.filter(**{f"{flow.at}__gte": since})
    if code is not None and flow.code is not None:
        if flow.code_of is str:
            # The rows name the recipient by its code already.
            return rows.annotate(_recipient=_code_expression(flow)).filter(_recipient=code)
        # The stored values that name this recipient: looked up once, then an exact match the
        # database can use as it likes (a few agent names; the register writes codes).
        values = [value for value in _stored_codes(rows, flow) if flow.code_of(value) == code]
        rows = rows.annotate(_recipient=_code_expression(flow)).filter(_recipient__in=values)
    return rows


def _made_by(declaration: Declaration, rows: QuerySet, until: datetime | None) -> QuerySet:
    if until is not None and declaration.made_at is not None:
        rows = rows.filter(**{f"{declaration.made_at}__lte": until})
    return rows


def flows_of_kind(
    kind: str, categories: Iterable[str] | None = None
) -> list[tuple[Declaration, Flow]]:
    wanted = set(categories) if categories else None
    return [
        (declaration, flow)
        for declaration in declarations()
        for flow in declaration.flows
        if flow.kind == kind and (wanted is None or wanted & set(flow.categories))
    ]


# --- One person ---------------------------------------------------------------------------------
def flows_of(person) -> set[tuple[str, str | None]]:
    """(kind, code) of every recipient this person's data went to; code None for a flow that
    reaches every recipient of its kind (mail)."""
    found = set()
    for declaration in declarations():
        for flow in declaration.flows:
            rows = flow_rows(declaration, flow).filter(declaration.of_person(person))
            if flow.code is None:
                if rows.exists():
                    found.add((flow.kind, None))
            else:
                found.update(
                    (flow.kind, flow.code_of(value)) for value in _stored_codes(rows, flow)
                )
    return found


def holding(declaration: Declaration, categories: Iterable[str]) -> Q:
    """The rows of `declaration` that hold data of any of `categories`: a value in one of the
    category's fields (a customer without a national identity number holds no identity data)."""
    condition = Q(pk__in=[])
    for name, category in declaration.fields.items():
        if category not in categories:
            continue
        model_field = declaration.model._meta.get_field(name)
        if isinstance(model_field, (models.CharField, models.TextField)):
            # Length, not a comparison with "": an encrypted column compares only ciphertext.
            condition |= Q(GreaterThan(Length(name), 0))
        else:
            condition |= Q(**{f"{name}__isnull": False})
    return condition


def categories_linked(person) -> set[str]:
    """The categories of which the person has rows holding data, through the same links as
    `people_with_rows` (what a processor hosting those categories holds of them)."""
    held = set()
    for declaration in declarations():
        if not declaration.person:
            continue
        rows = declaration.model._default_manager.filter(declaration.of_person(person))
        for category in declaration.categories - held:
            if rows.filter(holding(declaration, {category})).exists():
                held.add(category)
    return held


def hashed_identifier(kind: str, address: str) -> str | None:
    """What a recipient of `kind` knows a person by when only hashes went to it (an ad
    platform's hash of the address); None when it received the data in clear."""
    for _declaration, flow in flows_of_kind(kind):
        if flow.hashed and flow.identifier is not None:
            return flow.identifier(address)
    return None


def holds(*, kind: str, code: str, categories: Iterable[str], reached, held) -> bool:
    """Whether a register entry holds a person's data, given the person's `flows_of` (`reached`)
    and `categories_linked` (`held`)."""
    if kind == RecipientKind.HOSTING:
        return bool(set(categories) & set(held))
    return (kind, None) in reached or (kind, code or None) in reached


# --- Many people at once --------------------------------------------------------------------------
def person_keys(declaration: Declaration, rows: QuerySet) -> list[QuerySet]:
    """The primary keys of the people who own `rows`, one queryset per link of the declaration."""
    parts = []
    for path, field in declaration.person:
        linked = rows.filter(**{f"{path}__isnull": False}).order_by()
        if field == "pk":
            parts.append(linked.values_list(path, flat=True))
        else:
            parts.append(
                people()
                .filter(**{f"{field}__in": linked.values(path)})
                .order_by()
                .values_list("pk", flat=True)
            )
    return parts


def union(parts: list[QuerySet]) -> QuerySet:
    """One queryset of primary keys, each once (UNION): nobody in it when `parts` is empty."""
    if not parts:
        return people().none().order_by().values_list("pk", flat=True)
    first, *rest = parts
    return first.union(*rest) if rest else first.distinct()


def people_reached(
    *,
    kind: str,
    code: str | None = None,
    hosted: Iterable[str] = (),
    categories: Iterable[str] | None = None,
    until: datetime | None = None,
    since: datetime | None = None,
) -> QuerySet:
    """The primary keys of the people whose data reached a register entry of `kind` (and `code`):
    of `categories` when given, by `until`, and with `since` not before it. A hosting entry holds
    the rows of the categories it hosts (`hosted`) that existed by `until`."""
    if kind == RecipientKind.HOSTING:
        wanted = set(hosted) & set(categories) if categories else set(hosted)
        return people_with_rows(categories=wanted, until=until)
    parts = []
    for declaration, flow in flows_of_kind(kind, categories):
        rows = flow_rows(declaration, flow, code=code, until=until, since=since)
        parts += person_keys(declaration, rows)
    return union(parts)


def people_with_rows(
    *,
    categories: Iterable[str] | None = None,
    labels: Iterable[str] | None = None,
    until: datetime | None = None,
) -> QuerySet:
    """The primary keys of the people with rows of `categories` (every category when None) in the
    declarations `labels` (every declaration when None) made by `until`."""
    wanted = set(categories) if categories is not None else None
    chosen = set(labels) if labels is not None else None
    parts = []
    for declaration in declarations():
        if chosen is not None and declaration.label not in chosen:
            continue
        if wanted is not None and not wanted & declaration.categories:
            continue
        rows = _made_by(declaration, declaration.model._default_manager.all(), until)
        if wanted is not None:
            rows = rows.filter(holding(declaration, wanted))
        parts += person_keys(declaration, rows)
    return union(parts)


def rows_of_people(declaration: Declaration, rows: QuerySet, keys: QuerySet) -> QuerySet:
    """`rows` narrowed to those of the people whose primary keys are `keys` (a subquery)."""
    condition = Q(pk__in=[])
    for path, field in declaration.person:
        if field == "pk":
            condition |= Q(**{f"{path}__in": keys})
        else:
            condition |= Q(**{f"{path}__in": people().filter(pk__in=keys).values(field)})
    return rows.filter(condition)


def record_counts(
    *,
    parts: list[tuple[Declaration, QuerySet, tuple[str, ...]]],
    keys: QuerySet | None = None,
) -> tuple[dict[str, int], dict[str, int]]:
    """How many records each category and each declaration counts among `parts` ((declaration,
    rows, categories) triples), narrowed to the people `keys` when given. A row holding several
    categories counts once in each."""
    by_category: dict[str, int] = {}
    by_declaration: dict[str, int] = {}
    for declaration, rows, categories in parts:
        if keys is not None:
            rows = rows_of_people(declaration, rows, keys)
        count = rows.order_by().count()
        if not count:
            continue
        by_declaration[declaration.label] = by_declaration.get(declaration.label, 0) + count
        for category in categories:
            by_category[category] = by_category.get(category, 0) + count
    return by_category, by_declaration


def category_order(categories: Iterable[str]) -> list[str]:
    """Categories in the map's order (contact first), for pages and texts."""
    order = list(Category.values)
    return sorted(set(categories), key=order.index)
