"""Parse the points in time that folds accept: ``as_of``, ``known_at``, ``start`` and ``end``.

A point in time may be an ISO string, a :class:`datetime.datetime`, a :class:`datetime.date`, a
pandas ``Timestamp`` or a numpy ``datetime64``; a naive value means UTC. ``known_at`` may also be
an int, read as a store position (transaction time is both a clock and a sequence). Everything
else is rejected with :class:`~eventkit.common.errors.InvalidFold` before any work is done.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Union

from eventkit.common.errors import EventKitError, InvalidFold

TimeLike = Union[str, _dt.datetime, _dt.date, Any]
"""What callers may pass: ISO string, datetime, date, pandas Timestamp, numpy datetime64."""

_UTC = _dt.timezone.utc


def to_utc(value: Any, *, name: str = "time", error: type[EventKitError] = InvalidFold) -> _dt.datetime:
    """Return ``value`` as a tz-aware UTC datetime (µs precision).

    Args:
        value: ISO string, datetime, date (midnight UTC), pandas Timestamp or numpy datetime64.
        name: The argument's name, used in the error message.
        error: The error class to raise (the store raises InvalidInput for bad event times).

    Returns:
        A datetime with ``tzinfo=UTC``.

    Raises:
        InvalidFold: The value is not a point in time eventkit understands.

    Example:
        >>> to_utc("2024-03-01T12:00")
        datetime.datetime(2024, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)
        >>> to_utc("2024-03-01T12:00+01:00").hour
        11
    """
    if isinstance(value, bool) or value is None:
        raise _bad(value, name, error)
    # pandas first: Timestamp subclasses datetime but may carry nanoseconds.
    try:
        import pandas as pd

        if value is pd.NaT:
            raise _bad(value, name, error)
        if isinstance(value, pd.Timestamp):
            try:
                ts = value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")
                return ts.floor("us").to_pydatetime()
            except (OverflowError, pd.errors.OutOfBoundsDatetime):
                raise _out_of_range(value, name, error) from None
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=_UTC)
        try:
            return value.astimezone(_UTC)
        except OverflowError:  # year 1 at +05:00 is year 0 in UTC; 9999 at -05:00 is 10000
            raise _out_of_range(value, name, error) from None
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=_UTC)
    if isinstance(value, str):
        text = value.strip()
        # Python 3.11's fromisoformat accepts "Z" and most ISO 8601 forms.
        try:
            parsed = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise _bad(value, name, error) from None
        return to_utc(parsed, name=name, error=error)
    type_name = type(value).__module__ + "." + type(value).__name__
    if type_name == "numpy.datetime64":
        import pandas as pd

        if pd.isna(value):
            raise _bad(value, name, error)
        return to_utc(pd.Timestamp(value), name=name, error=error)
    raise _bad(value, name, error)


def parse_as_of(value: Any) -> _dt.datetime | None:
    """Parse ``as_of`` (valid time). ``None`` means "no cut".

    Raises:
        InvalidFold: An int (positions cut transaction time: use ``known_at``) or an unknown format.

    Example:
        >>> parse_as_of("2024-01-31")
        datetime.datetime(2024, 1, 31, 0, 0, tzinfo=datetime.timezone.utc)
    """
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        raise InvalidFold(
            f"as_of={value!r}: as_of cuts valid time (occurred_at) and needs a datetime or an "
            "ISO string; a position cuts transaction time, pass it as known_at="
        )
    return to_utc(value, name="as_of")


def parse_known_at(value: Any) -> int | _dt.datetime | None:
    """Parse ``known_at`` (transaction time): an int position or a point in time.

    Raises:
        InvalidFold: A negative position or an unknown format.

    Example:
        >>> parse_known_at(120)
        120
        >>> parse_known_at("2024-01-31T00:00:00Z")
        datetime.datetime(2024, 1, 31, 0, 0, tzinfo=datetime.timezone.utc)
    """
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise InvalidFold(f"known_at={value!r}: a position is 0 or more")
        if value >= 2**63:  # positions are 64-bit; a larger one failed deep in the catalog (OverflowError)
            raise InvalidFold(f"known_at={value!r}: a position is at most 2**63 - 1")
        return value
    type_name = type(value).__module__ + "." + type(value).__name__
    if type_name.startswith("numpy.int") or type_name.startswith("numpy.uint"):
        return parse_known_at(int(value))
    return to_utc(value, name="known_at")


def _out_of_range(value: Any, name: str, error: type[EventKitError]) -> EventKitError:
    return error(
        f"{name}={value!r} is outside years 1-9999 once converted to UTC; eventkit keeps times in UTC "
        "within that range"
    )


def _bad(value: Any, name: str, error: type[EventKitError] = InvalidFold) -> EventKitError:
    return error(
        f"{name}={value!r} is not a point in time eventkit understands: give an ISO 8601 string "
        "('2024-03-01' or '2024-03-01T12:00:00Z'), a datetime/date, a pandas Timestamp"
        + (" or an int position" if name == "known_at" else "")
        + "; a naive time means UTC"
    )
