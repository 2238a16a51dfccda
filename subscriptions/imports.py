"""Imports of subscriptions sold by ticket agents (biljettombud), such as Eventim's CSV export.

The file is read as a stream, in batches of IMPORT_BATCH_SIZE rows, each batch one transaction with
set-based queries, so memory stays flat and a killed import resumes after the last batch committed.
A rejected row is recorded by its number and a reason, never its values, and the file is deleted
once it has been read: it holds personal data the registry now keeps in its tables.

What the import promises:
- people are matched by their normalised email address; a new person records the agent as source;
- no marketing consent is ever inferred: the import writes none;
- an address on the suppression list (erased, or objected) is not imported again;
- each new person is owed the Art. 14 notice, sent by a task within minutes (the law: a month).

The columns, by header name (any order, `;` or `,` separated, UTF-8 or Windows-1252):
order_id, email, first_name, last_name, series, seats, amount, purchased_on (required);
phone, street_address, postal_code, city, country, language, currency (optional).
"""

import codecs
import csv
import io
import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from concerthouse.audit import untranslated
from concerthouse.models import AuditEntry
from concerthouse.queue import enqueue_on_commit
from concerthouse.roles import purpose_of
from customers import validators
from customers.models import Customer
from newsletters.services import suppression_hash

from . import accounting
from .models import (
    ImportRowError,
    Order,
    Payment,
    SeasonSubscription,
    Series,
    SourceNotice,
    TicketAgentImport,
)
from .services import new_reference

logger = logging.getLogger(__name__)

REQUIRED = ("order_id", "email", "first_name", "last_name", "series", "seats", "amount")
REQUIRED += ("purchased_on",)
OPTIONAL = ("phone", "street_address", "postal_code", "city", "country", "language", "currency")
# The longest value each column may hold: the model's limits.
MAX_LENGTH = {
    "order_id": 40,
    "email": 254,
    "first_name": 150,
    "last_name": 150,
    "phone": 40,
    "street_address": 200,
    "postal_code": 20,
    "city": 100,
    "series": 50,
}
LANGUAGE_OF_COUNTRY = {"SE": "sv", "NO": "nb"}
Reason = ImportRowError.Reason


class ImportFileError(Exception):
    """The file as a whole cannot be read (no header, missing columns); told to staff as is."""


def import_path(run: TicketAgentImport) -> Path:
    return Path(settings.PRIVATE_MEDIA_ROOT) / "imports" / f"{run.public_id}.csv"


def import_create(*, agent: str, upload, actor) -> TicketAgentImport:
    """Store the uploaded file where only the workers read it, and queue the import."""
    run = TicketAgentImport(agent=agent, file_name=Path(upload.name).name[:200], uploaded_by=actor)
    path = import_path(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as target:
        for chunk in upload.chunks():
            target.write(chunk)
    try:
        _check_header(path)
    except ImportFileError:
        path.unlink(missing_ok=True)
        raise
    run.save()
    from .tasks import import_task

    enqueue_on_commit(import_task, run.pk)
    return run


def _encoding(path: Path) -> str:
    """UTF-8 (with or without a byte-order mark) if the whole file decodes as such, otherwise
    Windows-1252, which spreadsheet exports in Sweden and Norway often are."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as source:
        try:
            while chunk := source.read(1 << 16):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8-sig"


def _open(path: Path):
    text = open(path, encoding=_encoding(path), newline="")  # noqa: SIM115 (closed by the caller)
    sample = text.readline()
    text.seek(0)
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    return text, csv.reader(text, delimiter=delimiter)


def _header(reader) -> dict[str, int]:
    try:
        names = next(reader)
    except StopIteration:
        raise ImportFileError(_("The file is empty.")) from None
    columns = {name.strip().lower().replace(" ", "_"): i for i, name in enumerate(names)}
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise ImportFileError(
            _("Columns missing from the file: %(columns)s") % {"columns": ", ".join(missing)}
        )
    return columns


def _check_header(path: Path) -> None:
    text, reader = _open(path)
    with text:
        _header(reader)


# --- One row ---------------------------------------------------------------------------------------
@dataclass
class Row:
    number: int
    order_id: str
    email: str
    fields: dict
    series: Series
    seats: int
    amount: Decimal
    currency: str
    purchased_on: date


def _date(value: str) -> date:
    value = value.strip()
    for parse in (date.fromisoformat, lambda v: datetime.fromisoformat(v).date()):
        try:
            return parse(value)
        except ValueError:
            pass
    return datetime.strptime(value, "%d.%m.%Y").date()  # the Norwegian way: 31.12.2026


def _parse(number: int, values: list[str], columns: dict, series_by_code: dict):
    """A Row, or (column, reason) saying why it is rejected."""

    def get(name):
        index = columns.get(name)
        return values[index].strip() if index is not None and index < len(values) else ""

    raw = {name: get(name) for name in (*REQUIRED, *OPTIONAL)}
    for name in REQUIRED:
        if not raw[name]:
            return name, Reason.MISSING
    for name, limit in MAX_LENGTH.items():
        if len(raw[name]) > limit:
            return name, Reason.TOO_LONG
    try:
        email = validators.normalise_email(raw["email"])
    except ValidationError:
        return "email", Reason.BAD_EMAIL
    country = (raw["country"] or settings.HOUSE_COUNTRY).upper()
    if country not in Customer.Country.values:
        country = Customer.Country.OTHER
    phone = ""
    if raw["phone"]:
        try:
            phone = validators.normalise_phone(raw["phone"], country=country)
        except ValidationError:
            return "phone", Reason.BAD_PHONE
    series = series_by_code.get(raw["series"].lower())
    if series is None:
        return "series", Reason.UNKNOWN_SERIES
    try:
        seats = int(raw["seats"])
        amount = Decimal(raw["amount"].replace(" ", "").replace(",", "."))
        if not 1 <= seats <= 20 or amount < 0 or not amount.is_finite():
            raise ValueError
    except (ValueError, InvalidOperation):
        return "seats", Reason.BAD_NUMBER
    try:
        purchased_on = _date(raw["purchased_on"])
    except ValueError:
        return "purchased_on", Reason.BAD_DATE
    language = raw["language"].lower()[:2]
    language = {"no": "nb"}.get(language, language)
    if language not in dict(settings.LANGUAGES):
        language = LANGUAGE_OF_COUNTRY.get(country, settings.LANGUAGE_CODE)
    fields = {
        "first_name": " ".join(raw["first_name"].split()),
        "last_name": " ".join(raw["last_name"].split()),
        "phone": phone,
        "street_address": " ".join(raw["street_address"].split()),
        "postal_code": raw["postal_code"],
        "city": " ".join(raw["city"].split()),
        "country": country,
        "preferred_language": language,
    }
    return Row(
        number=number,
        order_id=raw["order_id"],
        email=email,
        fields=fields,
        series=series,
        seats=seats,
        amount=amount.quantize(Decimal("0.01")),
        currency=(raw["currency"] or series.currency).upper()[:3],
        purchased_on=purchased_on,
    )


# --- The run ---------------------------------------------------------------------------------------
class Superseded(Exception):
    """Another worker has imported the batch this one was about to import."""


def import_run(*, run_id: int) -> TicketAgentImport:
    """Import the file of one run, from where an earlier attempt stopped. Safe to run twice: a
    finished run does nothing, and of two workers on one run only one imports each batch."""
    run = TicketAgentImport.objects.get(pk=run_id)
    if run.status in (run.Status.DONE, run.Status.FAILED):
        return run
    TicketAgentImport.objects.filter(pk=run.pk).update(status=run.Status.RUNNING)
    path = import_path(run)
    if not path.exists():
        return _finish(run, failure=untranslated(_("The uploaded file is gone; upload it again.")))
    series_by_code = {s.code.lower(): s for s in Series.objects.select_related("season")}
    text, reader = _open(path)
    with text:
        try:
            columns = _header(reader)
        except ImportFileError as error:
            return _finish(run, failure=untranslated(error.args[0]))
        batch: list[tuple[int, list[str]]] = []
        try:
            for number, values in enumerate(reader, start=2):  # row 1 is the header
                if number - 1 <= run.rows_done:
                    continue  # committed by an earlier attempt
                batch.append((number, values))
                if len(batch) == settings.IMPORT_BATCH_SIZE:
                    _import_batch(run, batch, columns, series_by_code)
                    batch = []
            if batch:
                _import_batch(run, batch, columns, series_by_code)
        except Superseded:
            return TicketAgentImport.objects.get(pk=run.pk)
    return _finish(run)


def _finish(run: TicketAgentImport, *, failure: str = "") -> TicketAgentImport:
    TicketAgentImport.objects.filter(pk=run.pk).update(
        status=run.Status.FAILED if failure else run.Status.DONE,
        failure=failure,
        finished_at=timezone.now(),
    )
    # The registry now holds what it needed; the file must not outlive the import.
    import_path(run).unlink(missing_ok=True)
    run.refresh_from_db()
    from .tasks import send_source_notices_task

    if run.created_count:
        enqueue_on_commit(send_source_notices_task)
    return run


@transaction.atomic
def _import_batch(run, batch, columns, series_by_code) -> None:
    # The run's row lock serialises workers; the count says whether this batch is still to do.
    done = TicketAgentImport.objects.select_for_update().values_list("rows_done", flat=True)
    if done.get(pk=run.pk) != batch[0][0] - 2:
        raise Superseded
    errors: list[ImportRowError] = []
    rows: list[Row] = []
    for number, values in batch:
        parsed = _parse(number, values, columns, series_by_code)
        if isinstance(parsed, Row):
            rows.append(parsed)
        else:
            column, reason = parsed
            errors.append(ImportRowError(run=run, row=number, column=column, reason=reason))

    # Orders imported before (the same file twice, or overlapping exports) are not booked again.
    agent = slugify(run.agent)[:20] or "agent"
    seen = set(
        Order.objects.filter(reference__in=[f"{agent}:{row.order_id}" for row in rows]).values_list(
            "reference", flat=True
        )
    )
    fresh = []
    for row in rows:
        reference = f"{agent}:{row.order_id}"
        if reference in seen:
            errors.append(ImportRowError(run=run, row=row.number, reason=Reason.DUPLICATE_ORDER))
        else:
            seen.add(reference)
            fresh.append(row)
    rows = fresh

    emails = {row.email for row in rows}
    known = {
        customer.email: customer
        for customer in Customer.objects.filter(email__lower__in=emails).only(
            "pk", "email", "restricted_at", "public_id"
        )
    }
    suppressed = set(_suppressed_hashes([suppression_hash(email) for email in emails - set(known)]))
    accepted, new_people = [], {}
    for row in rows:
        person = known.get(row.email)
        if person is not None and person.restricted_at is not None:
            # Art. 18: only storage; the DPO decides what happens to this person's data.
            errors.append(ImportRowError(run=run, row=row.number, reason=Reason.RESTRICTED))
        elif person is None and suppression_hash(row.email) in suppressed:
            errors.append(
                ImportRowError(run=run, row=row.number, column="email", reason=Reason.SUPPRESSED)
            )
        else:
            if person is None and row.email not in new_people:
                new_people[row.email] = _new_person(row, run)
            accepted.append(row)

    created = _create_people(list(new_people.values()))
    people = {**known, **{person.email: person for person in created}}
    if len(people) < len(known) + len(new_people):
        # Some were created by someone else at the same moment: match them instead.
        missing = set(new_people) - set(people)
        people.update({p.email: p for p in Customer.objects.filter(email__lower__in=missing)})
    matched = {people[row.email].pk for row in accepted} - {p.pk for p in created}
    _book(run, accepted, people, agent)
    _start_relationships(matched, on=timezone.localdate())
    SourceNotice.objects.bulk_create(
        [SourceNotice(customer=person, run=run, source=run.agent) for person in created]
    )
    _audit_created(created, run)
    ImportRowError.objects.bulk_create(errors)
    TicketAgentImport.objects.filter(pk=run.pk).update(
        rows_done=F("rows_done") + len(batch),
        created_count=F("created_count") + len(created),
        matched_count=F("matched_count") + len(matched),
        booked_count=F("booked_count") + len(accepted),
        rejected_count=F("rejected_count") + len(errors),
    )


def _suppressed_hashes(hashes):
    from newsletters.models import Suppression

    return Suppression.objects.filter(email_hash__in=hashes).values_list("email_hash", flat=True)


def _new_person(row: Row, run) -> Customer:
    now = timezone.now()
    return Customer(
        email=row.email,
        source=Customer.Source.TICKET_AGENT,
        source_detail=run.agent[:100],
        kind=Customer.Kind.CUSTOMER,
        relationship_started_on=row.purchased_on,
        last_activity_at=now,
        created_at=now,
        updated_at=now,
        **row.fields,
    )


def _create_people(people: list[Customer]) -> list[Customer]:
    """One INSERT for the batch. If a person was created meanwhile by someone else (a signup at
    the same moment), fall back to one at a time for this batch, matching them instead."""
    if not people:
        return []
    try:
        with transaction.atomic():
            return Customer.objects.bulk_create(people)
    except IntegrityError:
        created = []
        for person in people:
            try:
                with transaction.atomic():
                    person.pk = None
                    person.public_id = uuid.uuid4()
                    person.save(force_insert=True)
                    created.append(person)
            except IntegrityError:
                pass  # the caller matches this one to the person created meanwhile
        return created


def _book(run, rows: list[Row], people: dict, agent: str) -> None:
    orders = Order.objects.bulk_create(
        [
            Order(
                reference=f"{agent}:{row.order_id}",
                customer=people[row.email],
                buyer_name=f"{row.fields['first_name']} {row.fields['last_name']}".strip(),
                buyer_address=", ".join(
                    part
                    for part in (
                        row.fields["street_address"],
                        f"{row.fields['postal_code']} {row.fields['city']}".strip(),
                        row.fields["country"],
                    )
                    if part
                ),
                description=f"Season subscription {row.series.code}, {row.seats} seat(s)"[:300],
                amount=row.amount,
                currency=row.currency,
                ordered_on=row.purchased_on,
                channel=Order.Channel.TICKET_AGENT,
                country=settings.HOUSE_COUNTRY,
                financial_year_ends_on=accounting.financial_year_end(row.purchased_on),
            )
            for row in rows
            if row.email in people
        ]
    )
    by_reference = {order.reference: order for order in orders}
    Payment.objects.bulk_create(
        [
            Payment(
                order=order,
                method=Payment.Method.TICKET_AGENT,
                amount=order.amount,
                currency=order.currency,
                paid_on=order.ordered_on,
                reference=run.agent[:64],
            )
            for order in orders
            if order.amount > 0
        ]
    )
    now = timezone.now()
    SeasonSubscription.objects.bulk_create(
        [
            SeasonSubscription(
                reference=new_reference(),
                customer=people[row.email],
                series=row.series,
                seats=row.seats,
                price=row.amount,
                currency=row.currency,
                channel=Order.Channel.TICKET_AGENT,
                booked_at=timezone.make_aware(datetime.combine(row.purchased_on, time(12))),
                ends_on=row.series.season.ends_on,
                order=by_reference[f"{agent}:{row.order_id}"],
                # The agent told the person about the booking; the house has nothing to confirm.
                confirmation_sent_at=now,
                created_at=now,
                updated_at=now,
            )
            for row in rows
            if row.email in people
        ]
    )


def _start_relationships(pks: set[int], *, on: date) -> None:
    """Known people who bought through the agent become (or stay) customers: one UPDATE."""
    if pks:
        Customer.objects.filter(pk__in=pks).update(
            kind=Customer.Kind.CUSTOMER,
            # An ongoing relationship keeps its start; a new one (or a lead's first) starts now.
            relationship_started_on=Case(
                When(
                    relationship_ended_on__isnull=True,
                    kind=Customer.Kind.CUSTOMER,
                    then=Coalesce(F("relationship_started_on"), Value(on)),
                ),
                default=Value(on),
            ),
            relationship_ended_on=None,
            last_activity_at=timezone.now(),
        )


def _audit_created(people: list[Customer], run) -> None:
    """The audit entries customer_create would write, in one INSERT."""
    purpose = untranslated(purpose_of(run.uploaded_by))
    AuditEntry.objects.bulk_create(
        [
            AuditEntry(
                action="customer.created",
                actor=run.uploaded_by,
                target_type=Customer._meta.label_lower,
                target_id=person.public_id,
                purpose=purpose,
                detail={"source": Customer.Source.TICKET_AGENT, "import": str(run.public_id)},
            )
            for person in people
        ]
    )


def import_report(run: TicketAgentImport) -> io.StringIO:
    """The rejected rows as CSV for staff: row number, column and reason; no values."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "column", "reason"])
    for error in run.errors.order_by("row").iterator():
        writer.writerow([error.row, error.column, error.get_reason_display()])
    out.seek(0)
    return out
