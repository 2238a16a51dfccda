"""The inbound mailbox: bounces, complaints and unsubscribe mails, read over IMAP and acted on once.

Everything that comes back to the house's mail arrives in one mailbox (`INBOUND_MAIL_URL`): the
delivery status notifications (RFC 3464) and automatic replies sent to a message's return path
(VERP, concerthouse/return_path.py), the spam complaints (ARF, RFC 5965) of the mailbox providers'
feedback loops, and the mails to the `mailto:` of `List-Unsubscribe`. The reader:

1. lists the mailbox's messages and fetches them in batches (`UID FETCH` of a range; a message
   above `MAX_BYTES` is not fetched at all, and is left for staff);
2. reads each with the standard library's email package (`classify`: no database, no network);
3. claims the batch in one transaction: an `InboundMessage` row per message, unique per mailbox,
   UIDVALIDITY and UID, inserted with this batch's claim; only rows with its own claim are acted on,
   in the same transaction, set-wise where it can (the bounces);
4. after the commit, moves each message to the folder of its outcome (`UID MOVE`, a range per
   folder). Nothing is ever deleted: what the reader does not understand goes to staff's folder.

Two readers at once, or a re-run after a crash between commit and move, act once: the second one's
claim of a row already inserted does nothing, and it only moves the message where the row says.
The mailbox itself is the queue, so a lost task or a broker that is down delays the work and loses
none of it.
"""

import email
import email.policy
import hashlib
import imaplib
import logging
import re
import ssl
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from concerthouse import return_path
from concerthouse.email_address import normalise_email
from consent.models import Channel, Purpose
from customers.models import Customer

from . import links, services
from .models import Delivery, InboundMessage

logger = logging.getLogger(__name__)

Kind = InboundMessage.Kind
Outcome = InboundMessage.Outcome

# A report with the whole original message is tens of kilobytes; anything this large is not one.
MAX_BYTES = 5 * 1024 * 1024

# The folder each outcome's messages are moved to (with INBOUND_MAIL_FOLDER_PREFIX).
FOLDERS = {
    Outcome.HARD_BOUNCE: "Hard-bounces",
    Outcome.SOFT_BOUNCE: "Soft-bounces",
    Outcome.COMPLAINT: "Complaints",
    Outcome.UNSUBSCRIBED: "Unsubscribed",
    Outcome.NO_ACTION: "No-action",
    Outcome.STAFF: "For-staff",
}

# RFC 3463 enhanced status codes, and the three-digit SMTP replies of servers that give none.
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY = re.compile(r"\b([45])\d\d\b")
# A token made by django.core.signing.dumps: base64 value, timestamp, signature.
_SIGNED = re.compile(r"[A-Za-z0-9_-]{8,}:[A-Za-z0-9_-]{4,}:[A-Za-z0-9_-]{20,}")
_AUTO_SUBJECT = re.compile(
    r"^(auto(matic)?[ -]?reply|out of (the )?office|autosvar|automatisk svar|fr[åa]nvaro|"
    r"frav[æe]r|abwesenheit|vacation)",
    re.IGNORECASE,
)


# --- Reading one message -----------------------------------------------------------------------------
@dataclass
class Parsed:
    """What one message is and what it asks for; no address is kept but the one to look up."""

    kind: str
    outcome: str
    reason: str = ""
    message_id_hash: str = ""
    token: str | None = None  # of a return path found in it
    bounce: str = ""  # Delivery.Bounce
    status: str = ""
    diagnostic: str = ""
    recipient: str = ""  # the Final-Recipient or Original-Rcpt-To, to check against the token
    unsubscribe: tuple[str, str] | None = None  # (public id, list code) from a valid token
    extra: dict = field(default_factory=dict)


def classify(raw: bytes) -> Parsed:
    """Read a message; never raises. Anything malformed, unknown or suspicious is for staff."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        parsed = _classify(message)
        parsed.message_id_hash = _message_id_hash(message, raw)
        return parsed
    except Exception as error:  # a hostile message must not stop the reader
        logger.warning("inbound message unreadable: %s", type(error).__name__)
        return Parsed(
            kind=Kind.OTHER,
            outcome=Outcome.STAFF,
            reason="unreadable",
            message_id_hash=hashlib.sha256(raw).hexdigest(),
        )


def _message_id_hash(message: Message, raw: bytes) -> str:
    message_id = str(message.get("Message-ID", "") or "").strip()
    return hashlib.sha256(message_id.encode() if message_id else raw).hexdigest()


def _classify(message: Message) -> Parsed:
    report_type = (message.get_param("report-type", header="content-type") or "").lower()
    content_type = message.get_content_type()
    if content_type == "multipart/report" and report_type == "feedback-report":
        return _complaint(message)
    if content_type == "multipart/report" and report_type == "delivery-status":
        return _dsn(message)
    if message.get("X-Failed-Recipients"):  # Exim's plain-text bounce, without a report part
        return _plain_bounce(message)
    if not _auto_submitted(message) and (
        _addressed_to(message, settings.NEWSLETTER_UNSUBSCRIBE_MAILTO) or _signed_in(message)
    ):
        return _unsubscribe_mail(message)
    if _auto_submitted(message):
        return Parsed(kind=Kind.AUTO_REPLY, outcome=Outcome.NO_ACTION, reason="auto_reply")
    return Parsed(kind=Kind.OTHER, outcome=Outcome.STAFF, reason="not_understood")


def _text(value) -> str:
    """A header's text, decoded whatever its charset; undecodable bytes replaced."""
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (LookupError, UnicodeError, ValueError, TypeError):
        return str(value).encode("ascii", "replace").decode()


def _auto_submitted(message: Message) -> bool:
    auto = _text(message.get("Auto-Submitted")).strip().lower()
    return (
        (auto and auto != "no")
        or message.get("X-Autoreply") is not None
        or message.get("X-Autorespond") is not None
        or _text(message.get("Precedence")).strip().lower() in ("auto_reply", "bulk", "junk")
        or bool(_AUTO_SUBJECT.match(_text(message.get("Subject")).strip()))
    )


_RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To", "Cc")


def _recipients(message: Message) -> list[str]:
    values = [_text(v) for name in _RECIPIENT_HEADERS for v in message.get_all(name, [])]
    return [address for _name, address in getaddresses(values) if address]


def _addressed_to(message: Message, address: str) -> bool:
    address = address.strip().lower()
    return bool(address) and any(a.strip().lower() == address for a in _recipients(message))


def _return_path_token(message: Message, *originals: Message | str | None) -> str | None:
    """Ours, from the addresses the message came to, else from the original message it returns
    (its Return-Path, added where it was delivered: how an ARF report names it)."""
    for address in _recipients(message):
        if token := return_path.find(address):
            return token
    for original in originals:
        if original is None:
            continue
        text = original if isinstance(original, str) else _headers_text(original)
        if token := return_path.find(text):
            return token
    return None


def _headers_text(message: Message) -> str:
    return "\n".join(f"{name}: {_text(value)}" for name, value in message.items())


def _parts(message: Message, content_type: str) -> Iterator[Message]:
    for part in message.walk():
        if part.get_content_type() == content_type:
            yield part


def _original(message: Message) -> Message | str | None:
    """The returned original: a message/rfc822 part, or the text of a text/rfc822-headers part."""
    for part in _parts(message, "message/rfc822"):
        payload = part.get_payload()
        if isinstance(payload, list) and payload:
            return payload[0]
    for part in _parts(message, "text/rfc822-headers"):
        return _decoded(part)
    return None


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return payload.decode("utf-8", errors="replace")


def _fields(part: Message) -> list[Message]:
    """The field groups of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [group for group in payload if isinstance(group, Message)]
    text = payload if isinstance(payload, str) else ""
    return [email.message_from_string(block) for block in re.split(r"\r?\n\r?\n", text) if block]


def _address_of(value: str) -> str:
    """'rfc822; someone@example.org' -> 'someone@example.org'."""
    return _text(value).partition(";")[2].strip().strip("<>") or _text(value).strip().strip("<>")


def _bounce_of(status: str, diagnostic: str) -> str:
    """Hard when the address itself is refused for good: 5.0.x (undefined; servers use it for
    unknown users), 5.1.x (bad mailbox or domain), 5.2.1 (mailbox disabled), 5.4.x (no route to the
    domain). Everything else that failed is soft: 4.x.x, a full mailbox (5.2.2), a message too
    large (5.2.3), the receiver's system (5.3.x), protocol (5.5.x), content (5.6.x) and policy
    (5.7.x, such as being blocked as spam): the address exists and may take the next message."""
    klass, subject, detail = status.split(".")
    if klass != "5":
        return Delivery.Bounce.SOFT
    if subject in ("0", "1", "4") or (subject, detail) == ("2", "1"):
        return Delivery.Bounce.HARD
    return Delivery.Bounce.SOFT


def _status_from(text: str) -> str:
    if match := _STATUS.search(text):
        return ".".join(match.groups())
    if match := _REPLY.search(text):
        return f"{match.group(1)}.0.0"
    return ""


def _dsn(message: Message) -> Parsed:
    groups = [
        group for part in _parts(message, "message/delivery-status") for group in _fields(part)
    ]
    recipients = [group for group in groups if group.get("Action") or group.get("Final-Recipient")]
    if not recipients:
        return Parsed(kind=Kind.DSN, outcome=Outcome.STAFF, reason="dsn_without_recipient")
    failed = [g for g in recipients if _text(g.get("Action")).strip().lower() == "failed"]
    if not failed:
        action = _text(recipients[0].get("Action")).strip().lower() or "unknown"
        # Delayed, delivered, relayed, expanded: news, not a failure.
        return Parsed(kind=Kind.DSN, outcome=Outcome.NO_ACTION, reason=f"dsn_{action}"[:64])
    group = failed[0]
    diagnostic = " ".join(_text(group.get("Diagnostic-Code")).split())
    status = _status_from(_text(group.get("Status"))) or _status_from(diagnostic)
    if not status or status.startswith("2"):
        return Parsed(kind=Kind.DSN, outcome=Outcome.STAFF, reason="dsn_without_status")
    return _bounce(
        message,
        status=status,
        diagnostic=diagnostic.partition(";")[2].strip() or diagnostic,
        recipient=_address_of(
            group.get("Final-Recipient") or group.get("Original-Recipient") or ""
        ),
    )


def _plain_bounce(message: Message) -> Parsed:
    """Exim's bounce without a report part: the failed address in X-Failed-Recipients, the SMTP
    reply in the text."""
    body = next((_decoded(p) for p in _parts(message, "text/plain")), "")
    status = _status_from(body)
    if not status or status.startswith("2"):
        return Parsed(kind=Kind.DSN, outcome=Outcome.STAFF, reason="dsn_without_status")
    line = next((line for line in body.splitlines() if status in line or "550" in line), "")
    return _bounce(
        message,
        status=status,
        diagnostic=" ".join(line.split()),
        recipient=_text(message.get("X-Failed-Recipients")).split(",")[0].strip(),
    )


def _bounce(message: Message, *, status: str, diagnostic: str, recipient: str) -> Parsed:
    bounce = _bounce_of(status, diagnostic)
    return Parsed(
        kind=Kind.DSN,
        outcome=Outcome.HARD_BOUNCE if bounce == Delivery.Bounce.HARD else Outcome.SOFT_BOUNCE,
        token=_return_path_token(message, _original(message)),
        bounce=bounce,
        status=status,
        diagnostic=diagnostic,
        recipient=recipient,
    )


def _complaint(message: Message) -> Parsed:
    report = next(
        (group for part in _parts(message, "message/feedback-report") for group in _fields(part)),
        None,
    )
    if report is None:
        return Parsed(kind=Kind.COMPLAINT, outcome=Outcome.STAFF, reason="arf_without_report")
    feedback_type = _text(report.get("Feedback-Type")).strip().lower()
    if feedback_type not in ("abuse", "fraud"):
        # not-spam, virus, other: nothing the person asked of us.
        return Parsed(
            kind=Kind.COMPLAINT, outcome=Outcome.STAFF, reason=f"arf_{feedback_type}"[:64]
        )
    return Parsed(
        kind=Kind.COMPLAINT,
        outcome=Outcome.COMPLAINT,
        # The report's Original-Mail-From is the return path; the returned message has it too.
        token=_return_path_token(message, _headers_text(report), _original(message)),
        recipient=_text(report.get("Original-Rcpt-To")).strip().strip("<>"),
    )


def _signed_in(message: Message) -> bool:
    return bool(_SIGNED.search(_text(message.get("Subject"))))


def _unsubscribe_mail(message: Message) -> Parsed:
    """The token rides in the subject (links.unsubscribe_mailto); some clients quote it in the
    body, or percent-encode it."""
    places = [_text(message.get("Subject"))]
    places += [_decoded(part)[:10_000] for part in _parts(message, "text/plain")][:1]
    candidates = [m.group(0) for text in places for m in _SIGNED.finditer(unquote(text))]
    if not candidates:
        return Parsed(kind=Kind.UNSUBSCRIBE, outcome=Outcome.STAFF, reason="no_token")
    reason = "forged_token"
    max_age = settings.NEWSLETTER_MAIL_UNSUBSCRIBE_DAYS * 24 * 60 * 60
    for token in candidates:
        try:
            public_id, code = signing.loads(token, salt=links.MAIL_UNSUBSCRIBE, max_age=max_age)
        except signing.SignatureExpired:
            reason = "expired_token"
        except (signing.BadSignature, ValueError, TypeError):
            continue
        else:
            return Parsed(
                kind=Kind.UNSUBSCRIBE,
                outcome=Outcome.UNSUBSCRIBED,
                unsubscribe=(str(public_id), str(code)),
            )
    return Parsed(kind=Kind.UNSUBSCRIBE, outcome=Outcome.STAFF, reason=reason)


# --- Acting on a batch ---------------------------------------------------------------------------------
def _resolve(parsed: Parsed) -> tuple[int | None, Customer | None, str]:
    """The delivery and the person a bounce or complaint is about, for certain, or a reason why
    not: the return path's signature must hold, and one made for an address must name the
    address the report gives."""
    if not parsed.token:
        return None, None, "no_return_path"
    try:
        path = return_path.read(parsed.token)
    except return_path.InvalidReturnPath:
        return None, None, "forged_return_path"
    if path.delivery_id is not None:
        delivery = Delivery.objects.select_related("customer").filter(pk=path.delivery_id).first()
        if delivery is None:
            return None, None, "delivery_gone"
        return delivery.pk, delivery.customer, ""
    if not parsed.recipient or not path.names(parsed.recipient):
        return None, None, "recipient_not_certain"
    try:
        person = Customer.objects.with_email(normalise_email(parsed.recipient)).first()
    except Exception:
        person = None
    return None, person, "" if person else "person_gone"


def _act_on_one(uid: int, parsed: Parsed, changed: dict, bounces: list) -> None:
    if parsed.outcome in (Outcome.HARD_BOUNCE, Outcome.SOFT_BOUNCE):
        if parsed.token and not parsed.token.startswith("a."):
            # Campaign deliveries: checked here, recorded set-wise by the caller.
            try:
                path = return_path.read(parsed.token)
            except return_path.InvalidReturnPath:
                changed[uid] = (Outcome.STAFF, "forged_return_path")
                return
            bounces.append((uid, path.delivery_id, parsed))
            return
        _delivery, person, reason = _resolve(parsed)
        if person is None:
            changed[uid] = (Outcome.STAFF, reason)
        elif parsed.bounce == Delivery.Bounce.HARD:
            services.person_bounced_hard(customer=person)
        else:
            changed[uid] = (Outcome.SOFT_BOUNCE, "not_counted")
    elif parsed.outcome == Outcome.COMPLAINT:
        delivery_id, person, reason = _resolve(parsed)
        if person is None:
            changed[uid] = (Outcome.STAFF, reason)
        else:
            services.complaint_record(
                customer=person,
                delivery_id=delivery_id,
                evidence=f"ARF report {parsed.message_id_hash[:16]}",
            )
    elif parsed.outcome == Outcome.UNSUBSCRIBED:
        public_id, code = parsed.unsubscribe
        person = Customer.objects.filter(public_id=public_id).first()
        purpose = Purpose.objects.filter(code=code).first()
        if person is None or purpose is None:
            changed[uid] = (Outcome.NO_ACTION, "person_or_list_gone")
        else:
            services.unsubscribe(
                customer=person,
                purpose=purpose,
                channel=Channel.MAIL_UNSUBSCRIBE,
                evidence=f"List-Unsubscribe mail {parsed.message_id_hash[:16]}",
            )


def _act(batch: list[tuple[int, Parsed]]) -> dict[int, tuple[str, str]]:
    """Act on a claimed batch; returns each UID's final outcome and reason where it changed."""
    changed: dict[int, tuple[str, str]] = {}
    bounces = []
    for uid, parsed in batch:
        try:
            # A savepoint each: one message whose action fails is left for staff, and neither
            # blocks the batch nor comes back at every run.
            with transaction.atomic():
                _act_on_one(uid, parsed, changed, bounces)
        except Exception as error:
            logger.error("inbound message %s: action failed: %s", uid, type(error).__name__)
            changed[uid] = (Outcome.STAFF, "action_failed")
    if bounces:
        known = set(
            Delivery.objects.filter(pk__in=[d for _uid, d, _p in bounces]).values_list(
                "pk", flat=True
            )
        )
        for uid, delivery_id, _parsed in bounces:
            if delivery_id not in known:
                changed[uid] = (Outcome.NO_ACTION, "delivery_gone")
        services.bounces_record(
            (delivery_id, p.bounce, p.status, p.diagnostic)
            for _uid, delivery_id, p in bounces
            if delivery_id in known
        )
    return changed


def process_batch(*, mailbox: str, uidvalidity: int, messages: dict[int, Parsed]) -> dict[int, str]:
    """Claim and act on a batch in one transaction; returns the outcome of each UID this caller
    is to move: those it claimed, and those an earlier reader claimed, acted on and never moved."""
    claim = uuid.uuid4()
    with transaction.atomic():
        InboundMessage.objects.bulk_create(
            [
                InboundMessage(
                    mailbox=mailbox,
                    uidvalidity=uidvalidity,
                    uid=uid,
                    message_id_hash=parsed.message_id_hash,
                    kind=parsed.kind,
                    outcome=parsed.outcome,
                    reason=parsed.reason,
                    claim=claim,
                )
                for uid, parsed in messages.items()
            ],
            ignore_conflicts=True,
        )
        rows = InboundMessage.objects.filter(
            mailbox=mailbox, uidvalidity=uidvalidity, uid__in=list(messages)
        ).values_list("uid", "outcome", "claim", "moved", "processed_at")
        # Another reader's rows are its to move, unless it has been silent too long to be alive
        # (it died between its commit and its move): then this one moves them, acting on nothing.
        abandoned = timezone.now() - timedelta(seconds=settings.INBOUND_MAIL_TIMEOUT * 5)
        outcomes = {
            uid: outcome
            for uid, outcome, row_claim, moved, at in rows
            if row_claim == claim or (not moved and at < abandoned)
        }
        mine = [
            (uid, messages[uid]) for uid, _outcome, row_claim, _m, _at in rows if row_claim == claim
        ]
        changed = _act(sorted(mine, key=lambda item: item[0]))
        by_change = defaultdict(list)
        for uid, change in changed.items():
            by_change[change].append(uid)
            outcomes[uid] = change[0]
        for (outcome, reason), uids in by_change.items():
            InboundMessage.objects.filter(
                mailbox=mailbox, uidvalidity=uidvalidity, uid__in=uids
            ).update(outcome=outcome, reason=reason)
    return outcomes


# --- The mailbox -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MailboxAddress:
    host: str
    port: int
    user: str
    password: str
    mailbox: str

    @classmethod
    def from_url(cls, url: str) -> "MailboxAddress":
        parts = urlsplit(url)
        if parts.scheme != "imaps":
            raise ValueError("INBOUND_MAIL_URL must be imaps://user:password@host:port/mailbox")
        return cls(
            host=parts.hostname or "",
            port=parts.port or 993,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            mailbox=unquote(parts.path.lstrip("/")) or "INBOX",
        )


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _uid_set(uids) -> str:
    """1,2,3,7,8 -> '1:3,7:8': ranges keep a command short for thousands of messages."""
    ranges, uids = [], sorted(uids)
    start = previous = uids[0]
    for uid in uids[1:]:
        if uid != previous + 1:
            ranges.append(f"{start}:{previous}" if start != previous else str(start))
            start = uid
        previous = uid
    ranges.append(f"{start}:{previous}" if start != previous else str(start))
    return ",".join(ranges)


class Mailbox:
    """The mailbox over IMAP with TLS (imaplib.IMAP4_SSL)."""

    def __init__(self, address: MailboxAddress):
        self.address = address
        context = ssl.create_default_context(cafile=settings.INBOUND_MAIL_CA_FILE or None)
        self.imap = imaplib.IMAP4_SSL(
            address.host, address.port, ssl_context=context, timeout=settings.INBOUND_MAIL_TIMEOUT
        )
        self.imap.login(address.user, address.password)
        # Servers announce more once signed in (RFC 6851's MOVE among them).
        capabilities = self._check(self.imap.capability())[0].decode().upper().split()
        self.can_move = "MOVE" in capabilities
        self._check(self.imap.select(_quoted(address.mailbox)))
        self.uidvalidity = int(self.imap.response("UIDVALIDITY")[1][0])
        self.folders = {
            outcome: f"{settings.INBOUND_MAIL_FOLDER_PREFIX}{name}"
            for outcome, name in FOLDERS.items()
        }
        for folder in self.folders.values():
            self.imap.create(_quoted(folder))  # NO when it exists: fine

    @staticmethod
    def _check(answer):
        status, data = answer
        if status != "OK":
            raise imaplib.IMAP4.error(f"IMAP answered {status}")
        return data

    def uids(self) -> list[int]:
        data = self._check(self.imap.uid("SEARCH", None, "ALL"))
        return [int(uid) for uid in (data[0] or b"").split()]

    def _fetch(self, uids, item: str) -> list:
        status, data = self.imap.uid("FETCH", _uid_set(uids), f"(UID {item})")
        # NO with data: some were expunged by another reader meanwhile; the rest came back.
        if status not in ("OK", "NO"):
            raise imaplib.IMAP4.error(f"IMAP answered {status}")
        return [item for item in data if item is not None]

    def sizes(self, uids) -> dict[int, int]:
        sizes = {}
        for line in self._fetch(uids, "RFC822.SIZE"):
            text = line.decode() if isinstance(line, bytes) else ""
            uid, size = re.search(r"UID (\d+)", text), re.search(r"RFC822\.SIZE (\d+)", text)
            if uid and size:
                sizes[int(uid.group(1))] = int(size.group(1))
        return sizes

    def bodies(self, uids) -> dict[int, bytes]:
        bodies = {}
        for item in self._fetch(uids, "BODY.PEEK[]"):
            if isinstance(item, tuple) and (uid := re.search(rb"UID (\d+)", item[0])):
                bodies[int(uid.group(1))] = item[1]
        return bodies

    def move(self, uids, outcome: str) -> None:
        if not uids:
            return
        folder, uid_set = _quoted(self.folders[outcome]), _uid_set(uids)
        for _attempt in range(2):
            if self.can_move:
                status, _data = self.imap.uid("MOVE", uid_set, folder)
            else:  # RFC 4315's UID EXPUNGE removes only these, not others marked deleted
                status, _data = self.imap.uid("COPY", uid_set, folder)
                if status == "OK":
                    self._check(self.imap.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)"))
                    self._check(self.imap.uid("EXPUNGE", uid_set))
            if status == "OK":
                return
            # Another reader moved some of them (to the same folder: the outcome is the claim
            # row's) before this session heard of it: NOOP takes in its expunges, then again.
            self.imap.noop()
        raise imaplib.IMAP4.error(f"IMAP answered {status} to a move")

    def close(self) -> None:
        try:
            self.imap.close()
            self.imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


@contextmanager
def mailbox_open(url: str | None = None):
    box = Mailbox(MailboxAddress.from_url(url or settings.INBOUND_MAIL_URL))
    try:
        yield box
    finally:
        box.close()


def mailbox_read(*, url: str | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Read the whole mailbox once; returns how many messages went to each outcome (counting
    those another reader had claimed). Nothing to do without INBOUND_MAIL_URL."""
    if not (url or settings.INBOUND_MAIL_URL):
        return {}
    batch_size = batch_size or settings.INBOUND_MAIL_BATCH_SIZE
    counts: Counter = Counter()
    with mailbox_open(url) as box:
        name = f"{box.address.user}@{box.address.host}/{box.address.mailbox}"[:200]
        uids = box.uids()
        for start in range(0, len(uids), batch_size):
            batch = uids[start : start + batch_size]
            sizes = box.sizes(batch)
            small = [uid for uid in batch if sizes.get(uid, 0) <= MAX_BYTES and uid in sizes]
            bodies = box.bodies(small) if small else {}
            messages = {}
            for uid in batch:
                if uid not in sizes:
                    continue  # gone meanwhile: another reader moved it
                if uid in bodies:
                    messages[uid] = classify(bodies[uid])
                else:
                    messages[uid] = Parsed(
                        kind=Kind.OTHER, outcome=Outcome.STAFF, reason="too_large"
                    )
            if not messages:
                continue
            outcomes = process_batch(mailbox=name, uidvalidity=box.uidvalidity, messages=messages)
            # After the commit: a crash here leaves the messages where they were, and the next
            # run only moves them, by the outcome their rows record.
            by_outcome = defaultdict(list)
            for uid, outcome in outcomes.items():
                by_outcome[outcome].append(uid)
            for outcome, moved in by_outcome.items():
                box.move(moved, outcome)
                counts[outcome] += len(moved)
            InboundMessage.objects.filter(
                mailbox=name, uidvalidity=box.uidvalidity, uid__in=list(outcomes)
            ).update(moved=True)
    return dict(counts)
