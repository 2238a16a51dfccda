"""Every write to a customer goes through here, so that each one is validated, normalised and audited."""

from collections.abc import Sequence
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from concerthouse.audit import audit_record, audit_record_many
from concerthouse.bulk import copy_insert
from concerthouse.email_address import normalise_email
from concerthouse.encryption import blind_index
from concerthouse.queue import enqueue_on_commit

from . import emails, validators
from .models import Customer

# Fields staff and the person may edit directly; identifiers, restriction and objection have their
# own services because each needs its own permission and audit action.
CONTACT_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "phone",
    "street_address",
    "postal_code",
    "city",
    "country",
    "preferred_language",
)
RELATIONSHIP_FIELDS = ("kind", "source", "source_detail")
EDITABLE_FIELDS = CONTACT_FIELDS + RELATIONSHIP_FIELDS

DUPLICATE_EMAIL = _("A person with this email address is already registered.")


def _normalise(customer: Customer) -> None:
    """Canonical forms, and every field's error at once (a form shows them all)."""
    errors = {}
    try:
        customer.email = normalise_email(customer.email)
    except ValidationError as error:
        errors["email"] = error.messages
    if customer.phone:
        try:
            customer.phone = validators.normalise_phone(customer.phone, country=customer.country)
        except ValidationError as error:
            errors["phone"] = error.messages
    for name in ("first_name", "last_name", "street_address", "postal_code", "city"):
        setattr(customer, name, " ".join(getattr(customer, name).split()))
    if errors:
        raise ValidationError(errors)


def _clean(customer: Customer) -> None:
    # Neither the unique public id (a fresh uuid4) nor the constraints are checked here with a
    # query each: the email's is checked by the callers, and the database enforces them all.
    customer.full_clean(
        exclude=["national_id", "bank_account"], validate_unique=False, validate_constraints=False
    )


def _save(customer: Customer, *, update_fields=None) -> None:
    # The database constraint is the guarantee; this check only puts the error on the field.
    if Customer.objects.with_email(customer.email).exclude(pk=customer.pk).exists():
        raise ValidationError({"email": [DUPLICATE_EMAIL]}, code="duplicate_email")
    _clean(customer)
    try:
        # A savepoint: a lost race on the unique email must not poison the caller's transaction.
        with transaction.atomic():
            customer.save(update_fields=update_fields)
    except IntegrityError:
        # Lost the race to a concurrent insert of the same address (committed by now: the insert
        # waited for it), or another constraint failed.
        if Customer.objects.with_email(customer.email).exclude(pk=customer.pk).exists():
            raise ValidationError({"email": [DUPLICATE_EMAIL]}, code="duplicate_email") from None
        raise


@transaction.atomic
def customer_create(*, actor=None, source: str, **fields) -> Customer:
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"customer_create() got unexpected fields: {sorted(unknown)}")
    customer = Customer(source=source, **fields)
    _normalise(customer)
    _save(customer)
    audit_record(
        action="customer.created",
        actor=actor,
        target=customer,
        detail={"source": source, "fields": sorted(k for k, v in fields.items() if v)},
    )
    return customer


def customer_get_or_create(
    *, email: str, source: str, actor=None, lock: bool = False, **fields
) -> tuple[Customer, bool]:
    """The person with this address, or a new one with these fields, and whether it is new: one
    person per address even when two requests (a double click, two forms) create them at the same
    moment. An existing person's record is left as it is; a public form must not overwrite it.

    With `lock`, the person's row is locked until the caller's transaction ends: an existing one by
    SELECT ... FOR UPDATE, a new one by its own insert (a concurrent request for the same address
    waits on the unique index, then finds and locks this person)."""
    try:
        email = normalise_email(email)
    except ValidationError as error:
        raise ValidationError({"email": error.messages}) from None
    people = Customer.objects.select_for_update() if lock else Customer.objects
    existing = people.with_email(email).first()
    if existing is not None:
        return existing, False
    try:
        return customer_create(actor=actor, source=source, email=email, **fields), True
    except ValidationError as error:
        # A concurrent request may have won the insert: use its person.
        existing = people.with_email(email).first()
        if existing is None or "email" not in getattr(error, "error_dict", {}):
            raise
        return existing, False


def _already_registered() -> ValidationError:
    return ValidationError(
        {"email": ValidationError(DUPLICATE_EMAIL, code="duplicate_email")},
    )


@transaction.atomic
def customers_create_many(
    *, customers: Sequence[Customer], actor=None, detail: dict | None = None
) -> tuple[list[Customer], dict[int, ValidationError]]:
    """customer_create for many people at once (an import): each of `customers`, new and unsaved,
    normalised and validated exactly as customer_create does, those that pass inserted at once
    (through COPY: see concerthouse/bulk.py), and for each the audit entry customer_create
    writes (`detail` added to it).

    Returns the people created, and why each of the others was refused, by its position in
    `customers`: the ValidationError customer_create would raise. An address already registered
    (or given earlier in `customers`, or registered by someone else meanwhile) is refused with
    the code "duplicate_email" on its email, so that the caller can match that person instead."""
    refused: dict[int, ValidationError] = {}
    valid: dict[str, tuple[int, Customer]] = {}  # by address: one person per address
    for index, customer in enumerate(customers):
        try:
            _normalise(customer)
            _clean(customer)
        except ValidationError as error:
            refused[index] = error
            continue
        if customer.email in valid:
            refused[index] = _already_registered()
        else:
            valid[customer.email] = (index, customer)
    for email in Customer.objects.filter(email__in=list(valid)).values_list("email", flat=True):
        index, _customer = valid.pop(email)
        refused[index] = _already_registered()
    created = [customer for _index, customer in valid.values()]
    try:
        # A savepoint: a lost race on the unique email must not poison the caller's transaction.
        with transaction.atomic():
            copy_insert(created, key="public_id")
    except IntegrityError:
        # Someone registered one of these addresses since the check: one at a time, as
        # customer_create does, so that only that one is refused.
        created = []
        for index, customer in valid.values():
            customer.pk = None  # one a rolled-back insert may have given it
            try:
                _save(customer)
            except ValidationError:
                refused[index] = _already_registered()  # the rest was validated above
            else:
                created.append(customer)
    audit_record_many(
        action="customer.created",
        actor=actor,
        entries=[
            (
                customer,
                {
                    "source": customer.source,
                    "fields": sorted(
                        name
                        for name in EDITABLE_FIELDS
                        if name != "source" and getattr(customer, name)
                    ),
                    **(detail or {}),
                },
            )
            for customer in created
        ],
    )
    return created, refused


@transaction.atomic
def customer_start_relationship(*, customer: Customer, on, actor=None) -> Customer:
    """A contract (a season subscription) makes the person a customer; a former customer's new
    contract starts a new relationship. The retention rules count from these dates."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.kind == Customer.Kind.CUSTOMER and customer.relationship_ended_on is None:
        customer.last_activity_at = timezone.now()
        customer.save(update_fields=["last_activity_at"])
        return customer
    customer.kind = Customer.Kind.CUSTOMER
    customer.relationship_started_on = on
    customer.relationship_ended_on = None
    customer.last_activity_at = timezone.now()
    customer.save(
        update_fields=[
            "kind",
            "relationship_started_on",
            "relationship_ended_on",
            "last_activity_at",
        ]
    )
    audit_record(action="customer.relationship_started", actor=actor, target=customer)
    return customer


@transaction.atomic
def customers_start_relationship(*, customers: QuerySet[Customer], on, actor=None) -> int:
    """customer_start_relationship for many people at once (an import's known buyers), set-based;
    returns how many of them started a new relationship."""
    people = list(
        customers.select_for_update()
        .order_by("pk")  # locked in one order: two imports at once cannot deadlock
        .only("pk", "public_id", "kind", "relationship_ended_on")
    )
    starting = [
        person
        for person in people
        if not (person.kind == Customer.Kind.CUSTOMER and person.relationship_ended_on is None)
    ]
    Customer.objects.filter(pk__in=[person.pk for person in people]).update(
        last_activity_at=timezone.now()
    )
    Customer.objects.filter(pk__in=[person.pk for person in starting]).update(
        kind=Customer.Kind.CUSTOMER, relationship_started_on=on, relationship_ended_on=None
    )
    audit_record_many(
        action="customer.relationship_started",
        actor=actor,
        entries=[(person, {}) for person in starting],
    )
    return len(starting)


@transaction.atomic
def customer_end_relationship(*, customer: Customer, on, actor=None) -> Customer:
    """The end of the last contract: from this day the retention of an ended customer runs."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.relationship_ended_on is None:
        customer.relationship_ended_on = on
        customer.save(update_fields=["relationship_ended_on"])
        audit_record(action="customer.relationship_ended", actor=actor, target=customer)
    return customer


@transaction.atomic
def customer_update(*, customer: Customer, actor=None, **changes) -> Customer:
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"customer_update() got unexpected fields: {sorted(unknown)}")
    if customer.is_restricted and not (actor and actor.has_perm("customers.restrict_processing")):
        raise PermissionDenied(_("Processing of this person's data is restricted."))
    before = {name: getattr(customer, name) for name in changes}
    for name, value in changes.items():
        setattr(customer, name, value)
    _normalise(customer)
    changed = sorted(name for name in changes if getattr(customer, name) != before[name])
    if not changed:
        return customer
    _save(customer, update_fields=[*changed, "updated_at"])
    audit_record(
        action="customer.changed", actor=actor, target=customer, detail={"fields": changed}
    )
    return customer


@transaction.atomic
def customer_set_identifiers(
    *,
    customer: Customer,
    actor,
    purpose: str,
    national_id: str | None = None,
    bank_account: str | None = None,
) -> Customer:
    """Set, replace or ("" ) remove the national ID and bank account; None leaves one as it is."""
    if not actor.has_perm("customers.change_identifiers"):
        raise PermissionDenied
    errors, changed = {}, []
    if national_id is not None:
        try:
            value = (
                validators.normalise_national_id(national_id, country=customer.country)
                if national_id
                else ""
            )
        except ValidationError as error:
            errors["national_id"] = error.messages
        else:
            customer.national_id = value
            customer.national_id_index = blind_index(value, purpose="national_id") if value else ""
            changed.append("national_id")
    if bank_account is not None:
        try:
            value = validators.normalise_bank_account(bank_account) if bank_account else ""
        except ValidationError as error:
            errors["bank_account"] = error.messages
        else:
            customer.bank_account = value
            customer.bank_account_index = (
                blind_index(value, purpose="bank_account") if value else ""
            )
            changed.append("bank_account")
    holds_any = customer.national_id_index or customer.bank_account_index
    customer.identifiers_purpose = purpose if holds_any else ""
    if holds_any and not purpose:
        errors["identifiers_purpose"] = [_("Say what the national ID or bank account is for.")]
    if errors:
        raise ValidationError(errors)
    fields = [f for name in changed for f in (name, f"{name}_index")]
    try:
        with transaction.atomic():
            customer.save(update_fields=[*fields, "identifiers_purpose", "updated_at"])
    except IntegrityError:
        raise ValidationError(
            {"national_id": [_("Another person has this national identity number.")]}
        ) from None
    audit_record(
        action="customer.identifiers_changed",
        actor=actor,
        target=customer,
        detail={"fields": changed},
    )
    return customer


def customer_reveal_identifier(*, customer: Customer, actor, field: str) -> str:
    """The full value of an identifier, for a member of staff allowed to see it; always audited."""
    if field not in ("national_id", "bank_account"):
        raise ValueError(field)
    if not actor.has_perm("customers.reveal_identifiers"):
        raise PermissionDenied
    audit_record(
        action="customer.identifier_revealed",
        actor=actor,
        target=customer,
        detail={"field": field},
    )
    return getattr(customer, field)


@transaction.atomic
def customer_restrict(*, customer: Customer, actor, ground: str) -> Customer:
    """Art. 18: from now on the data is only stored, not used."""
    if not actor.has_perm("customers.restrict_processing"):
        raise PermissionDenied
    if ground not in Customer.RestrictionGround.values:
        raise ValidationError({"restriction_ground": [_("Choose a ground for the restriction.")]})
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    customer.restricted_at = timezone.now()
    customer.restricted_by = actor
    customer.restriction_ground = ground
    # A notice of an earlier restriction's lifting does not announce the lifting of this one.
    customer.restriction_lift_announced_at = None
    customer.restriction_lift_notice_sent_at = None
    customer.save(update_fields=[*_RESTRICTION_FIELDS, "restriction_ground"])
    audit_record(
        action="customer.restricted", actor=actor, target=customer, detail={"ground": ground}
    )
    return customer


_RESTRICTION_FIELDS = (
    "restricted_at",
    "restricted_by",
    "restriction_lift_announced_at",
    "restriction_lift_notice_sent_at",
)


@transaction.atomic
def customer_announce_restriction_lift(*, customer: Customer, actor) -> Customer:
    """Art. 18(3): the person is told before their restriction is lifted. Owes them the notice,
    which a task sends (and the sweep, if the task is lost); asking again sends nothing twice."""
    if not actor.has_perm("customers.restrict_processing"):
        raise PermissionDenied
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if not customer.is_restricted:
        raise ValidationError(_("This person's processing is not restricted."))
    if customer.restriction_lift_announced_at is None:
        customer.restriction_lift_announced_at = timezone.now()
        customer.save(update_fields=["restriction_lift_announced_at"])
        audit_record(action="customer.restriction_lift_announced", actor=actor, target=customer)
    if customer.restriction_lift_notice_sent_at is None:
        from .tasks import send_restriction_lift_notice_task

        enqueue_on_commit(send_restriction_lift_notice_task, customer.pk)
    return customer


def customer_send_restriction_lift_notice(*, customer_id: int) -> bool:
    """Send the notice of a lifting the person is owed; False when none is owed (a task run
    twice, a restriction lifted or renewed since). The claim is committed before the SMTP call and
    released if sending fails, so that the lifting never goes ahead on a notice that did not go."""
    with transaction.atomic():
        customer = (
            Customer.objects.select_for_update()
            .filter(
                pk=customer_id,
                restricted_at__isnull=False,
                restriction_lift_announced_at__isnull=False,
                restriction_lift_notice_sent_at__isnull=True,
            )
            .first()
        )
        if customer is None:
            return False
        claimed_at = timezone.now()
        Customer.objects.filter(pk=customer.pk).update(restriction_lift_notice_sent_at=claimed_at)
    try:
        emails.restriction_lift_notice(customer).send()
    except Exception:
        Customer.objects.filter(pk=customer.pk, restriction_lift_notice_sent_at=claimed_at).update(
            restriction_lift_notice_sent_at=None
        )
        raise
    return True


def customers_owing_lift_notice():
    """People told nothing yet of a lifting staff announced more than a minute ago: the task that
    should have sent it was lost."""
    return Customer.objects.filter(
        restricted_at__isnull=False,
        restriction_lift_announced_at__lt=timezone.now() - timedelta(minutes=1),
        restriction_lift_notice_sent_at__isnull=True,
    ).values_list("pk", flat=True)


@transaction.atomic
def customer_lift_restriction(*, customer: Customer, actor) -> Customer:
    """Art. 18(3): only once the person has been told. Every path (a privacy request, the admin)
    lifts through here, so none can skip the notice."""
    if not actor.has_perm("customers.restrict_processing"):
        raise PermissionDenied
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if not customer.is_restricted:
        return customer
    if customer.restriction_lift_notice_sent_at is None:
        raise ValidationError(_("Tell the person first: send the notice of the lifting."))
    customer.restricted_at = None
    customer.restricted_by = None
    customer.restriction_ground = ""
    customer.restriction_lift_announced_at = None
    customer.restriction_lift_notice_sent_at = None
    customer.save(update_fields=[*_RESTRICTION_FIELDS, "restriction_ground"])
    audit_record(action="customer.restriction_lifted", actor=actor, target=customer)
    return customer


@transaction.atomic
def customer_object_to_marketing(*, customer: Customer, channel: str, actor=None) -> Customer:
    """Art. 21(2): an objection to direct marketing needs no reason and always wins.

    Idempotent: a second objection keeps the first one's time and channel.
    """
    if actor is not None and not actor.has_perm("customers.restrict_processing"):
        raise PermissionDenied
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.marketing_objection_at is None:
        customer.marketing_objection_at = timezone.now()
        customer.marketing_objection_recorded_by = actor
        customer.marketing_objection_channel = channel
        customer.save(
            update_fields=[
                "marketing_objection_at",
                "marketing_objection_recorded_by",
                "marketing_objection_channel",
            ]
        )
        audit_record(
            action="customer.marketing_objection_recorded",
            actor=actor,
            target=customer,
            detail={"channel": channel},
        )
    return customer


# --- Undeliverable addresses (set by newsletters/inbound.py from bounces) ---------------------------
@transaction.atomic
def customers_mark_undeliverable(*, customer_ids, reason: str) -> int:
    """Mark these people's addresses undeliverable, set-wise; returns how many were newly marked.

    Not a withdrawal of consent and not a suppression: nothing is sent there any more (but the
    answers to privacy requests), until the person's own new confirmed signup clears it. Idempotent:
    an address already marked keeps its first time and reason.
    """
    if reason not in Customer.UndeliverableReason.values:
        raise ValueError(reason)
    marked = list(
        Customer.objects.select_for_update()
        .filter(pk__in=list(customer_ids), email_undeliverable_at__isnull=True)
        .order_by("pk")
        .only("pk", "public_id")
    )
    Customer.objects.filter(pk__in=[c.pk for c in marked]).update(
        email_undeliverable_at=timezone.now(), email_undeliverable_reason=reason
    )
    for customer in marked:
        audit_record(
            action="customer.email_undeliverable", target=customer, detail={"reason": reason}
        )
    return len(marked)


@transaction.atomic
def customer_mark_deliverable(*, customer: Customer) -> Customer:
    """The owner of the address showed that it takes mail again (a confirmed signup)."""
    updated = Customer.objects.filter(pk=customer.pk, email_undeliverable_at__isnull=False).update(
        email_undeliverable_at=None, email_undeliverable_reason=""
    )
    if updated:
        audit_record(action="customer.email_deliverable", target=customer)
        customer.email_undeliverable_at, customer.email_undeliverable_reason = None, ""
    return customer


@transaction.atomic
def customer_withdraw_objection(*, customer: Customer, evidence: str) -> Customer:
    """The way back after an objection to direct marketing: only the person's own fresh opt-in,
    confirmed from their address (newsletters.services.signup_confirm), lifts it. Idempotent."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.marketing_objection_at is not None:
        customer.marketing_objection_at = None
        customer.marketing_objection_recorded_by = None
        customer.marketing_objection_channel = ""
        customer.save(
            update_fields=[
                "marketing_objection_at",
                "marketing_objection_recorded_by",
                "marketing_objection_channel",
            ]
        )
        audit_record(
            action="customer.marketing_objection_withdrawn",
            target=customer,
            detail={"evidence": evidence},
        )
    return customer
