"""Imports of subscriptions sold by ticket agents (biljettombud), such as Eventim's CSV export.

The file is read as a stream, in batches of IMPORT_BATCH_SIZE rows, each batch one transaction with
set-based queries (and one COPY a table: concerthouse/bulk.py), so memory stays flat and a
killed import resumes after the last batch committed. A rejected row is recorded by its number and
a reason, never its values, and the file is deleted once it has been read: it holds personal data
the registry now keeps in its tables.

What the import promises:
- people are matched by their normalised email address; a new person records the agent as source,
  and is validated, normalised and audited by the customers service as every new customer is
  (customers_create_many): a row whose person it refuses is rejected, never written;
- a person whose processing is restricted (Art. 18) is left alone: their rows are rejected;
- an order imported before is not booked twice;
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
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from concerthouse.audit import untranslated
from concerthouse.bulk import copy_insert
from concerthouse.email_address import normalise_email
from concerthouse.queue import enqueue_on_commit
from customers.models import Customer
from customers.services import customers_create_many, customers_start_relationship
from newsletters.models import Suppression
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
from .services import new_reference, order_description

logger = logging.getLogger(__name__)

REQUIRED = ("order_id", "email", "first_name", "last_name", "series", "seats", "amount")
REQUIRED += ("purchased_on",)
OPTIONAL = ("phone", "street_address", "postal_code", "city", "country", "language", "currency")
# The longest value each column may hold: the models' limits. Checked on every row, known person
# or new, because the order copies the buyer's name and address.
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
COUNTRIES = frozenset(Customer.Country.values)
AMOUNT_LIMIT = Decimal(10) ** 8  # SeasonSubscription.price: max_digits=10, decimal_places=2
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
    # A byte Windows-1252 lacks (a spreadsheet uploaded instead of its CSV export) becomes U+FFFD,
    # so that such a file fails on its header like any other wrong file, not with an exception.
    text = open(path, encoding=_encoding(path), errors="replace", newline="")  # noqa: SIM115
    sample = text.readline()
    text.seek(0)
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    return text, csv.reader(text, delimiter=delimiter)


def _header(reader) -> dict[str, int]:
    try:
        names = next(reader)
    except StopIteration:
        raise ImportFileError(_("The file is empty.")) from None
    except csv.Error:
        raise ImportFileError(_("The file cannot be read as CSV.")) from None
    names = [name.strip().lower().replace(" ", "_") for name in names]
    # The columns this import reads, by position; any others in the file are left alone.
    columns = {name: i for i, name in enumerate(names) if name in (*REQUIRED, *OPTIONAL)}
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
    raw = dict.fromkeys(OPTIONAL, "")  # an optional column the file lacks is empty
    size = len(values)
    for name, index in columns.items():
        # PostgreSQL refuses NUL in text: one in a name would fail the batch at every retry.
        raw[name] = values[index].replace("\x00", "").strip() if index < size else ""
    for name in REQUIRED:
        if not raw[name]:
            return name, Reason.MISSING
    for name, limit in MAX_LENGTH.items():
        if len(raw[name]) > limit:
            return name, Reason.TOO_LONG
    try:
        # The address people are matched by; a new person's is checked again, with the rest of
        # their details, by the customers service (customers_create_many).
        email = normalise_email(raw["email"])
    except ValidationError:
        return "email", Reason.BAD_EMAIL
    country = (raw["country"] or settings.HOUSE_COUNTRY).upper()
    if country not in COUNTRIES:
        country = Customer.Country.OTHER
    series = series_by_code.get(raw["series"].lower())
    if series is None:
        return "series", Reason.UNKNOWN_SERIES
    try:
        seats = int(raw["seats"])
        if not 1 <= seats <= 20:
            raise ValueError
    except ValueError:
        return "seats", Reason.BAD_NUMBER
    try:
        amount = Decimal(raw["amount"].replace(" ", "").replace(",", "."))
        # Below the price column's limit (10 digits, 2 decimals): a larger value would fail
        # the whole batch at the INSERT, and every retry with it.
        if not amount.is_finite() or not 0 <= amount < AMOUNT_LIMIT:
            raise ValueError
        amount = amount.quantize(Decimal("0.01"))
    except (ValueError, InvalidOperation):
        return "amount", Reason.BAD_NUMBER
    try:
        purchased_on = _date(raw["purchased_on"])
        # Not in the future (a typo such as 9999-12-31 would also fail the batch at every retry:
        # the end of its financial year is past the last date Python knows).
        if not date(1900, 1, 1) <= purchased_on <= timezone.localdate() + timedelta(days=1):
            raise ValueError
    except ValueError:
        return "purchased_on", Reason.BAD_DATE
    language = raw["language"].lower()[:2]
    language = {"no": "nb"}.get(language, language)
    if language not in dict(settings.LANGUAGES):
        language = LANGUAGE_OF_COUNTRY.get(country, settings.LANGUAGE_CODE)
    fields = {
        "first_name": " ".join(raw["first_name"].split()),
        "last_name": " ".join(raw["last_name"].split()),
        "phone": raw["phone"],
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
        amount=amount,
        currency=(raw["currency"] or series.currency).upper()[:3],
        purchased_on=purchased_on,
    )


# --- The run ---------------------------------------------------------------------------------------
class Superseded(Exception):
    """Another worker has imported the batch this one was about to import."""


def import_run(*, run_id: int) -> TicketAgentImport:
    """Import the file of one run, from where an earlier attempt stopped. Safe to run twice: a
    finished run does nothing, and of two workers on one run only one imports each batch."""
    run = TicketAgentImport.objects.select_related("uploaded_by").get(pk=run_id)
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
        unreadable: list[int] = []
        try:
            for number, values in _rows(reader, unreadable):
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
    if unreadable:
        # Retrying cannot help: staff learn where the file breaks; the rows before it are in.
        failure = untranslated(
            _(
                "Row %(row)s cannot be read as CSV (a stray quote mark?): it and the rows after "
                "it were not imported."
            )
        ) % {"row": unreadable[0]}
        return _finish(run, failure=failure)
    return _finish(run)


def _rows(reader, unreadable: list[int]):
    """The rows after the header with their numbers (the header is row 1). A row the csv module
    cannot read (an opening quote never closed swallows the rest of the file until the field
    limit) ends the rows, its number appended to `unreadable`."""
    number = 1
    while True:
        number += 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error:
            unreadable.append(number)
            return
        yield number, values


def _finish(run: TicketAgentImport, *, failure: str = "") -> TicketAgentImport:
    # Not over a finished run: a second worker that started before the first one finished would
    # find the file gone and call the run failed.
    TicketAgentImport.objects.filter(pk=run.pk).exclude(status=run.Status.DONE).update(
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
    known = _known_people(emails)
    hashes = {email: suppression_hash(email) for email in emails - set(known)}
    suppressed = set(_suppressed_hashes(list(hashes.values())))
    accepted, newcomers = [], []
    for row in rows:
        person = known.get(row.email)
        if person is not None and person[1]:
            # Art. 18: only storage; the DPO decides what happens to this person's data.
            errors.append(ImportRowError(run=run, row=row.number, reason=Reason.RESTRICTED))
        elif person is None and hashes[row.email] in suppressed:
            errors.append(
                ImportRowError(run=run, row=row.number, column="email", reason=Reason.SUPPRESSED)
            )
        elif person is None:
            newcomers.append(row)
        else:
            accepted.append(row)

    # A person for every row of someone new, each validated as any other new customer is: the
    # first valid one of an address is created, its other rows then match it.
    now = timezone.now()
    created, refused = customers_create_many(
        customers=[_new_person(row, run, now=now) for row in newcomers],
        actor=run.uploaded_by,
        detail={"import": str(run.public_id)},
    )
    people = {email: pk for email, (pk, _restricted) in known.items()}
    people.update({person.email: person.pk for person in created})
    for index, row in enumerate(newcomers):
        error = refused.get(index)
        if error is None or _already_registered(error):
            accepted.append(row)
        else:
            column, reason = _reason(error)
            errors.append(ImportRowError(run=run, row=row.number, column=column, reason=reason))
    missing = {row.email for row in accepted} - set(people)
    if missing:
        # Registered by someone else at the same moment (a signup): matched, not created.
        people.update(Customer.objects.filter(email__in=missing).values_list("email", "pk"))
    # (Should one still be missing, its rows are left unbooked rather than failing the batch at
    # every retry.)
    accepted = sorted((row for row in accepted if row.email in people), key=lambda r: r.number)

    created_pks = {person.pk for person in created}
    matched = {people[row.email] for row in accepted} - created_pks
    _book(run, accepted, people, agent, now=now)
    if matched:
        customers_start_relationship(
            customers=Customer.objects.filter(pk__in=matched),
            on=timezone.localdate(),
            actor=run.uploaded_by,
        )
    copy_insert([SourceNotice(customer=person, run=run, source=run.agent) for person in created])
    ImportRowError.objects.bulk_create(errors)
    TicketAgentImport.objects.filter(pk=run.pk).update(
        rows_done=F("rows_done") + len(batch),
        created_count=F("created_count") + len(created),
        matched_count=F("matched_count") + len(matched),
        booked_count=F("booked_count") + len(accepted),
        rejected_count=F("rejected_count") + len(errors),
    )


def _known_people(emails: set[str]) -> dict[str, tuple[int, bool]]:
    """{email: (pk, restricted)} of the people the register already holds."""
    people = Customer.objects.filter(email__in=emails)
    return {
        email: (pk, restricted_at is not None)
        for pk, email, restricted_at in people.values_list("pk", "email", "restricted_at")
    }


def _suppressed_hashes(hashes):
    return Suppression.objects.filter(email_hash__in=hashes).values_list("email_hash", flat=True)


def _new_person(row: Row, run, *, now) -> Customer:
    return Customer(
        email=row.email,
        source=Customer.Source.TICKET_AGENT,
        source_detail=run.agent[:100],
        kind=Customer.Kind.CUSTOMER,
        relationship_started_on=row.purchased_on,
        last_activity_at=now,
        **row.fields,
    )


def _already_registered(error: ValidationError) -> bool:
    return any(e.code == "duplicate_email" for e in error.error_dict.get("email", []))


# The file's name for a customer's field, where the two differ.
COLUMN_OF_FIELD = {"preferred_language": "language"}


def _reason(error: ValidationError) -> tuple[str, str]:
    """The column and the reason to report for a person the customers service refused: its first
    field in error (the model's order of fields, which is the file's)."""
    field, field_errors = next(iter(error.error_dict.items()))
    column = COLUMN_OF_FIELD.get(field, field)
    if any(e.code == "max_length" for e in field_errors):
        return column, Reason.TOO_LONG
    if field == "email":
        return column, Reason.BAD_EMAIL
    if field == "phone":
        return column, Reason.BAD_PHONE
    return column, Reason.INVALID


def _book(run, rows: list[Row], people: dict[str, int], agent: str, *, now) -> None:
    """An order (the accounting record), its payment and the subscription for every row."""
    # What depends only on the date is computed once per date.
    days = {row.purchased_on for row in rows}
    year_end = {day: accounting.financial_year_end(day) for day in days}
    noon = {day: timezone.make_aware(datetime.combine(day, time(12))) for day in days}
    orders = [
        Order(
            reference=f"{agent}:{row.order_id}",
            customer_id=people[row.email],
            # Two names of 150 make 301 characters: the record keeps the first 300.
            buyer_name=f"{row.fields['first_name']} {row.fields['last_name']}".strip()[:300],
            buyer_address=", ".join(
                part
                for part in (
                    row.fields["street_address"],
                    f"{row.fields['postal_code']} {row.fields['city']}".strip(),
                    row.fields["country"],
                )
                if part
            ),
            description=order_description(row.series, row.seats),
            amount=row.amount,
            currency=row.currency,
            ordered_on=row.purchased_on,
            channel=Order.Channel.TICKET_AGENT,
            financial_year_ends_on=year_end[row.purchased_on],
        )
        for row in rows
    ]
    copy_insert(orders, key="reference")
    copy_insert(
        [
            Payment(
                order=order,
                method=Payment.Method.TICKET_AGENT,
                amount=row.amount,
                currency=row.currency,
                paid_on=row.purchased_on,
                financial_year_ends_on=year_end[row.purchased_on],
                reference=run.agent[:64],
            )
            for row, order in zip(rows, orders, strict=True)
            if row.amount > 0
        ]
    )
    copy_insert(
        [
            SeasonSubscription(
                reference=new_reference(),
                customer_id=people[row.email],
                series=row.series,
                seats=row.seats,
                price=row.amount,
                currency=row.currency,
                channel=Order.Channel.TICKET_AGENT,
                booked_at=noon[row.purchased_on],
                ends_on=row.series.season.ends_on,
                order=order,
                # The agent told the person about the booking; the house has nothing to confirm.
                confirmation_sent_at=now,
            )
            for row, order in zip(rows, orders, strict=True)
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
