"""No personal data in a log line: a filter for the handlers that redacts what slips through.

The code logs ids and counts, never personal values; this catches what others write: exception
text above all. PostgreSQL's messages quote the values they are about (`DETAIL:  Key
(lower(email::text))=(ase@example.no) already exists.`, `Failing row contains (...)`), and Django's
request logger prints the exception of every 500 with its traceback.

Redacted: email addresses, phone numbers in E.164, Swedish personnummer and Norwegian fødselsnummer
shapes, Norwegian account numbers, the tokens of signed links, and whatever a PostgreSQL DETAIL line
quotes.
"""

import logging
import re

_PATTERNS = [
    # The token of a signed link (concerthouse/signed_links.py, Django's signing: payload:time:
    # signature), which Django's request logger prints with the path of every 4xx answer. It is
    # the key to the person's page (their preferences, their data package) until it expires, and
    # its payload, readable by anyone, is their public id. First, before a shorter pattern takes
    # a piece of it.
    (re.compile(r"\.?[\w-]+:[0-9A-Za-z]+:[\w-]{20,}(?![\w-])"), "[signed link]"),
    # PostgreSQL's DETAIL lines: whatever the key or the row holds, whatever its shape.
    (re.compile(r"(Key \(.*?\))=\(.*\)(?= already| is| conflicts)"), r"\1=(…)"),
    (re.compile(r"(Failing row contains )\(.*\)"), r"\1(…)"),
    (re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    (re.compile(r"(?<![\w+])\+[1-9]\d{6,14}\b"), "[phone]"),
    # Personnummer (YYMMDD-NNNN, YYYYMMDDNNNN, with - or +) and fødselsnummer (DDMMYY NNNNN).
    # (Not within a longer token: the last group of a UUID may be twelve digits.)
    (re.compile(r"(?<![\w-])(?:\d{2})?\d{6}[-+ ]?\d{4}(?![\w-])"), "[national id]"),
    (re.compile(r"(?<![\w-])\d{6} ?\d{5}(?![\w-])"), "[national id]"),
    # Norwegian kontonummer, 1234.56.78901 or 1234 56 78901.
    (re.compile(r"\b\d{4}[. ]\d{2}[. ]\d{5}\b"), "[account]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactPersonalData(logging.Filter):
    """On a handler, so that it sees every record that reaches it, propagated ones included. It
    rewrites the record: the message with its arguments, the exception text and the stack."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the message: keep the bare message
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
