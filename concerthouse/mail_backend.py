"""The one place every outgoing message passes on its way to the SMTP server.

Django's SMTP backend, plus two things a sending house needs for its mail to be accepted and its
bounces to be understood:

- a return path of its own (VERP, concerthouse/return_path.py) for each message to one recipient
  that does not already carry one (campaign messages name their delivery themselves);
- a DKIM signature (RFC 6376, dkimpy) when `DKIM_PRIVATE_KEY` is configured, so that receivers can
  check that the mail comes from the house's domain (docs/operations.md, DNS for mail).

Settings route `EMAIL_BACKEND` here whenever the mail goes out by SMTP. The messages handed to
Django's backend are the same messages, built once: the signature is computed over the bytes that
are sent, and the built message is what the backend sends.
"""

from functools import cached_property

import dkim
from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend

from . import return_path

# Headers the signature covers: those a receiver shows or acts on (RFC 6376 section 5.4.1), and the
# list headers, so that nobody can swap the unsubscribe links of a signed message.
SIGNED_HEADERS = [
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"Reply-To",
    b"MIME-Version",
    b"Content-Type",
    b"Content-Transfer-Encoding",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"List-Id",
    b"Feedback-ID",
]


def dkim_private_key() -> bytes:
    if settings.DKIM_PRIVATE_KEY:
        return settings.DKIM_PRIVATE_KEY.replace("\\n", "\n").encode()
    if settings.DKIM_PRIVATE_KEY_FILE:
        with open(settings.DKIM_PRIVATE_KEY_FILE, "rb") as key:
            return key.read()
    return b""


def dkim_signature(data: bytes, *, private_key: bytes) -> bytes:
    """The DKIM-Signature header line (name, value, CRLF) for a message's bytes."""
    return dkim.sign(
        data,
        selector=settings.DKIM_SELECTOR.encode(),
        domain=settings.DKIM_DOMAIN.encode(),
        privkey=private_key,
        include_headers=[name for name in SIGNED_HEADERS if _has_header(data, name)],
        # Relaxed for both: a relay that re-folds a header or trims trailing spaces does not break it.
        canonicalize=(b"relaxed", b"relaxed"),
    )


def _has_header(data: bytes, name: bytes) -> bool:
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    return head.startswith(name.lower() + b":") or b"\r\n" + name.lower() + b":" in head


class _Built(EmailMessage):
    """A message already built (and signed): the backend sends exactly these bytes."""

    def __init__(self, original: EmailMessage, mime):
        super().__init__(
            from_email=original.from_email, to=original.to, cc=original.cc, bcc=original.bcc
        )
        self.encoding = original.encoding
        self._mime = mime

    def message(self, *args, **kwargs):
        return self._mime


class EmailBackend(SMTPBackend):
    @cached_property
    def private_key(self) -> bytes:
        return dkim_private_key()

    def send_messages(self, email_messages):
        return super().send_messages([self.prepare(message) for message in email_messages])

    def prepare(self, message: EmailMessage) -> EmailMessage:
        recipients = message.recipients()
        if len(recipients) == 1 and not return_path.is_return_path(message.from_email or ""):
            # The From header stays the house's; only the envelope sender changes.
            message.extra_headers.setdefault("From", message.from_email)
            message.from_email = return_path.for_address(recipients[0])
        if not (self.private_key and settings.DKIM_DOMAIN and settings.DKIM_SELECTOR):
            return message
        mime = message.message()
        data = mime.as_bytes(linesep="\r\n")
        name, _colon, value = dkim_signature(data, private_key=self.private_key).partition(b":")
        # One line, as the header is stored: the generator folds it again (whitespace in a DKIM
        # signature is not part of it, and relaxed canonicalisation ignores folding).
        mime[name.decode()] = " ".join(value.decode().split())
        return _Built(message, mime)
