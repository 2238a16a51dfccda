"""What every public form shares against abuse: rate limits, a honeypot, bounded and clean text.

The public forms are signup, the preference-link request, the booking form and the privacy-request
form (free text: `PublicForm`), and the pages behind a signed link that take a POST: the preference
centre, one-click unsubscribe and the two confirmation buttons.

- A view marked `@public_form(scope)` has its POSTs screened by `PublicFormMiddleware` before the
  CSRF check reads the body: a body over `MAX_BODY_BYTES` gets 413 unread; a body that is not clean
  text (invalid UTF-8, which Django decodes to U+FFFD, NUL and other control characters) gets 400;
  a client over PUBLIC_FORM_LIMIT_PER_CLIENT_PER_HOUR gets the 429 page.
- A `PublicForm`'s view is marked `@public_form(scope, limit_clients=False)`: its
  `outcome(request, scope=...)` counts the client itself, and for a valid submission the address
  in the same round trip to the cache. It says what to do with the submission: an invalid one
  shows its errors; one with the honeypot filled, or for an address past
  PUBLIC_FORM_LIMIT_PER_ADDRESS_PER_DAY, is answered as a success while nothing is stored or sent,
  so that neither a robot nor the limit learns anything, least of all whether an address is known.
  A client past its limit gets the 429 page whatever it sent.
- On a signed link's page the person is known to whoever holds the link, so `person_allowed()`
  limits per person with an honest 429.
"""

import enum
import functools
import re
import unicodedata
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils.translation import gettext_lazy as _

from . import errors, ratelimit
from .email_address import normalise_email

HONEYPOT = "website"
# The largest body a public form sends: the privacy-request form's 4,450 characters of text, each up
# to 4 bytes of UTF-8 and percent-encoded (3 bytes a byte), are 53 kB; every other form sends far less.
MAX_BODY_BYTES = 64 * 1024

# Never in a value typed into a form: C0 controls but tab and line breaks, DEL, C1 controls, and
# U+FFFD, which is what Django makes of bytes that are not UTF-8.
_GARBAGE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
# Also refused in what a form keeps: line breaks in a one-line field, and the bidirectional
# overrides that make a text read differently from what it holds.
_SINGLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ufffd\u202a-\u202e\u2066-\u2069]")
_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd\u202a-\u202e\u2066-\u2069]")
# Besides letters and combining marks: spaces, apostrophes (straight, typographic U+2019 and the
# modifier letter U+02BC: O'Brien, d'Artagnan), hyphens (Anne-Marie, and U+2010), full stops
# (J. R. R. Tolkien) and the zero-width (non-)joiners some scripts need. Addresses add digits,
# commas, the en dash, "/", "#", "&", parentheses, "+" and ":".
_NAME_SIGNS = frozenset(" '\u2019\u02bc-\u2010.\u200c\u200d")
_ADDRESS_SIGNS = _NAME_SIGNS | frozenset(",\u2013/#&()+:")
_POSTAL_CODE_SIGNS = frozenset(" -")

CONTROL_CHARACTERS = _("Remove the line breaks and control characters from this field.")


# --- Validators ------------------------------------------------------------------------------------
def validate_single_line(value) -> None:
    if isinstance(value, str) and _SINGLE_LINE.search(value):
        raise ValidationError(CONTROL_CHARACTERS, code="control_characters")


def validate_multiline(value: str) -> None:
    if _MULTILINE.search(value):
        raise ValidationError(CONTROL_CHARACTERS, code="control_characters")


def _is_mark(char: str) -> bool:
    return unicodedata.category(char).startswith("M")


def validate_person_name(value: str) -> None:
    """A name in any script (Åse Ødegård, Nguyễn Văn An, O'Brien): letters and marks with
    spaces, apostrophes, hyphens and full stops; no digits, no < > ; = or other signs."""
    value = unicodedata.normalize("NFC", value)
    if not any(c.isalpha() for c in value) or not all(
        c.isalpha() or _is_mark(c) or c in _NAME_SIGNS for c in value
    ):
        raise ValidationError(
            _(
                "Write the name in letters; spaces, hyphens, apostrophes and full stops are fine, "
                "digits and other signs are not."
            ),
            code="invalid_name",
        )


def validate_postal_address(value: str) -> None:
    """A street address or a city: letters, digits and ordinary punctuation; no < > ; = " etc."""
    value = unicodedata.normalize("NFC", value)
    if not any(c.isalnum() for c in value) or not all(
        c.isalnum() or _is_mark(c) or c in _ADDRESS_SIGNS for c in value
    ):
        raise ValidationError(
            _("Use letters, digits and ordinary punctuation only."), code="invalid_address"
        )


def validate_postal_code(value: str) -> None:
    if not any(c.isalnum() for c in value) or not all(
        (c.isascii() and c.isalnum()) or c in _POSTAL_CODE_SIGNS for c in value
    ):
        raise ValidationError(
            _("Enter a postal code of letters and digits, for example 702 10 or 0153."),
            code="invalid_postal_code",
        )


# --- Fields ----------------------------------------------------------------------------------------
class TextField(forms.CharField):
    """A bounded text field, NFC-normalised, that refuses control characters."""

    def __init__(self, *, max_length: int, multiline: bool = False, **kwargs):
        super().__init__(max_length=max_length, **kwargs)
        self.validators.append(validate_multiline if multiline else validate_single_line)

    def to_python(self, value):
        value = super().to_python(value)
        return unicodedata.normalize("NFC", value) if value else value


def name_field(label, *, max_length: int = 150, required: bool = True) -> TextField:
    return TextField(
        label=label, max_length=max_length, required=required, validators=[validate_person_name]
    )


def address_field(label, *, max_length: int, required: bool = True) -> TextField:
    return TextField(
        label=label, max_length=max_length, required=required, validators=[validate_postal_address]
    )


def postal_code_field(label, *, max_length: int = 20) -> TextField:
    return TextField(label=label, max_length=max_length, validators=[validate_postal_code])


def free_text_field(label, *, max_length: int, rows: int = 3, required: bool = False) -> TextField:
    return TextField(
        label=label,
        max_length=max_length,
        required=required,
        multiline=True,
        widget=forms.Textarea(attrs={"rows": rows}),
    )


class EmailAddressField(forms.EmailField):
    """An email address in the one form the registry stores, compares, counts and hashes
    (`normalise_email`: trimmed, NFC, lower-case, valid), so that "Åse@Example.no " typed in any
    form is the same person as "åse@example.no". Every form that takes an address uses it."""

    def __init__(self, **kwargs):
        # 254: the longest address SMTP carries (RFC 5321), and the model columns.
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        return normalise_email(value) if value else value


def email_field(label, **kwargs) -> EmailAddressField:
    return EmailAddressField(label=label, validators=[validate_single_line], **kwargs)


# --- Forms -----------------------------------------------------------------------------------------
class Outcome(enum.Enum):
    INVALID = "invalid"  # show the form again, with its errors
    TRAPPED = "trapped"  # the honeypot was filled: answer as on success; store and send nothing
    HELD = "held"  # the address is over its daily limit: the same answer; nothing stored or sent
    ACCEPTED = "accepted"  # do what the form asks


class PublicForm(forms.Form):
    """A public form with free text: the honeypot, and clean one-line text in every other field."""

    # Hidden by the `trap` class (static/css/site.css; the CSP allows no inline style) and out of
    # the tab order; people who see it anyway (no stylesheet) are told to leave it empty.
    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    #: The field whose value the per-address limit counts.
    address_field = "email"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _refuse_control_characters(self.fields)

    def is_trapped(self) -> bool:
        return bool(self.is_bound and self.data.get(HONEYPOT, "").strip())

    def limit_key(self) -> str | None:
        """What the per-address limit counts, or None when this submission is not to be counted
        (a form sent again by a double click)."""
        return self.cleaned_data.get(self.address_field)

    def outcome(self, request, *, scope: str) -> Outcome:
        """What to do with this POST. The form is checked first, then counted once: the client
        whatever it sent, and the address only for a valid submission that counts (`limit_key()`),
        both in one round trip to the cache. Raises `ClientOverLimit` for a client past its limit,
        which the `public_form` wrapper answers with the 429 page."""
        if getattr(request, "_public_form_client_counted", False):
            raise ImproperlyConfigured(
                f"{type(self).__name__} counts the client: mark its view "
                f"@public_form({scope!r}, limit_clients=False)"
            )
        if self.is_trapped():
            verdict = Outcome.TRAPPED  # a robot's: its address is not counted, nor even checked
        elif not self.is_valid():
            verdict = Outcome.INVALID  # corrected and sent again, it is not held back for this
        else:
            verdict = Outcome.ACCEPTED
        attempts = [_client_attempt(request, scope)]
        address = self.limit_key() if verdict is Outcome.ACCEPTED else None
        if address is not None:
            attempts.append(_address_attempt(scope, address))
        client_allowed, *address_allowed = ratelimit.allowed(*attempts)
        if not client_allowed:
            raise ClientOverLimit
        if address_allowed == [False]:
            return Outcome.HELD
        return verdict


def _refuse_control_characters(fields: dict[str, forms.Field]) -> None:
    """Clean one-line text in every text field that does not say otherwise. Idempotent: the
    fields are the form instance's own copies of the class's (Django's deep copy)."""
    for name, field in fields.items():
        if (
            isinstance(field, forms.CharField)
            and name != HONEYPOT
            and validate_single_line not in field.validators
            and validate_multiline not in field.validators
        ):
            field.validators.append(validate_single_line)


# --- Limits ----------------------------------------------------------------------------------------
class ClientOverLimit(Exception):
    """A client past PUBLIC_FORM_LIMIT_PER_CLIENT_PER_HOUR; the `public_form` wrapper answers it
    with the 429 page."""


def _client_attempt(request, scope: str) -> ratelimit.Attempt:
    return ratelimit.Attempt(
        f"{scope}:client",
        ratelimit.client_key(request),
        limit=settings.PUBLIC_FORM_LIMIT_PER_CLIENT_PER_HOUR,
        window_seconds=ratelimit.HOUR,
    )


def _address_attempt(scope: str, address: str) -> ratelimit.Attempt:
    """`address` as the form cleaned it: normalised (`EmailAddressField`)."""
    return ratelimit.Attempt(
        f"{scope}:address",
        address,
        limit=settings.PUBLIC_FORM_LIMIT_PER_ADDRESS_PER_DAY,
        window_seconds=ratelimit.DAY,
    )


def client_allowed(request, scope: str) -> bool:
    return ratelimit.allowed(_client_attempt(request, scope))[0]


def person_allowed(scope: str, person: str) -> bool:
    """On a signed link's page: the person the link is for (their public id)."""
    return ratelimit.allow(
        f"{scope}:person",
        person,
        limit=settings.PUBLIC_FORM_LIMIT_PER_ADDRESS_PER_DAY,
        window_seconds=ratelimit.DAY,
    )


def too_many(request, *, window_seconds: int = ratelimit.HOUR):
    return errors.too_many_requests(request, retry_after=window_seconds)


# --- Screening POSTs -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Options:
    scope: str
    limit_clients: bool = True


def public_form(scope: str, *, limit_clients: bool = True):
    """Mark a view as a public form; `limit_clients=False` leaves the per-client count to it (to its
    form's `outcome()`, for a `PublicForm`)."""
    options = Options(scope=scope, limit_clients=limit_clients)

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            # The middleware screens first, before the CSRF check reads the body; should it be
            # missing from MIDDLEWARE, the view still screens its own POSTs.
            if not getattr(request, "_public_form_screened", False):
                refused = screen(request, options)
                if refused is not None:
                    return refused
            try:
                return view(request, *args, **kwargs)
            except ClientOverLimit:  # counted by the view's form (PublicForm.outcome)
                return too_many(request)

        wrapper.public_form = options
        return wrapper

    return decorate


def _clean_body(request) -> bool:
    if request.content_type == "application/x-www-form-urlencoded":
        # Django decodes a body that is not UTF-8 as Latin-1 as a whole, which would turn every
        # other field's letters into mojibake: such a body is refused, not read.
        try:
            request.body.decode(request.encoding or "utf-8")
        except (UnicodeDecodeError, LookupError):
            return False
    if request.FILES:
        return False
    # One search over everything sent; a line break, which joins the parts, is not garbage.
    sent = [part for key, values in request.POST.lists() for part in (key, *values)]
    return not _GARBAGE.search("\n".join(sent))


def screen(request, options: Options):
    """None when the POST may go on to the view; otherwise the response that refuses it."""
    request._public_form_screened = True
    if request.method != "POST":
        return None
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return errors.bad_request(request, None)
    if length > MAX_BODY_BYTES:
        return errors.bad_request(request, None, too_large=True)
    if options.limit_clients:
        request._public_form_client_counted = True
        if not client_allowed(request, options.scope):
            return too_many(request)
    if not _clean_body(request):
        return errors.bad_request(request, None)
    return None


class PublicFormMiddleware:
    """Screens the POSTs of views marked `@public_form` before any other middleware reads them.
    Place it before CsrfViewMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        options = getattr(view_func, "public_form", None)
        if options is None:
            return None
        return screen(request, options)
