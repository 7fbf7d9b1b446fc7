"""Snapshot series: the state of every stream at many points in time, computed in one pass.

The grid. ``every`` is a calendar step (``"1D"``, ``"6h"``, ``"1W"``, ``"1MS"``, ``"QS"``,
``"YS"``, ``"15min"``, a ``timedelta``) or an int N (every N positions of the store's log).
Points are ``start, start + every, ...``; without ``start`` they are aligned to the calendar
(midnight UTC, Mondays for weeks, the 1st of the month) and begin where the data begins.

Meaning. The row ``(at, stream_id)`` is exactly ``fold.state(as_of=at)`` for that stream: events
with ``occurred_at <= at`` (inclusive, like ``as_of``), folded in version order. For an int grid
``at`` is a position and the row is the state over events with ``position <= at``. A stream
appears from the first point at which it has an event. Events before ``start`` count in the
first point; without ``end`` the grid stops at the first point covering the last event.

Changes or dense. By default the series holds a row only at points where a stream had events since
the previous point (its state at the points in between is its latest row before them); ``dense=True`` repeats every stream at every
point. The change series is the default because a dense one costs streams x points rows whatever
the events: daily for a year over 100,000 accounts is 36.5 million rows, several GB in pandas
and several times slower to compute (see BENCHMARKS.md, "Folds"); dashboards need the totals per
point, which :func:`aggregate` computes from the changes by filling forward inside DuckDB.

How it is one pass. Each event falls in one bucket (the first point at or after it); one hash
aggregate computes partial reducer values per (stream, bucket); a window over the (much smaller)
bucket rows combines them cumulatively (``first``/``last`` combine by version, so backdated events
land correctly); for ``dense=True`` ``unnest(range(...))`` fills forward between a stream's
changes.

Example:
    >>> daily = account.snapshots(store, every="1D", start="2024-01-01")   # doctest: +SKIP
    >>> ek.aggregate(daily, by="status", values={"total": ("balance", "sum")})  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from eventkit._errors import InvalidFold
from eventkit._reducers import _quote, unique_leaves
from eventkit._timeparse import parse_as_of, to_utc

if TYPE_CHECKING:
    import pandas as pd

    from eventkit._fold import Fold, Source

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_MONDAY = _dt.datetime(1970, 1, 5, tzinfo=_dt.timezone.utc)
_TICK_US = {"us": 1, "ms": 1000, "s": 10**6, "min": 60 * 10**6, "h": 3600 * 10**6,
            "H": 3600 * 10**6, "D": 86400 * 10**6, "d": 86400 * 10**6, "W": 7 * 86400 * 10**6}
_MONTHS = {"MS": 1, "QS": 3, "YS": 12}
_EVERY_RE = re.compile(r"^\s*(\d*)\s*(us|ms|s|min|h|H|D|d|W|MS|QS|YS)\s*$")


@dataclass(frozen=True)
class Grid:
    """Snapshot points: ``origin + k * step`` for k in ``0..`` (bounded by ``k_end``).

    Attributes:
        kind: ``"tick"`` (fixed µs step), ``"month"`` (calendar months) or ``"events"`` (positions).
        step: µs, months, or positions per point.
        origin: The point k = 0 (a UTC datetime, or a position for ``"events"``).
        clamp: Whether events before the origin fold into point 0 (``start`` was given).
        k_end: The last point (``end``/``as_of`` given) or None (up to the data).
    """

    kind: str
    step: int
    origin: Any
    clamp: bool
    k_end: int | None

    def k_sql(self) -> str:
        """SQL: the index of the first point at or after an event (its bucket)."""
        if self.kind == "events":
            diff, d = f"(position - {int(self.origin)})", self.step
        elif self.kind == "tick":
            origin_us = _us(self.origin)
            diff, d = f"(epoch_us(occurred_at) - {origin_us})", self.step
        else:
            o = self.origin
            # Whole months from the origin, plus one if the event is past its month's start.
            diff = (f"((year(occurred_at) - {o.year}) * 12 + month(occurred_at) - {o.month}"
                    f" + CASE WHEN occurred_at > date_trunc('month', occurred_at) THEN 1 ELSE 0 END)")
            d = self.step
        # Integer ceil division (DuckDB's // truncates toward zero).
        k = f"(CASE WHEN {diff} > 0 THEN ({diff} + {d - 1}) // {d} ELSE -((-{diff}) // {d}) END)"
        return f"greatest({k}, 0)" if self.clamp else k

    def at_sql(self, k: str) -> str:
        """SQL: the point in time (or position) of index ``k``."""
        if self.kind == "events":
            return f"({int(self.origin)} + {k} * {self.step})::BIGINT"
        origin = f"TIMESTAMPTZ '{self.origin.isoformat()}'"
        if self.kind == "tick":
            return f"({origin} + to_microseconds(({k}) * {self.step}))"
        return f"({origin} + to_months(({k} * {self.step})::INTEGER))"


def _us(t: _dt.datetime) -> int:
    delta = t - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds


def parse_every(every: Any) -> tuple[str, int]:
    """Parse ``every`` into (kind, step). Raise :class:`InvalidFold` on anything else.

    Example:
        >>> parse_every("1D"), parse_every("1MS"), parse_every(1000)
        (('tick', 86400000000), ('month', 1), ('events', 1000))
    """
    if isinstance(every, bool):
        raise InvalidFold(f"every={every!r} is not a step")
    if isinstance(every, int):
        if every <= 0:
            raise InvalidFold(f"every={every!r}: a number of events must be positive")
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


def make_grid(every: Any, *, start: Any, end: Any, as_of: Any) -> Grid:
    """Build the grid from the user's arguments (validated before any work)."""
    kind, step = parse_every(every)
    if kind == "events":
        for name, v in (("start", start), ("end", end)):
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                raise InvalidFold(f"{name}={v!r}: with every=<int> the grid is positions; give an int")
        origin = start if start is not None else 0
        k_end = None if end is None else (end - origin) // step
        return Grid(kind, step, origin, start is not None, k_end)
    start_t = None if start is None else to_utc(start, name="start")
    end_t = None if end is None else to_utc(end, name="end")
    as_of_t = parse_as_of(as_of)
    if as_of_t is not None:
        end_t = as_of_t if end_t is None else min(end_t, as_of_t)
    if start_t is None:
        origin = _MONDAY if (kind == "tick" and step % _TICK_US["W"] == 0) else _EPOCH
    else:
        origin = start_t
        if kind == "month" and (origin.day != 1 or origin.time() != _dt.time(0)):
            raise InvalidFold(f"every={every!r} puts points on month starts; start={start!r} is not one")
    k_end = None
    if end_t is not None:
        if kind == "tick":
            k_end = (_us(end_t) - _us(origin)) // step
        else:
            months = (end_t.year - origin.year) * 12 + end_t.month - origin.month
            k_end = months // step
    return Grid(kind, step, origin, start_t is not None, k_end)


def snapshot_sql(fold: Fold, source: Source, grid: Grid, *, dense: bool = False) -> str:
    """One query: bucket partials -> cumulative window -> fill forward -> finish reducers."""
    schema = source.schema
    leaves = unique_leaves(fold.fields.values())
    partials, combined, names = [], [], {}
    for i, leaf in enumerate(leaves):
        cond = leaf.condition(schema)
        cols = [f"_p{i}_{j}" for j in range(len(leaf.partials(schema, cond)))]
        partials += [f"{sql} AS {c}" for sql, c in zip(leaf.partials(schema, cond), cols)]
        for j, comb in enumerate(leaf.combiners()):
            combined.append(f"{comb.format(*cols)} OVER w AS _c{i}_{j}")
        names[leaf] = leaf.finish(f"_c{i}_0", schema)
    outs = [f"{red.final_sql(names)} AS {_quote(k)}" for k, red in fold.fields.items()]
    k_filter = f" WHERE _k <= {grid.k_end}" if grid.k_end is not None else ""
    if grid.clamp:
        k_filter += (" AND" if k_filter else " WHERE") + " _k >= 0"
    last_k = str(grid.k_end) if grid.k_end is not None else "_kmax"
    fill = (f"unnest(range(_k, coalesce(_knext, {last_k} + 1)))" if dense else "_k")
    # Only the dense fill needs each bucket's successor and the last bucket; the window over all
    # rows for ``_kmax`` forces the whole series into memory, so the change series skips both.
    extra = (", lead(_k) OVER (PARTITION BY stream_id ORDER BY _k) AS _knext"
             + (", max(_k) OVER () AS _kmax" if grid.k_end is None else "")) if dense else ""
    return f"""
WITH b AS (
  SELECT stream_id, _k, {', '.join(partials)}, max(version) AS _v, max(position) AS _pos
  FROM (SELECT *, {grid.k_sql()} AS _k FROM {source.relation}){k_filter}
  GROUP BY stream_id, _k
), c AS (
  SELECT stream_id, _k, {', '.join(combined)}, max(_v) OVER w AS version, max(_pos) OVER w AS position{extra}
  FROM b WINDOW w AS (PARTITION BY stream_id ORDER BY _k ROWS UNBOUNDED PRECEDING)
), d AS (SELECT {fill} AS _kk, * EXCLUDE (_k) FROM c)
SELECT {grid.at_sql('_kk')} AS at, stream_id, {', '.join(outs)}, version, position
FROM d ORDER BY _kk, stream_id
"""


def declarative_snapshots(fold: Fold, store: Any, *, every: Any, start: Any, end: Any, streams: Any,
                          as_of: Any, known_at: Any, dense: bool) -> pd.DataFrame:
    """Implementation of :meth:`Fold.snapshots`."""
    from eventkit._fold import open_source

    grid = make_grid(every, start=start, end=end, as_of=as_of)
    with open_source(store, stream_type=fold.stream_type, as_of=as_of, known_at=known_at,
                     streams=streams) as src:
        fold.prepare(src)
        return tag_series(src.con.sql(snapshot_sql(fold, src, grid, dense=dense)).df(), grid, dense)


_ATTR = "eventkit.snapshots"


def tag_series(frame: pd.DataFrame, grid: Grid, dense: bool) -> pd.DataFrame:
    """Record in ``frame.attrs`` whether it is dense and its grid, so :func:`aggregate` can fill
    a series of changes forward itself."""
    origin = grid.origin if grid.kind == "events" else grid.origin.isoformat()
    frame.attrs[_ATTR] = {"dense": dense, "kind": grid.kind, "step": grid.step, "origin": origin,
                          "k_end": grid.k_end}
    return frame


def _grid_points(meta: Mapping[str, Any], first: Any, last: Any) -> list[Any]:
    """Every grid point from ``first`` to ``last`` (both points of the grid), as Python values."""
    import pandas as pd

    kind, step = meta["kind"], meta["step"]
    if kind == "events":
        return list(range(int(first), int(last) + 1, step))
    first, last = pd.Timestamp(first), pd.Timestamp(last)
    if kind == "tick":
        return list(pd.date_range(first, last, freq=pd.Timedelta(microseconds=step)))
    return list(pd.date_range(first, last, freq=pd.DateOffset(months=step)))


def _last_point(meta: Mapping[str, Any], last_seen: Any) -> Any:
    """The grid's last point: ``end``/``as_of`` if given, else the last point holding a change."""
    import pandas as pd

    if meta["k_end"] is None:
        return last_seen
    k, step = meta["k_end"], meta["step"]
    if meta["kind"] == "events":
        return meta["origin"] + k * step
    origin = pd.Timestamp(meta["origin"])
    if meta["kind"] == "tick":
        return origin + pd.Timedelta(microseconds=k * step)
    return origin + pd.DateOffset(months=k * step)


_AGGS = {"sum", "count", "min", "max", "mean", "avg", "median", "count_distinct", "any_value"}


def aggregate(snapshots: pd.DataFrame, *, by: str | Sequence[str] | None = None,
              values: Mapping[str, tuple[str, str]] | None = None) -> pd.DataFrame:
    """Cross-stream aggregates per point in time: totals, averages, counts by a status.

    A series of changes (``fold.snapshots()``'s default) is filled forward over its grid first,
    inside DuckDB, so every stream counts at every point from its first event on: the result is
    the same as for the dense series.

    Args:
        snapshots: A frame from ``fold.snapshots()`` (or ``fold.state()``, which has no ``at``).
        by: Extra grouping columns besides ``at`` (e.g. ``"status"``).
        values: Output column -> (input column, function); function is one of sum, count, min,
            max, mean (avg), median, count_distinct. Default: ``{"streams": ("stream_id", "count")}``.

    Returns:
        One row per ``at`` (and ``by`` group), sorted.

    Raises:
        InvalidFold: An unknown column or function.

    Example:
        >>> ek.aggregate(daily, values={"total_balance": ("balance", "sum")})  # doctest: +SKIP
        >>> ek.aggregate(daily, by="status")                                  # doctest: +SKIP
    """
    import duckdb

    by_cols = [by] if isinstance(by, str) else list(by or [])
    keys = (["at"] if "at" in snapshots.columns else []) + by_cols
    meta = snapshots.attrs.get(_ATTR)
    changes = bool(meta) and not meta["dense"] and "at" in snapshots.columns and len(snapshots) > 0
    values = dict(values or {"streams": ("stream_id", "count")})
    for col in by_cols + [c for c, _ in values.values()]:
        if col not in snapshots.columns:
            raise InvalidFold(f"aggregate: no column {col!r} in the snapshots "
                              f"(columns: {list(snapshots.columns)})")
    exprs = []
    for out, (col, fn) in values.items():
        if fn not in _AGGS:
            raise InvalidFold(f"aggregate: unknown function {fn!r} for {out!r}; use one of {sorted(_AGGS)}")
        sql = {"mean": "avg", "count_distinct": "count(DISTINCT {})"}.get(fn, fn)
        call = sql.format(_quote(col)) if "{}" in sql else f"{sql}({_quote(col)})"
        if fn == "sum" and str(snapshots[col].dtype).lower().startswith(("int", "uint")):
            call = f"{call}::BIGINT"  # DuckDB widens integer sums to HUGEINT (float in pandas)
        exprs.append(f"{call} AS {_quote(out)}")
    group = ", ".join(_quote(k) for k in keys)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("_snaps", snapshots)
        source = "_snaps"
        if changes:
            # A series of changes: each row holds until the stream's next row. Fill it forward
            # over the grid inside DuckDB (streamed into the aggregate, never materialised).
            import pyarrow as pa

            last = _last_point(meta, snapshots["at"].max())
            points = _grid_points(meta, snapshots["at"].min(), last)
            typ = pa.int64() if meta["kind"] == "events" else pa.timestamp("us", tz="UTC")
            con.register("_points", pa.table({"at": pa.array(points, typ)}))
            source = ('(SELECT p."at", s.* EXCLUDE ("at", _next) FROM (SELECT *, lead("at") OVER '
                      '(PARTITION BY stream_id ORDER BY "at") AS _next FROM _snaps) s JOIN _points p '
                      'ON p."at" >= s."at" AND (s._next IS NULL OR p."at" < s._next))')
        q = f"SELECT {group + ', ' if group else ''}{', '.join(exprs)} FROM {source}"
        if group:
            q += f" GROUP BY {group} ORDER BY {group}"
        return con.sql(q).df()
    finally:
        con.close()
