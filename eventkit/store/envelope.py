"""The event envelope: the Event record, expected-version sentinels, payload types and times.

Everything here is pure: no files, no catalog. The store builds on it.
"""

from __future__ import annotations

import datetime as dt
import base64
import decimal
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from eventkit.common.errors import InvalidInput, SchemaConflict
from eventkit.store.decimals import float_of_decimal

ENVELOPE_COLUMNS = (
    "position",
    "stream_id",
    "stream_type",
    "version",
    "event_type",
    "event_id",
    "occurred_at",
    "recorded_at",
    "data",
    "metadata",
)
"""The envelope's column names, in the order every read returns them."""

DEFAULT_STREAM_TYPE = "default"
# Matched with fullmatch: "$" would let a trailing newline through ("acct\n" naming a folder).
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")
_FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"eventkit.{self._name}"

    def __reduce__(self) -> str:
        return self._name


ANY = _Sentinel("ANY")
"""Expected version: append whatever the stream's version is."""
NO_STREAM = _Sentinel("NO_STREAM")
"""Expected version: the stream must not exist yet."""
STREAM_EXISTS = _Sentinel("STREAM_EXISTS")
"""Expected version: the stream must already have at least one event."""


def check_expected_version(stream_id: str, expected: Any) -> None:
    """Reject an expected-version value that is neither a sentinel nor a version number."""
    if expected is ANY or expected is NO_STREAM or expected is STREAM_EXISTS:
        return
    if isinstance(expected, (bool, np.bool_)) or not isinstance(expected, (int, np.integer)) or expected < 0:
        raise InvalidInput(
            f"unknown expected_version {expected!r} for stream {stream_id!r}: use ek.ANY, "
            "ek.NO_STREAM, ek.STREAM_EXISTS or a version number >= 0",
            column="expected_version",
        )


def version_matches(expected: Any, actual: int) -> bool:
    """Whether a stream at version ``actual`` (0: no stream) satisfies ``expected``."""
    if expected is ANY:
        return True
    if expected is NO_STREAM:
        return actual == 0
    if expected is STREAM_EXISTS:
        return actual > 0
    return int(expected) == actual


@dataclass(frozen=True)
class Event:
    """One event to append.

    Args:
        event_type: What happened, e.g. ``"Deposited"``.
        data: The payload: flat fields of scalar values (bool, int, float, str, date, datetime).
        occurred_at: Valid time. None means "when it is recorded". A naive datetime means UTC.
        event_id: A unique id; a random UUID when not given. Give your own to make retries
            idempotent.
        metadata: Context such as ``correlation_id`` and ``causation_id``; values become strings.
        version: The event's number in its stream, given explicitly (as an application that numbers
            its own events does); None: the next version. In one append either every event has one
            or none does; they must increase and start above the stream's version, else
            :class:`WrongExpectedVersion` (``VersionTaken``).

    Example:
        >>> Event("Deposited", {"amount": 10}).event_type
        'Deposited'
    """

    event_type: str
    data: Mapping[str, Any] = field(default_factory=dict)
    occurred_at: Any = None
    event_id: str | None = None
    metadata: Mapping[str, Any] | None = None
    version: int | None = None


# Event ids the store generates encode the store and the position: a UUID (version 8, custom)
# whose first 60 bits are the store's random id prefix and whose last 60 bits are the position.
# They are unique in the store by construction, and checking whether an id sent back to the store
# is already in it needs no index: the position says where it would be.
_GENERATED_RE = re.compile(r"^([0-9a-f]{8})-([0-9a-f]{4})-8([0-9a-f]{3})-a([0-9a-f]{3})-([0-9a-f]{12})$")


def new_id_prefix() -> str:
    return uuid.uuid4().hex[:15]


def generated_event_id(prefix: str, position: int) -> str:
    return f"{prefix[:8]}-{prefix[8:12]}-8{prefix[12:15]}-a{position >> 48:03x}-{position & 0xFFFFFFFFFFFF:012x}"


def generated_event_id_sql(prefix: str, position: str) -> str:
    """The DuckDB expression computing :func:`generated_event_id` from a position column.

    Positions below 2**48 (every store's in practice) take ``lpad(lower(to_hex(...)))``, about 40%
    cheaper than ``printf`` on a bulk append's million ids; larger ones the general ``printf`` form.
    """
    head = f"'{prefix[:8]}-{prefix[8:12]}-8{prefix[12:15]}-"
    return (
        f"CASE WHEN {position} < 281474976710656 THEN {head}a000-' || lpad(lower(to_hex({position})), 12, '0') "
        f"ELSE {head}' || printf('a%03x', {position} >> 48) || '-' || printf('%012x', {position} & 281474976710655) END"
    )


def generated_position(prefix: str, event_id: str) -> int | None:
    """The position encoded in an id this store generated, or None for any other id."""
    m = _GENERATED_RE.match(event_id)
    if m is None or m.group(1) + m.group(2) + m.group(3) != prefix:
        return None
    return (int(m.group(4), 16) << 48) | int(m.group(5), 16)


def check_name(value: Any, what: str, *, names: str = "a folder of segments") -> str:
    """Validate a name that becomes a folder or file name (stream_type, projection, subscription).

    1-128 characters of letters, digits, ``_ . -``, starting with a letter, digit or ``_`` (so
    never ``.``, ``..`` or a hidden file), and nothing else: no newline, no path separator.
    """
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise InvalidInput(
            f"{what} must be 1-128 characters of letters, digits, '_', '.', '-', starting with a "
            f"letter, digit or '_' (it names {names})",
            column=what,
            values=[value],
        )
    return value


def check_text(value: Any, what: str, where: str = "", *, envelope: bool = True) -> str:
    """Validate text the store keeps: a non-empty str that UTF-8 can encode.

    Envelope text (stream and event ids, event types) also may not hold NUL: the catalog looks
    ids up through SQLite JSON functions and SQL text, where NUL ends a string. Payload strings
    and metadata may hold NUL (they read back exactly); lone surrogates are refused everywhere,
    since no UTF-8 file or database can hold them.

    Args:
        value: The text.
        what: Its name in the error message (``stream_id``, ``metadata key`` ...).
        where: Which event, for the error message.
        envelope: Envelope text: must be non-empty and hold no NUL.
    """
    if type(value) is str and value.isascii() and (not envelope or (value and "\x00" not in value)):
        return value  # the common case, checked first: it runs for several texts of every append
    suffix = f" ({where})" if where else ""
    if not isinstance(value, str) or (envelope and not value):
        raise InvalidInput(f"{what} must be a non-empty string{suffix}", column=what, values=[value])
    if not value.isascii() and not utf8_encodable(value):
        raise InvalidInput(
            f"{what} holds a lone surrogate (half of a UTF-16 pair), which no UTF-8 store can hold{suffix}; "
            "decode the source text properly (or replace it) first",
            column=what, values=[value],
        )
    if envelope and "\x00" in value:
        raise InvalidInput(f"{what} holds a NUL character (\\x00){suffix}; remove it", column=what, values=[value])
    return value


def check_field_name(name: Any) -> str:
    if not isinstance(name, str) or not _FIELD_RE.fullmatch(name):
        raise InvalidInput(
            "payload field names must be identifiers (letters, digits, '_', not starting with a digit)",
            column=str(name),
            values=[name],
        )
    if name.lower() in ENVELOPE_COLUMNS:  # SQL names are case-insensitive: "Version" is "version"
        raise InvalidInput(
            f"payload field {name!r} clashes with the envelope column {name.lower()!r} (SQL names ignore case); "
            "use another name",
            column=name,
        )
    return name


# ---------------------------------------------------------------------------------------------
# Times. Stored as UTC microseconds since the epoch; a naive datetime means UTC (documented).

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def to_utc(value: Any, *, what: str = "time") -> dt.datetime:
    """A datetime, pandas Timestamp, numpy datetime64, ISO string or date as an aware UTC datetime.

    A naive value means UTC. Bad values raise :class:`InvalidInput` naming ``what``.
    """
    from eventkit.common.timeparse import to_utc as parse

    return parse(value, name=what, error=InvalidInput)


def to_micros(value: Any, *, what: str = "time") -> int:
    t = to_utc(value, what=what)
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def micros_now() -> int:
    return time.time_ns() // 1000  # the clock datetime.now() reads, without building a datetime


def iso_from_micros(us: int) -> str:
    return (_EPOCH + dt.timedelta(microseconds=us)).isoformat()


# ---------------------------------------------------------------------------------------------
# Payload types. The store keeps one DuckDB type per field; values must reconcile with it.

NULL_TYPE = "NULL"
SCALAR_TYPES = ("BOOLEAN", "BIGINT", "DOUBLE", "VARCHAR", "DATE", "TIMESTAMPTZ", "BLOB")


def reconcile(field_name: str, store_type: str | None, incoming: str, *, values: Any = ()) -> str:
    """The type a field has after values of type ``incoming`` join a store that has ``store_type``.

    Integers widen to DOUBLE alongside floats; a field seen only as nulls takes the first real
    type. Anything else that differs is a :class:`SchemaConflict`.
    """
    if incoming == NULL_TYPE:
        return store_type or NULL_TYPE
    if store_type is None or store_type == NULL_TYPE or store_type == incoming:
        return incoming
    if {store_type, incoming} == {"BIGINT", "DOUBLE"}:
        return "DOUBLE"
    raise SchemaConflict(
        f"payload field {field_name!r} arrived as {incoming} but the store holds it as {store_type}; "
        f"convert the values to {store_type.lower()} or use a new field name",
        column=field_name,
        values=list(values)[:5] if not isinstance(values, str) else [values],
    )


def event_micros(value: Any, *, what: str) -> int:
    """A time the store keeps (occurred_at, a payload time) as UTC microseconds, exactly.

    Unlike :func:`to_micros` (which cuts query times to the microsecond), a stored time with
    nanoseconds is refused: it would not read back as given.
    """
    nanos = 0
    if isinstance(value, np.datetime64):
        unit = np.datetime_data(value.dtype)[0]
        per_us = {"ns": 10**3, "ps": 10**6, "fs": 10**9, "as": 10**12}.get(unit)
        if per_us and not np.isnat(value):
            nanos = int(value.astype(np.int64)) % per_us
    elif hasattr(value, "nanosecond"):  # a pandas Timestamp
        nanos = int(getattr(value, "nanosecond") or 0)
    if nanos:
        raise InvalidInput(
            f"{what} has nanoseconds, but eventkit keeps times to the microsecond; round them first "
            "(e.g. series.dt.floor('us'))",
            column=what, values=[value],
        )
    return to_micros(value, what=what)


def python_value(field_name: str, value: Any) -> tuple[str, Any]:
    """Classify one payload value: its DuckDB type and its JSON-ready form.

    Rules (the same for every append path): NaN means missing; +-inf is a number and reads back
    as such; integers must fit 64 bits; text must be encodable as UTF-8; times must fit years
    1-9999 in UTC and carry no nanoseconds.

    Raises:
        InvalidInput: for values that are not flat scalars (dicts, lists, durations, objects),
            or that the store could not read back exactly.
    """
    if value is None:
        return NULL_TYPE, None
    if isinstance(value, (bool, np.bool_)):
        return "BOOLEAN", bool(value)
    if isinstance(value, (np.timedelta64, dt.timedelta)):  # np.timedelta64 is an np.integer
        raise InvalidInput(
            f"payload field {field_name!r} holds a duration ({type(value).__name__}), which eventkit cannot store: "
            "store it as a number with its unit in the field name (e.g. seconds: td.total_seconds())",
            column=field_name, values=[value],
        )
    if isinstance(value, (int, np.integer)):
        v = int(value)
        if not -(2**63) <= v < 2**63:
            raise InvalidInput(f"payload field {field_name!r} holds an integer outside 64 bits", column=field_name, values=[value])
        return "BIGINT", v
    if isinstance(value, (float, np.floating, decimal.Decimal)):
        try:
            f = float(value)
        except (ValueError, OverflowError):  # Decimal('sNaN')
            f = None
        if f is None or (math.isinf(f) and isinstance(value, decimal.Decimal) and value.is_finite()):
            raise InvalidInput(
                f"payload field {field_name!r} holds a number a 64-bit float cannot hold", column=field_name, values=[value]
            )
        if isinstance(value, decimal.Decimal) and value.is_finite():
            f = float_of_decimal(field_name, value, f)  # only a decimal the float reads back as (decimals.py)
        return ("DOUBLE", None) if math.isnan(f) else ("DOUBLE", f)
    if isinstance(value, str):
        return "VARCHAR", check_text(value, f"payload field {field_name!r}", envelope=False)
    if isinstance(value, (bytes, bytearray, memoryview)):
        # JSON (the hot log's payload text) has no bytes: base64 keeps them exact; the read path
        # turns them back into BLOB (read_snapshot.Snapshot.events_sql).
        return "BLOB", base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (dt.datetime, np.datetime64)):
        if isinstance(value, dt.datetime) and value != value:  # pandas NaT
            return NULL_TYPE, None
        if isinstance(value, np.datetime64) and np.isnat(value):
            return NULL_TYPE, None
        return "TIMESTAMPTZ", iso_from_micros(event_micros(value, what=field_name))
    if isinstance(value, dt.date):
        return "DATE", value.isoformat()
    raise InvalidInput(
        f"payload field {field_name!r} holds a {type(value).__name__}, which eventkit cannot store: "
        "payload values are flat scalars (bool, int, float, str, bytes, date, datetime); "
        "serialise nested values to a string first",
        column=field_name,
        values=[value],
    )


def arrow_kind(field_name: str, arrow_type: Any) -> str:
    """The DuckDB type eventkit stores an Arrow column as, or InvalidInput for unsupported ones."""
    import pyarrow as pa
    import pyarrow.types as pt

    if pt.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pt.is_null(arrow_type):
        return NULL_TYPE
    if pt.is_boolean(arrow_type):
        return "BOOLEAN"
    if pt.is_integer(arrow_type):
        return "BIGINT"
    if pt.is_floating(arrow_type) or pt.is_decimal(arrow_type):
        return "DOUBLE"
    if pt.is_string(arrow_type) or pt.is_large_string(arrow_type) or arrow_type == pa.string_view():
        return "VARCHAR"
    if pt.is_timestamp(arrow_type):
        return "TIMESTAMPTZ"
    if pt.is_date(arrow_type):
        return "DATE"
    if pt.is_binary(arrow_type) or pt.is_large_binary(arrow_type) or pt.is_fixed_size_binary(arrow_type):
        return "BLOB"
    raise InvalidInput(
        f"payload column {field_name!r} has type {arrow_type}, which eventkit cannot store: payload "
        "columns are flat scalars (bool, int, float, str, date, datetime); serialise nested values to a string",
        column=field_name,
    )


ARROW_TYPES = {
    "BOOLEAN": "bool_",
    "BIGINT": "int64",
    "DOUBLE": "float64",
    "VARCHAR": "string",
    "DATE": "date32",
    "BLOB": "binary",
}


def arrow_type_for(kind: str) -> Any:
    import pyarrow as pa

    if kind == "TIMESTAMPTZ":
        return pa.timestamp("us", tz="UTC")
    if kind == NULL_TYPE:
        return pa.null()
    return getattr(pa, ARROW_TYPES[kind])()


def utf8_encodable(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (a lone surrogate cannot)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
