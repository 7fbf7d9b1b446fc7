"""The grid of a snapshot series: which points in time (or positions) a series has.

``every`` is a calendar step (``"1D"``, ``"6h"``, ``"1W"``, ``"1MS"``, ``"QS"``, ``"YS"``,
``"15min"``, a ``timedelta``) or an int N (every N positions of the store's log). Points are
``start, start + every, ...``; without ``start`` they are aligned to the calendar (midnight,
Mondays for weeks — ISO weeks, the 1st of the month) and begin where the data begins.

Time zones. ``tz`` (default ``"UTC"``) is the zone of the calendar: with ``tz="Europe/Zurich"``
daily, weekly and monthly points fall on local midnights (a day is 23 or 25 hours across a DST
change), a naive ``start``/``end``/``as_of`` is read as local time, and the series' times come
back tz-aware in that zone. Sub-daily steps (``"6h"``) advance by fixed durations from a local
midnight.

Example:
    >>> parse_every("1D"), parse_every("1MS"), parse_every(1000)
    (('tick', 86400000000), ('month', 1), ('events', 1000))
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Any

from eventkit.common.errors import InvalidFold
from eventkit.common.timeparse import to_utc

_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1)
_MONDAY = _dt.datetime(1970, 1, 5)
_DAY_US = 86400 * 10**6
_YEAR_1_US = -62135596800 * 10**6  # 0001-01-01, the earliest time a timestamp holds
_TICK_US = {"us": 1, "ms": 1000, "s": 10**6, "min": 60 * 10**6, "h": 3600 * 10**6,
            "H": 3600 * 10**6, "D": _DAY_US, "d": _DAY_US, "W": 7 * _DAY_US}
_MONTHS = {"MS": 1, "QS": 3, "YS": 12}
_EVERY_RE = re.compile(r"^\s*(\d*)\s*(us|ms|s|min|h|H|D|d|W|MS|QS|YS)\s*$")


@dataclass(frozen=True)
class Grid:
    """Snapshot points: ``origin + k * step`` for k in ``0..`` (bounded by ``k_end``).

    Attributes:
        kind: ``"tick"`` (fixed µs step), ``"month"`` (calendar months) or ``"events"`` (positions).
        step: µs, months, or positions per point.
        origin: The point k = 0: a position for ``"events"``; a naive local datetime when
            ``wall`` (calendar arithmetic on the local clock), else a UTC datetime.
        clamp: Whether events before the origin fold into point 0 (``start`` was given).
        k_end: The last point (``end``/``as_of`` given) or None (up to the data).
        tz: The time zone of the calendar and of the output times.
        wall: Whether points are computed on the local wall clock (days, weeks, months in a
            zone other than UTC).
    """

    kind: str
    step: int
    origin: Any
    clamp: bool
    k_end: int | None
    tz: str = "UTC"
    wall: bool = False

    def _time(self) -> str:
        return f"timezone('{self.tz}', occurred_at)" if self.wall else "occurred_at"

    def k_sql(self, col: str | None = None) -> str:
        """SQL: the index of the first point at or after an event (its bucket).

        Args:
            col: The column (default: ``occurred_at``, or ``position`` for an int grid).
        """
        if self.kind == "month":
            o = self.origin
            t = col or "occurred_at"
            t = f"timezone('{self.tz}', {t})" if self.wall else t
            # Whole months from the origin, plus one if the event is past its month's start.
            diff = (f"((year({t}) - {o.year}) * 12 + month({t}) - {o.month}"
                    f" + CASE WHEN {t} > date_trunc('month', {t}) THEN 1 ELSE 0 END)")
            d = self.step
            k = f"(CASE WHEN {diff} > 0 THEN ({diff} + {d - 1}) // {d} ELSE -((-{diff}) // {d}) END)"
            return f"greatest({k}, 0)" if self.clamp else k
        if self.kind == "events":
            value, origin = col or "position", int(self.origin)
            low = 0  # positions start at 1
        else:
            t = col or "occurred_at"
            value = f"epoch_us(timezone('{self.tz}', {t}))" if self.wall else f"epoch_us({t})"
            origin, low = _us(self.origin), _YEAR_1_US
        d = self.step
        if self.clamp:
            # Anything before the origin clamps to 0, so truncating division is enough.
            return f"greatest(({value} - {origin} + {d - 1}) // {d}, 0)"
        # Ceil division without a branch: measure from a point K steps before the origin that
        # precedes every possible value, so the numerator is never negative (DuckDB's //
        # truncates toward zero). One subtraction and one division per event.
        n = (origin - low) // d + 1
        return f"(({value} - {origin - n * d} + {d - 1}) // {d} - {n})"

    def at_sql(self, k: str) -> str:
        """SQL: the point in time (a TIMESTAMPTZ) or position of index ``k``."""
        if self.kind == "events":
            return f"({int(self.origin)} + {k} * {self.step})::BIGINT"
        if self.wall:
            origin = f"TIMESTAMP '{self.origin.isoformat()}'"
        else:
            origin = f"TIMESTAMPTZ '{self.origin.isoformat()}'"
        if self.kind == "tick":
            t = f"({origin} + to_microseconds(({k}) * {self.step}))"
        else:
            t = f"({origin} + to_months(({k} * {self.step})::INTEGER))"
        return f"timezone('{self.tz}', {t})" if self.wall else t

    def k_of(self, point: Any) -> int:
        """The index of the last point at or before ``point`` (a UTC datetime or a position)."""
        if self.kind == "events":
            return (int(point) - int(self.origin)) // self.step
        if self.wall:
            point = _local(point, self.tz)
        if self.kind == "tick":
            return (_us(point) - _us(self.origin)) // self.step
        months = (point.year - self.origin.year) * 12 + point.month - self.origin.month
        return months // self.step


def _us(t: _dt.datetime) -> int:
    """Microseconds since 1970-01-01 of a naive (local wall clock) or aware datetime."""
    base = _EPOCH.replace(tzinfo=_UTC) if t.tzinfo is not None else _EPOCH
    delta = t - base
    return (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds


def _zone(tz: Any) -> Any:
    """``tz`` as a ZoneInfo (``None`` and ``"UTC"`` mean UTC); raise InvalidFold if unknown."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = "UTC" if tz is None else str(tz)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidFold(f"tz={tz!r} is not a time zone: give an IANA name such as 'UTC', "
                          "'Europe/Zurich' or 'America/New_York'") from None


def tz_name(tz: Any) -> str:
    """The IANA name of ``tz`` (validated)."""
    return "UTC" if tz is None else str(_zone(tz).key)


def _local(t: _dt.datetime, tz: str) -> _dt.datetime:
    """A UTC datetime as a naive datetime on ``tz``'s wall clock."""
    return t.astimezone(_zone(tz)).replace(tzinfo=None)


def to_instant(value: Any, *, name: str, tz: str) -> _dt.datetime:
    """Parse a point in time; a naive value is local time in ``tz``. Returns a UTC datetime."""
    if tz != "UTC":
        import pandas as pd

        if isinstance(value, str):
            try:
                value = _dt.datetime.fromisoformat(value.strip())
            except ValueError:
                pass  # to_utc raises the standard message
        if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
            value = _dt.datetime(value.year, value.month, value.day)
        if isinstance(value, pd.Timestamp) and value.tzinfo is None:
            value = value.tz_localize(tz)
        elif isinstance(value, _dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=_zone(tz))
    return to_utc(value, name=name)


def parse_every(every: Any) -> tuple[str, int]:
    """Parse ``every`` into (kind, step). Raise :class:`InvalidFold` on anything else.

    Example:
        >>> parse_every("1W")
        ('tick', 604800000000)
    """
    if isinstance(every, bool):
        raise InvalidFold(f"every={every!r} is not a step")
    if isinstance(every, int):
        if every <= 0:
            raise InvalidFold(f"every={every!r}: a number of events must be positive")
        if every > _MAX_POSITION:  # positions are 64-bit: a larger step overflowed in DuckDB
            raise InvalidFold(f"every={every!r}: a number of events is at most 2**62")
        return "events", every
    if isinstance(every, _dt.timedelta):  # includes pandas Timedelta
        us = _us(_EPOCH + every)
        if us <= 0:
            raise InvalidFold(f"every={every!r}: the step must be positive")
        return "tick", us
    if isinstance(every, str):
        m = _EVERY_RE.match(every)
        if m:
            n = int(m.group(1) or 1)
            unit = m.group(2)
            if n <= 0:
                raise InvalidFold(f"every={every!r}: the step must be positive")
            if unit in _MONTHS:
                return "month", n * _MONTHS[unit]
            return "tick", n * _TICK_US[unit]
    raise InvalidFold(
        f"every={every!r} is not a snapshot step: use '1D', '6h', '15min', '1W' (Mondays), "
        "'1MS' (month starts), 'QS', 'YS', a timedelta, or an int number of events (positions)"
    )


_MAX_POSITION = 2**62
"""The largest position or step in events a grid takes (grid arithmetic stays within 64 bits)."""


def make_grid(every: Any, *, start: Any, end: Any, as_of: Any, tz: Any = "UTC") -> Grid:
    """Build the grid from the user's arguments (validated before any work).

    Raises:
        InvalidFold: A bad step, time, zone, a month grid starting off a month start, or a
            start after the end.
    """
    kind, step = parse_every(every)
    zone = tz_name(tz)
    if kind == "events":
        for name, v in (("start", start), ("end", end)):
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                raise InvalidFold(f"{name}={v!r}: with every=<int> the grid is positions; give an int")
            if v is not None and not 0 <= v <= _MAX_POSITION:
                raise InvalidFold(f"{name}={v!r}: a position is from 0 to 2**62")
        _refuse_inverted(start, end, start, end)
        origin = start if start is not None else 0
        k_end = None if end is None else (end - origin) // step
        return Grid(kind, step, origin, start is not None, k_end, zone)
    start_t = None if start is None else to_instant(start, name="start", tz=zone)
    end_t = None if end is None else to_instant(end, name="end", tz=zone)
    as_of_t = None if as_of is None else as_of_instant(as_of, zone)
    _refuse_inverted(start, end, start_t, end_t)
    if as_of_t is not None:
        end_t = as_of_t if end_t is None else min(end_t, as_of_t)
    # Calendar steps (whole days, weeks, months) follow the local clock; shorter ones are durations.
    wall = zone != "UTC" and (kind == "month" or step % _DAY_US == 0)
    if start_t is None:
        base = _MONDAY if (kind == "tick" and step % _TICK_US["W"] == 0) else _EPOCH
        if wall:
            origin = base
        elif zone == "UTC":
            origin = base.replace(tzinfo=_UTC)
        else:  # durations from a local midnight
            origin = base.replace(tzinfo=_zone(zone)).astimezone(_UTC)
    else:
        origin = _local(start_t, zone) if wall else start_t
        local = _local(start_t, zone)
        if kind == "month" and (local.day != 1 or local.time() != _dt.time(0)):
            raise InvalidFold(f"every={every!r} puts points on month starts; start={start!r} is not one")
    grid = Grid(kind, step, origin, start_t is not None, None, zone, wall)
    if end_t is not None:
        grid = Grid(kind, step, origin, start_t is not None, grid.k_of(end_t), zone, wall)
    return grid


def _refuse_inverted(start: Any, end: Any, start_at: Any, end_at: Any) -> None:
    """Refuse a ``start`` after ``end``: the grid would have no points, and an empty series reads
    as "no data" rather than as a mistake. ``start == end`` is one point. (An ``as_of`` before
    ``start`` stays valid and empty: as_of is a cut of what was true, often "now" or computed.)"""
    if start_at is not None and end_at is not None and start_at > end_at:
        raise InvalidFold(f"start={start!r} is after end={end!r}: the series would have no points; give a start "
                          "at or before the end (start == end is one point)")


def as_of_instant(as_of: Any, tz: str) -> _dt.datetime:
    """Parse ``as_of`` (valid time) for a grid in ``tz``; an int is refused (use ``known_at``)."""
    if isinstance(as_of, int) and not isinstance(as_of, bool):
        from eventkit.common.timeparse import parse_as_of

        parse_as_of(as_of)  # raises the standard message
    return to_instant(as_of, name="as_of", tz=tz)


def points(grid: Grid, k: Any) -> Any:
    """The points of indexes ``k`` (a numpy int array) as a pandas array (tz-aware in ``grid.tz``)."""
    import numpy as np
    import pandas as pd

    k = np.asarray(k, dtype="int64")
    if grid.kind == "events":
        return grid.origin + k * grid.step
    if not len(k):
        return pd.DatetimeIndex([], tz=grid.tz).as_unit("us").array
    if grid.kind == "tick":
        origin = pd.Timestamp(grid.origin)
        t = pd.DatetimeIndex(origin + pd.to_timedelta(k * grid.step, unit="us"))
    else:
        o = grid.origin
        m = o.month - 1 + k * grid.step
        t = pd.DatetimeIndex(pd.to_datetime(pd.DataFrame(
            {"year": o.year + m // 12, "month": m % 12 + 1, "day": np.ones_like(k)})))
        t = t + pd.Timedelta(hours=o.hour, minutes=o.minute, seconds=o.second, microseconds=o.microsecond)
    if t.tz is None:
        t = t.tz_localize(grid.tz if grid.wall else "UTC", nonexistent="shift_forward", ambiguous=True)
    return t.tz_convert(grid.tz).as_unit("us").array
