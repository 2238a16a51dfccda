"""The person: how the core finds and holds one, what other apps say about people, and what each
right does beyond the rows.

The app that owns the person model (customers) registers a `PersonAdapter` once; the core, the
privacy requests and the retention engine ask it, so that none of them imports that app. An app
that knows something about people that decides how long they are kept registers it here too: consent
registers the standing consent that keeps a person whatever the dates say, and customers' retention
rules ask for it without importing consent.
"""

import functools
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models import Q, QuerySet, TextChoices
from django.utils.translation import gettext_lazy as _

from .map import PERSON_MODEL, Subject


@dataclass(frozen=True)
class PersonAdapter:
    # The people with this address (normalised or not): none or one.
    with_email: Callable[[str], QuerySet]
    # People whose processing is restricted (Art. 18: storage only), as a filter on the person model.
    restricted: Callable[[], Q]
    # The grounds of Art. 18(1)(a)-(d) a restriction is recorded with, as choices.
    restriction_grounds: Callable[[], Sequence[tuple[str, Any]]]
    # When the person was told that their restriction will be lifted (Art. 18(3)), or None.
    lift_notice_sent: Callable[[Any], Any] = lambda person: None


_adapter: PersonAdapter | None = None
_standing_consents: list[Callable[[], Q]] = []
_subjects: dict[str, list[Callable[[], Q]]] = {}


def register_person(adapter: PersonAdapter) -> None:
    global _adapter
    _adapter = adapter


def _registered() -> PersonAdapter:
    if _adapter is None:
        raise LookupError(f"no person adapter registered for {PERSON_MODEL}")
    return _adapter


def person_model() -> type[models.Model]:
    return apps.get_model(PERSON_MODEL)


def people() -> QuerySet:
    """Every person, whatever the default manager hides."""
    return person_model()._base_manager.all()


def find_person(email: str):
    """The person in the register with this address, or None."""
    return _registered().with_email(email).first()


def restricted() -> Q:
    return _registered().restricted()


def restriction_grounds() -> Sequence[tuple[str, Any]]:
    return _registered().restriction_grounds()


def lift_notice_sent(person):
    """When the person was told their restriction will be lifted, or None: lifting waits for it."""
    return _registered().lift_notice_sent(person)


def register_subject(subject: Subject, condition: Callable[[], Q]) -> None:
    """`condition()`: the people of this kind (a customer, a newsletter reader...), as a filter on
    the person model, registered by the app that knows what makes one."""
    conditions = _subjects.setdefault(subject, [])
    if condition not in conditions:
        conditions.append(condition)


def subject_condition(subject: Subject) -> Q:
    conditions = _subjects.get(subject, [])
    if not conditions:
        return Q(pk__in=[])
    return functools.reduce(operator.or_, (condition() for condition in conditions))


def subjects_of(person) -> set[str]:
    """The kinds of person this one is, one EXISTS each; `Subject.OTHER` when they are neither a
    customer, a reader nor a prospect (having asked about their data makes nobody one)."""
    one = people().filter(pk=person.pk)
    found = {subject for subject in _subjects if one.filter(subject_condition(subject)).exists()}
    if not found - {Subject.REQUESTER, Subject.OTHER}:
        found.add(Subject.OTHER)
    return found


def register_standing_consent(condition: Callable[[], Q]) -> None:
    """`condition()`: the people who hold a consent that keeps them (a confirmed wish to hear from
    the house), as a filter on the person model."""
    if condition not in _standing_consents:
        _standing_consents.append(condition)


def standing_consent() -> Q:
    """People with a standing consent; nobody when no app registered one."""
    if not _standing_consents:
        return Q(pk__in=[])
    return functools.reduce(operator.or_, (condition() for condition in _standing_consents))


# --- What the rights do beyond the rows (Art. 17, 18, 21) ---------------------------------------
# Some rights need more than deleting or exporting rows: an objection withdraws consents and fills
# the suppression list, an erasure adds the address to it. Each app registers its part here, so that
# the privacy-request executors stay ignorant of the apps' internals.
class Right(TextChoices):
    ERASURE = "erasure", _("Erasure")
    RESTRICTION = "restriction", _("Restriction")
    # Art. 18(3): the person is told before a restriction is lifted; the lifting waits for it.
    LIFT_NOTICE = "lift_notice", _("Notice that a restriction will be lifted")
    LIFT_RESTRICTION = "lift_restriction", _("Lifting a restriction")
    OBJECTION = "objection", _("Objection")


_hooks: dict[str, list[Callable[..., Any]]] = {}


def on_right(right: Right, handler: Callable[..., Any]) -> None:
    """Run `handler(person=..., actor=..., **details)` when `right` is exercised for a person;
    for an erasure, before the person's rows are removed."""
    if handler not in _hooks.setdefault(right, []):
        _hooks[right].append(handler)


def exercise_right(right: Right, *, person, actor=None, **details) -> None:
    """Every path that exercises a right (a privacy request, the preference centre, the admin)
    comes here, so that the right means the same wherever it is asked for; all or nothing."""
    with transaction.atomic():
        for handler in _hooks.get(right, []):
            handler(person=person, actor=actor, **details)
