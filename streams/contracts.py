"""The life-event wire contract (version 1): one JSON object per message, validated with pydantic.

``decode`` never raises: it returns either a valid ``LifeEvent`` or a ``Rejection`` whose reason a
person can read. Messages come from other agencies, so every limit below assumes hostile input.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    model_validator,
)

from domain.resident_id import resident_id_problem

CONTRACT_VERSION = 1

# A real message is well under 1 KiB and two levels deep; anything far beyond is not a life event.
MAX_MESSAGE_BYTES = 64 * 1024
MAX_DEPTH = 32
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2099, 12, 31)
# Upper bounds no real amount comes near, so a corrupted number cannot become a payment.
MAX_MONTHLY_CENTS = 1_000_000_000  # 10 million a month: pensions and wages
MAX_BALANCE_CENTS = 100_000_000_000  # 1 billion: a personal account balance
MAX_ACCOUNT_HOLDERS = 10_000
# Reasons are stored, printed and published: short, and never a long offending value in full.
MAX_REASON_CHARS = 300
MAX_ECHO_CHARS = 40
MAX_TEXT_CHARS = 200

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Enough of JSON's grammar to measure nesting without parsing: brackets, and strings to skip.
_BRACKET_OR_QUOTE = re.compile(r'[\[\]{}"]')
_REST_OF_STRING = re.compile(r'(?:[^"\\]++|\\.)*+"', re.S)
# A run of digits this long may be a national ID or an account: shown, it keeps its last four.
_LONG_NUMBER = re.compile(r"\d{8,}")


def _echo(value: Any) -> str:
    """``value`` as a reason may quote it: its repr, cut short, long numbers masked."""
    if isinstance(value, str):
        value = value[:MAX_ECHO_CHARS]
    try:
        text = repr(value)
    except ValueError:  # an integer too long to print
        text = f"a {type(value).__name__}"
    text = _hide_numbers(text)
    return text if len(text) <= MAX_ECHO_CHARS else text[: MAX_ECHO_CHARS - 1] + "…"


def _hide_numbers(text: str) -> str:
    """A national ID or an account quoted in a reason, wherever it was sent, keeps its last four."""
    return _LONG_NUMBER.sub(lambda m: _masked(_KEEP_LAST_4, m.group()), text)


def _readable(reason: str) -> str:
    """A reason safe to store and print: no control characters or surrogates, and short."""
    reason = _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", reason)
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 1] + "…"
    return reason


def _too_deep(text: str) -> bool:
    """Whether JSON ``text`` nests more than MAX_DEPTH arrays and objects, without parsing it.

    Linear in the text, whatever it holds: each character is looked at once."""
    if text.count("{") + text.count("[") <= MAX_DEPTH:
        return False  # not brackets enough to nest that deep (the usual case: no scan)
    depth, at = 0, 0
    while found := _BRACKET_OR_QUOTE.search(text, at):
        at = found.end()
        if found.group() == '"':
            string = _REST_OF_STRING.match(text, at)
            if string is None:  # an unterminated string: nothing after it is structure
                return False
            at = string.end()
        elif found.group() in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        else:
            depth -= 1
    return False


def _json_integer(value: Any) -> Any:
    # Pydantic, even strict, lets True and 60.0 through a Literal[60]; only a JSON integer is one.
    if type(value) is not int:
        raise ValueError(f"must be a whole number, got {_echo(value)}")
    return value


def _in_range(day: date) -> date:
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValueError(f"must be between {EARLIEST_DATE} and {LATEST_DATE}, got '{day}'")
    return day


def _iso_date(value: Any) -> date:
    if isinstance(value, date):
        return _in_range(value)
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError(f"must be a date written YYYY-MM-DD, got {_echo(value)}")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"is not a real calendar date: {_echo(value)}") from None
    return _in_range(day)


def _month(value: str) -> str:
    match = _MONTH.fullmatch(value)
    if not match:
        raise ValueError(f"must be a month written YYYY-MM, got {_echo(value)}")
    if not EARLIEST_DATE.year <= int(match[1]) <= LATEST_DATE.year:
        raise ValueError(
            f"must be a month between {EARLIEST_DATE:%Y-%m} and {LATEST_DATE:%Y-%m}, got {value!r}"
        )
    return value


def _printable(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _resident_id(value: str) -> str:
    problem = resident_id_problem(value)
    if problem:
        raise ValueError(f"is not a valid resident ID: {problem}")
    return value.upper()


Integer = Annotated[int, BeforeValidator(_json_integer)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Year = Annotated[Integer, Field(ge=EARLIEST_DATE.year, le=LATEST_DATE.year)]
Month = Annotated[str, Field(strict=True), AfterValidator(_month)]
Text = Annotated[
    str, Field(min_length=1, max_length=MAX_TEXT_CHARS, strict=True), AfterValidator(_printable)
]
# A person_id leaves room in the scheduler's own IDs ("scheduler:deadline:<id>:<year>:<mark>").
MAX_PERSON_ID_CHARS = 100
PersonId = Annotated[
    str,
    Field(min_length=1, max_length=MAX_PERSON_ID_CHARS, strict=True),
    AfterValidator(_printable),
]
MonthlyCents = Annotated[Integer, Field(ge=0, le=MAX_MONTHLY_CENTS)]
BalanceCents = Annotated[Integer, Field(ge=0, le=MAX_BALANCE_CENTS)]
BankAccount = Annotated[str, Field(strict=True, pattern=r"^[0-9A-Za-z]{6,34}$")]
RegionCode = Annotated[str, Field(strict=True, pattern=r"^[0-9]{6}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class PersonRegisteredData(_Strict):
    national_id: Annotated[str, Field(strict=True), AfterValidator(_resident_id)]
    name: Text
    birth_date: IsoDate
    sex: Literal["M", "F"]
    region: Text
    monthly_pension_cents: MonthlyCents
    bank_account: BankAccount | None = None
    bank_region: RegionCode | None = None

    @model_validator(mode="after")
    def _account_with_region(self) -> PersonRegisteredData:
        if (self.bank_account is None) != (self.bank_region is None):
            raise ValueError("bank_account and bank_region come together or not at all")
        return self


class BankAccountChangedData(_Strict):
    bank_account: BankAccount
    bank_region: RegionCode


class RetirementEligibleData(_Strict):
    scheme: Literal["enterprise_employee"]
    contribution_months: Annotated[Integer, Field(ge=0, le=1200)]
    indexed_wage_cents: MonthlyCents
    regional_average_wage_cents: MonthlyCents
    personal_account_cents: BalanceCents
    retirement_age: Annotated[Literal[50, 55, 60], BeforeValidator(_json_integer)]


class PaymentDueData(_Strict):
    month: Month
    # Living pensioners paid into the same account (the yellow fund-flow check).
    account_holders: Annotated[Integer, Field(ge=0, le=MAX_ACCOUNT_HOLDERS)] = 1


class PaymentReviewedData(_Strict):
    month: Month
    kind: Literal["pension", "arrears"]
    approved: StrictBool
    reason: Text | None = None
    reviewer: Text | None = None  # who decided (a caseworker's subject)


class DeathRegisteredData(_Strict):
    death_date: IsoDate


class CustodyData(_Strict):
    case_ref: Text


class LifeEvidenceData(_Strict):
    kind: Literal[
        "hospital_visit",
        "pharmacy_purchase",
        "transit_tap",
        "bank_counter",
        "utility_payment",
        "community_check",
    ]


Score = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


def _score(value: Any) -> Any:
    # A JSON number, never a boolean or a string.
    if type(value) not in (int, float):
        raise ValueError(f"must be a number from 0 to 1, got {_echo(value)}")
    return float(value)


ProofScore = Annotated[Score, BeforeValidator(_score)]


class LivenessVerifiedData(_Strict):
    channel: Literal["app", "kiosk", "home_visit", "proxy_app"]
    # For ``proxy_app`` (a check a family proxy ran on the person in the app): the provider's
    # reference, its score, and who submitted it.
    reference: Text | None = None
    score: ProofScore | None = None
    submitted_by: Text | None = None

    @model_validator(mode="after")
    def _proxy_check_is_complete(self) -> LivenessVerifiedData:
        extra = (self.reference, self.score, self.submitted_by)
        if self.channel == "proxy_app" and None in extra:
            raise ValueError("a proxy_app check needs reference, score and submitted_by")
        if self.channel != "proxy_app" and extra != (None, None, None):
            raise ValueError("reference, score and submitted_by belong to a proxy_app check")
        return self


Relationship = Literal["spouse", "child", "parent", "sibling", "grandchild", "other"]
ProxyScope = Literal["view_status", "view_payments", "receive_notifications", "certify_on_behalf"]


class KinshipProof(_Strict):
    reference: Text
    score: ProofScore


def _unique_scopes(scopes: list[str]) -> list[str]:
    if len(set(scopes)) != len(scopes):
        raise ValueError("lists a scope twice")
    return scopes


class ProxyRequestedData(_Strict):
    """A citizen (``requester_id``) asks to act for the person (the principal). The request's ID
    is the event's ``event_id``."""

    requester_id: PersonId
    relationship: Relationship
    kinship_proof: KinshipProof
    scopes: Annotated[
        list[ProxyScope], Field(min_length=1, max_length=4), AfterValidator(_unique_scopes)
    ]
    valid_until: IsoDate


class ProxyRequestReviewedData(_Strict):
    request_id: Text
    approved: StrictBool
    reason: Text
    reviewer: Text


class ProxyRevokedData(_Strict):
    request_id: Text
    revoked_by: Text
    role: Literal["principal", "proxy", "caseworker"]
    reason: Text | None = None


class EvidenceReviewedData(_Strict):
    """A caseworker's finding on evidence of life dated after a registered death."""

    evidence_event_id: Text
    approved: StrictBool  # true: the death stands (the evidence was someone else's use)
    reason: Text
    reviewer: Text


class LifeCertificateData(_Strict):
    """A paper life certificate a consulate or notary issued to a pensioner living abroad."""

    issuing_office: Text


class BirthdayMonthStartedData(_Strict):
    year: Year


class CertificationDeadlineData(_Strict):
    cycle_year: Year
    mark: Annotated[Integer, Field(ge=1, le=366)]


# The one table from wire type to the shape of its data.
DATA_MODELS: dict[str, type[_Strict]] = {
    "person_registered": PersonRegisteredData,
    "death_registered": DeathRegisteredData,
    "custody_started": CustodyData,
    "custody_ended": CustodyData,
    "life_evidence": LifeEvidenceData,
    "liveness_verified": LivenessVerifiedData,
    "birthday_month_started": BirthdayMonthStartedData,
    "certification_deadline_reached": CertificationDeadlineData,
    "bank_account_changed": BankAccountChangedData,
    "retirement_eligible": RetirementEligibleData,
    "payment_due": PaymentDueData,
    "payment_reviewed": PaymentReviewedData,
    "proxy_requested": ProxyRequestedData,
    "proxy_request_reviewed": ProxyRequestReviewedData,
    "proxy_revoked": ProxyRevokedData,
    "evidence_reviewed": EvidenceReviewedData,
    "life_certificate_submitted": LifeCertificateData,
}

# A proxy grant lasts at most this long from its request.
MAX_PROXY_YEARS = 3


class Envelope(_Strict):
    event_id: Text
    type: Text
    person_id: PersonId
    occurred_on: IsoDate
    source: Text
    data: dict[str, Any]
    version: Annotated[Literal[1], BeforeValidator(_json_integer)] = CONTRACT_VERSION

    @model_validator(mode="after")
    def _known_type(self) -> Envelope:
        if self.type not in DATA_MODELS:
            known = ", ".join(sorted(DATA_MODELS))
            raise ValueError(f"unknown event type {_echo(self.type)} (known: {known})")
        return self


@dataclass(frozen=True)
class LifeEvent:
    """A validated life event, ready for the domain."""

    event_id: str
    type: str
    person_id: str
    occurred_on: date
    source: str
    data: BaseModel


@dataclass(frozen=True)
class Rejection:
    """A message that failed the contract, kept whole with the reason.

    ``payload`` is the message as text; when it was not UTF-8, ``original`` holds its exact bytes
    (and ``payload`` shows them decoded with replacement characters).
    """

    payload: str
    reason: str
    event_id: str | None = None
    original: bytes | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", _readable(self.reason) or "rejected")

    @property
    def fingerprint(self) -> str:
        """Stable identity of the rejected payload, so the same bad message is kept once."""
        if self.original is not None:
            return hashlib.sha256(self.original).hexdigest()
        return hashlib.sha256(self.payload.encode("utf-8", "replace")).hexdigest()


class _NotContractJson(ValueError):
    """JSON that Python reads but the contract does not: a key twice, NaN or Infinity."""


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _NotContractJson(f"message has the key {_echo(key)} twice in one object")
        obj[key] = value
    return obj


def _refuse_constant(name: str) -> Any:
    raise _NotContractJson(f"message is not valid JSON: {name} is not a JSON number")


def _surrogate_at(obj: Any) -> str | None:
    """Where parsed JSON holds an unpaired surrogate: "data.name: text", "data: a key"."""
    stack: list[tuple[str, Any]] = [("message", obj)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return f"{where}: text"
        elif isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(key):
                    return f"{where}: a key"
                path = _clip(key) if where == "message" else f"{where}.{_clip(key)}"
                stack.append((path, item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))
    return None


def _clip(key: str) -> str:
    key = _hide_numbers(key)
    return key if len(key) <= MAX_ECHO_CHARS else key[: MAX_ECHO_CHARS - 1] + "…"


def _event_id_of(obj: dict[str, Any]) -> str | None:
    """The message's event_id, when it is one fit to store beside the rejection."""
    value = obj.get("event_id")
    if (
        isinstance(value, str)
        and 0 < len(value) <= MAX_TEXT_CHARS
        and not _UNPRINTABLE.search(value)
    ):
        return value
    return None


def _describe(error: ValidationError, prefix: str = "") -> str:
    parts = []
    for e in error.errors():
        loc = ".".join(_clip(str(p)) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{prefix}{loc}: {msg}" if loc else f"{prefix}{msg}".rstrip())
    return "; ".join(parts)


def decode(raw: bytes | str) -> LifeEvent | Rejection:
    """Decode and validate one message. Never raises."""
    if isinstance(raw, bytes):
        try:
            text, original = raw.decode("utf-8"), None
        except UnicodeDecodeError:
            text, original = raw.decode("utf-8", "replace"), raw
    elif _SURROGATE.search(raw):  # text that no UTF-8 encoder accepts
        original = raw.encode("utf-8", "surrogatepass")
        text = original.decode("utf-8", "replace")
    else:
        text, original = raw, None
    try:
        return _decode(text, original)
    except Exception as exc:  # the promise is a Rejection (the fuzz test fails on this reason)
        reason = f"internal error: {type(exc).__name__}"
        return Rejection(payload=text, reason=reason, original=original)


def _decode(text: str, original: bytes | None) -> LifeEvent | Rejection:
    size = len(original) if original is not None else len(text.encode("utf-8"))
    if size > MAX_MESSAGE_BYTES:
        reason = f"message is {size} bytes; at most {MAX_MESSAGE_BYTES} are accepted"
        return Rejection(payload=text, reason=reason, original=original)
    if original is not None:
        return Rejection(payload=text, reason="message is not UTF-8", original=original)
    if _too_deep(text):
        return Rejection(payload=text, reason=f"message nests deeper than {MAX_DEPTH} levels")
    try:
        obj = json.loads(
            text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant
        )
    except _NotContractJson as exc:
        return Rejection(payload=text, reason=str(exc))
    except json.JSONDecodeError as exc:
        return Rejection(payload=text, reason=f"message is not valid JSON: {exc}")
    except (ValueError, RecursionError):  # Python refuses integers of more than 4,300 digits
        return Rejection(payload=text, reason="message is not valid JSON: a number is too long")
    if not isinstance(obj, dict):
        return Rejection(payload=text, reason="message must be a JSON object")
    # Text that reached here holds no surrogate itself, so parsed JSON can hold one only from a
    # \uD800 to \uDFFF escape: look through the parsed values only when the text has one.
    where = _surrogate_at(obj) if _SURROGATE_ESCAPE.search(text) else None
    if where:
        reason = f"{where} holds an unpaired UTF-16 surrogate (a lone \\ud800-\\udfff)"
        return Rejection(payload=text, reason=reason)
    return _validate(obj, text)


def decode_own(obj: dict[str, Any], text: str) -> LifeEvent | Rejection:
    """Validate an event the engine raised itself (the scheduler's), already a JSON object whose
    text is ``text``: the same contract checks as ``decode`` without re-parsing the text."""
    try:
        return _validate(obj, text)
    except Exception as exc:
        return Rejection(payload=text, reason=f"internal error: {type(exc).__name__}")


def _validate(obj: dict[str, Any], text: str) -> LifeEvent | Rejection:
    event_id = _event_id_of(obj)
    try:
        envelope = Envelope.model_validate(obj)
    except ValidationError as exc:
        return Rejection(payload=text, reason=_describe(exc), event_id=event_id)
    try:
        data = DATA_MODELS[envelope.type].model_validate(envelope.data)
    except ValidationError as exc:
        return Rejection(payload=text, reason=_describe(exc, "data."), event_id=event_id)
    problem = _cross_field_problem(envelope, data)
    if problem:
        return Rejection(payload=text, reason=problem, event_id=event_id)
    return LifeEvent(
        event_id=envelope.event_id,
        type=envelope.type,
        person_id=envelope.person_id,
        occurred_on=envelope.occurred_on,
        source=envelope.source,
        data=data,
    )


def _cross_field_problem(envelope: Envelope, data: BaseModel) -> str | None:
    if isinstance(data, DeathRegisteredData) and data.death_date > envelope.occurred_on:
        return "data.death_date: is after the day the death was registered (occurred_on)"
    if isinstance(data, PersonRegisteredData) and data.birth_date > envelope.occurred_on:
        return "data.birth_date: is after occurred_on"
    if isinstance(data, BirthdayMonthStartedData) and (
        envelope.occurred_on.day != 1 or envelope.occurred_on.year != data.year
    ):
        return "occurred_on: a birthday month starts on the first day of a month in data.year"
    if isinstance(data, PaymentDueData) and (
        envelope.occurred_on.day != 1 or envelope.occurred_on.isoformat()[:7] != data.month
    ):
        return "occurred_on: a payment run is dated the first day of data.month"
    if isinstance(data, ProxyRequestedData):
        if data.requester_id == envelope.person_id:
            return "data.requester_id: a person cannot be their own proxy"
        latest = _years_after(envelope.occurred_on, MAX_PROXY_YEARS)
        if not envelope.occurred_on < data.valid_until <= latest:
            return (
                f"data.valid_until: must be after occurred_on and at most {MAX_PROXY_YEARS} years"
                f" later ({latest})"
            )
    return None


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# Personal data in a payload shown to people or published: how much of each value stays visible.
# Keys match whatever their case or separators ("nationalId", "BANK-ACCOUNT").
_KEEP_LAST_4, _KEEP_FIRST_1 = "last4", "first1"
_PERSONAL = {"nationalid": _KEEP_LAST_4, "name": _KEEP_FIRST_1, "bankaccount": _KEEP_LAST_4}
_KEYED_TEXT = re.compile(
    r'("([ _-]*(?:national[ _-]*id|name|bank[ _-]*account)[ _-]*)"\s*:\s*)'
    r'(?:"((?:[^"\\]++|\\.)*+)("?)|([^\s,\]}]+))',
    re.I | re.S,
)
_NOT_ALNUM = re.compile(r"[^0-9a-z]")
_IDENTIFIERS = ("event_id", "person_id")


def _masked(rule: str, text: str) -> str:
    if rule == _KEEP_FIRST_1:
        return text[:1] + "*" * (len(text) - 1)
    return "*" * max(0, len(text) - 4) + text[-4:]


def _rule_for(key: str) -> str | None:
    if len(key) > MAX_ECHO_CHARS:  # no spelling of the personal keys is this long
        return None
    return _PERSONAL.get(_NOT_ALNUM.sub("", key.lower()))


class _Object(list):
    """A parsed JSON object as its key-value pairs, duplicates and order kept."""


def _dump(value: Any) -> str:
    if isinstance(value, _Object):
        items = (f"{json.dumps(k, ensure_ascii=False)}: {_dump(v)}" for k, v in value)
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dump(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _mask_json(value: Any, envelope: bool = False) -> tuple[Any, bool]:
    """``value`` with personal data masked at any depth, and whether anything was: the values of
    personal keys, and any run of 8+ digits in another key or value (a national ID or an account
    sent where it does not belong), but the envelope's identifiers, kept in clear anyway."""
    if isinstance(value, _Object):
        out, changed = _Object(), False
        for key, item in value:
            rule = _rule_for(key)
            if rule and item is not None:
                item, hit = _masked(rule, item if isinstance(item, str) else _dump(item)), True
            elif envelope and key in _IDENTIFIERS:
                hit = False
            else:
                item, hit = _mask_json(item)
            shown = _hide_numbers(key)
            out.append((shown, item))
            changed = changed or hit or shown != key
        return out, changed
    if isinstance(value, list):
        pairs = [_mask_json(item) for item in value]
        return [item for item, _ in pairs], any(hit for _, hit in pairs)
    if isinstance(value, str):  # a message sent as a JSON string inside JSON
        masked = _mask_text(value)
        return masked, masked != value
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = _dump(value)
        masked = _hide_numbers(text)
        return (masked, True) if masked != text else (value, False)
    return value, False


def _mask_keyed_text(text: str) -> str:
    def mask(match: re.Match[str]) -> str:
        rule = _rule_for(match[2]) or _KEEP_LAST_4
        if match[5] is not None:
            return match[1] + _masked(rule, match[5])
        return f'{match[1]}"{_masked(rule, match[3])}{match[4]}'

    return _KEYED_TEXT.sub(mask, text)


def _mask_text(text: str) -> str:
    return _hide_numbers(_mask_keyed_text(text))


def mask_payload(payload: str) -> str:
    """The payload as it may be shown, stored beside the read models or published: a national ID
    and a bank account keep only their last four characters, a name its first, wherever they are
    and whatever their JSON type. Any other run of 8+ digits (but in the envelope's ``event_id``
    and ``person_id``) keeps only its last four, and text that is not JSON is masked as far as it
    can be read. Never raises."""
    try:
        if _too_deep(payload):
            raise ValueError("too deep to parse")
        parsed = json.loads(payload, object_pairs_hook=_Object)
        if not isinstance(parsed, _Object):  # a bare number or string: read it as text
            raise ValueError("not a JSON object")
        masked, changed = _mask_json(parsed, envelope=True)
        result = _dump(masked) if changed else payload
    except Exception:  # not JSON, or hostile JSON: mask the text as it stands
        result = _mask_text(payload)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", result)
