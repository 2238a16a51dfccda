"""The erasure journal: what makes an erasure survive the restore of a database backup.

Every Art. 17 erasure adds an entry of keyed hashes (the person's public id and address under
BLIND_INDEX_KEY), in the database with the erasure itself and then, by a task, in an append-only
file outside the database (ERASURE_JOURNAL_PATH), since a restore rolls the table back too. After a
restore, `reapply` reads both and erases again every person the backup brought back, and the rows
that hold an erased address themselves (a privacy request, which outlives the person) made before
the erasure. Retention purges need no journal: their rules are dates, and the next run finds the same
rows expired.
"""

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..email_address import normalise_email
from ..encryption import blind_index
from ..models import ErasureJournalEntry
from ..queue import enqueue_on_commit
from . import erasure
from .map import Erasure, declarations
from .person import Right, exercise_right, people

logger = logging.getLogger(__name__)

# Rows read per query when the register is searched for people a restore brought back.
_SCAN_BATCH = 5000


def person_hash(public_id) -> str:
    return blind_index(str(public_id), purpose="erasure_journal_person")


def email_hash(email: str) -> str:
    return blind_index(normalise_email(email), purpose="erasure_journal_email")


def record(person, *, now: datetime) -> ErasureJournalEntry:
    """Journal the erasure of `person`, in the erasure's own transaction."""
    from ..tasks import write_journal_task  # the tasks module imports this one

    entry = ErasureJournalEntry.objects.create(
        erased_at=now,
        person_hash=person_hash(person.public_id),
        email_hash=email_hash(person.email),
    )
    enqueue_on_commit(write_journal_task)
    return entry


def journal_path() -> Path:
    return Path(settings.ERASURE_JOURNAL_PATH)


def write_pending() -> int:
    """Append the entries not yet in the file; returns how many. Safe to run twice at once: the
    rows are claimed with SKIP LOCKED, and a line written twice is read once (entries have ids)."""
    written = 0
    while True:
        with transaction.atomic():
            entries = list(
                ErasureJournalEntry.objects.select_for_update(skip_locked=True)
                .filter(written_at__isnull=True)
                .order_by("erased_at", "id")[:1000]
            )
            if not entries:
                return written
            _append([_line(entry) for entry in entries])
            ErasureJournalEntry.objects.filter(pk__in=[e.pk for e in entries]).update(
                written_at=timezone.now()
            )
            written += len(entries)


def _append(lines: list[dict]) -> None:
    if not lines:
        return
    path = journal_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as journal:
        # A crash may have torn the last line: the next entry must not be glued onto it.
        if journal.tell() > 0:
            journal.seek(journal.tell() - 1)
            if journal.read(1) != "\n":
                journal.write("\n")
        for line in lines:
            journal.write(json.dumps(line) + "\n")
        journal.flush()
        os.fsync(journal.fileno())


def _line(entry: ErasureJournalEntry) -> dict:
    return {
        "id": str(entry.id),
        "erased_at": entry.erased_at.isoformat(),
        "person": entry.person_hash,
        "email": entry.email_hash,
    }


def read_file(path: Path | None = None) -> list[dict]:
    """The file's entries; a line torn by a crash while writing is skipped (its entry is still in
    the table, unwritten, and is appended again)."""
    path = path or journal_path()
    if not path.exists():
        return []
    entries = []
    with path.open(encoding="utf-8", errors="replace") as journal:
        for number, line in enumerate(journal, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                entries.append({key: entry[key] for key in ("id", "erased_at", "person", "email")})
            except (ValueError, KeyError, TypeError):
                logger.warning("erasure journal: line %d is unreadable and skipped", number)
    return entries


@dataclass(frozen=True)
class Reapplied:
    entries: int  # entries in the journal, file and table together
    restored_entries: int  # entries the table had lost (the restore rolled them back)
    people: int  # people the restore brought back, erased again
    rows: int  # rows that held an erased address again (privacy requests), erased again


def reapply(*, path: Path | None = None) -> Reapplied:
    """Erase again everyone the journal says was erased and a restored backup brought back.

    The journal is the union of the table, the file and, if given, another copy of the file
    (`path`); afterwards the table and the file each hold all of it again.
    """
    in_file = {line["id"]: line for line in read_file()}
    entries = dict(in_file)
    if path is not None and path != journal_path():
        for line in read_file(path):
            entries.setdefault(line["id"], line)
    in_table = {
        str(entry.id): entry
        for entry in ErasureJournalEntry.objects.all().iterator(chunk_size=2000)
    }
    missing = [line for key, line in entries.items() if key not in in_table]
    ErasureJournalEntry.objects.bulk_create(
        [
            ErasureJournalEntry(
                id=line["id"],
                erased_at=parse_datetime(line["erased_at"]),
                person_hash=line["person"],
                email_hash=line["email"],
                # Entries only another copy had are written to the file below.
                written_at=timezone.now() if line["id"] in in_file else None,
            )
            for line in missing
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    # The file gets back what only the table had (a file lost, or replaced by an older copy).
    only_in_table = [entry for key, entry in in_table.items() if key not in in_file]
    _append([_line(entry) for entry in only_in_table])
    ErasureJournalEntry.objects.filter(pk__in=[e.pk for e in only_in_table]).update(
        written_at=timezone.now()
    )
    for key, entry in in_table.items():
        entries.setdefault(key, _line(entry))
    returned = _erase_returned_people({line["person"] for line in entries.values()})
    erased_at = {}
    for line in entries.values():
        when = parse_datetime(line["erased_at"])
        erased_at[line["email"]] = max(when, erased_at.get(line["email"], when))
    rows = sum(_erase_returned_rows(declaration, erased_at) for declaration in declarations())
    write_pending()
    result = Reapplied(
        entries=len(entries), restored_entries=len(missing), people=returned, rows=rows
    )
    logger.info("erasures re-applied: %s", result)
    return result


def _erase_returned_people(hashes: set[str]) -> int:
    """The journal cannot be reversed: hash every person's public id and compare, in batches."""
    if not hashes:
        return 0
    erased, last = 0, None
    while True:
        page = people().order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        rows = list(page.values_list("pk", "public_id")[:_SCAN_BATCH])
        if not rows:
            return erased
        last = rows[-1][0]
        returned = [pk for pk, public_id in rows if person_hash(public_id) in hashes]
        for person in people().filter(pk__in=returned):
            with transaction.atomic():
                # The suppression list too may have been rolled back: the hooks add it again.
                # Rows the map spares (a request still owed its answer) are spared again.
                exercise_right(Right.ERASURE, person=person)
                erasure.erase_people(people().filter(pk=person.pk), now=timezone.now())
            erased += 1


def _erase_returned_rows(declaration, erased_at: dict[str, datetime]) -> int:
    """Rows that hold an address themselves (`Declaration.addressed`: a privacy request outlives
    the person, anonymised) and that a restore brought back: erased again as their declaration
    says, if they were made before the erasure (the same address may write to us again later).
    Rows the declaration spares keep their address until their answer is sent."""
    addressed = declaration.addressed
    if addressed is None or not erased_at:
        return 0
    model = declaration.model
    candidates = model._base_manager.exclude(**{addressed.address: ""}).order_by("pk")
    if declaration.erasure_spares is not None:
        candidates = candidates.exclude(declaration.erasure_spares)
    erased, last = 0, None
    while True:
        page = candidates if last is None else candidates.filter(pk__gt=last)
        rows = list(page.values_list("pk", addressed.address, addressed.made_at)[:_SCAN_BATCH])
        if not rows:
            return erased
        last = rows[-1][0]
        returned = model._base_manager.filter(
            pk__in=[
                pk
                for pk, address, made_at in rows
                if (when := erased_at.get(email_hash(address))) is not None and made_at <= when
            ]
        )
        if declaration.erasure == Erasure.ANONYMISE:
            values = {
                name: value() if callable(value) else value
                for name, value in declaration.anonymise.items()
            }
            erased += returned.update(**values)
        elif declaration.erasure == Erasure.DELETE:
            erased += erasure.delete_rows(returned)
