"""Snapshot series: the state of every stream at many points in time, computed in one pass.

Three outputs, one meaning (the grid is :mod:`eventkit.fold.grid`'s):

- :meth:`Fold.snapshots` — the **dense series**, the default: one row ``(as_of, stream_id)`` for
  every stream that exists at every point (from its first event at or before the point on),
  equal to ``fold.state(as_of=as_of)`` for that stream. Grouping it by ``as_of`` and summing,
  merging a lookup and grouping, charting by stream: all give the right answer. It costs
  streams x points rows, so past ``max_rows`` it refuses with :class:`SeriesTooLarge` before
  building anything.
- :meth:`Fold.changes` — the **change log**: a row only at points where a stream had events since
  the previous point. Its time column is ``changed_at`` (not ``as_of``): summing it per point
  would miss the streams that did not change, so a group-by on ``as_of`` fails instead.
- :meth:`Fold.aggregate` — totals per point across streams, computed in DuckDB from the changes
  without materialising the series (:mod:`eventkit.fold.totals`).

Meaning. For a time grid the row at ``as_of`` folds the events with ``occurred_at <= as_of``
(inclusive, like ``state(as_of=)``) in version order; for an int grid ``as_of`` is a position and
the row folds the events with ``position <= as_of``. Events before ``start`` count in the first
point; without ``end`` the grid stops at the first point covering the last event. The column
``complete`` is False for points the store's knowledge has not reached yet (after now, or after
``known_at``): the last, partial period of a live store — charts mark it instead of drawing a cliff.

How it is one pass. Each event falls in one bucket (the first point at or after it); one hash
aggregate computes partial reducer values per (stream, bucket); a window over the (much smaller)
bucket rows combines them cumulatively (``first``/``last`` combine by version, so backdated events
land correctly); the dense series fills forward between a stream's changes with
``unnest(range(...))``.

Example:
    >>> daily = account.snapshots(store, every="1D", start="2024-01-01")      # doctest: +SKIP
    >>> daily.groupby("as_of")["balance"].sum()                                # doctest: +SKIP
    >>> account.aggregate(store, every="1D", values={"balance": "sum"}, by="status")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import numbers
from typing import TYPE_CHECKING, Any

from eventkit.common.errors import InvalidFold, SeriesTooLarge
from eventkit.fold.erasure import with_erased
from eventkit.fold.grid import Grid, make_grid, parse_every
from eventkit.common.sql import quote_ident
from eventkit.fold.reducers import Reducer, unique_leaves

if TYPE_CHECKING:
    import pandas as pd

    from eventkit.fold.sources import Source

# The Fold (eventkit.fold.declarative) passes itself in; it is not imported because it sits above this
# module and imports point down.
Fold = Any


__all__ = ["Grid", "make_grid", "parse_every", "declarative_snapshots", "declarative_changes",
           "DEFAULT_MAX_ROWS", "check_budget", "finish_frame"]

#: Rows a dense series may have before :meth:`Fold.snapshots` refuses (about 1-2 GB in pandas).
DEFAULT_MAX_ROWS = 10_000_000
_ATTR = "eventkit.series"


def bucket_partials_sql(fields: dict[str, Reducer], source: Source, grid: Grid) -> str:
    """One aggregate: per (stream, bucket) the leaves' combinable partials over ``source``.

    Columns ``stream_id, _k, _p<i>_<j>..., _v, _pos``. Partials of disjoint sets of events (one
    per segment group, on Dask workers) combine into the same rows with :func:`bucket_sql`'s
    ``b_from``.
    """
    ev = f"SELECT * FROM (SELECT *, {grid.k_sql()} AS _k FROM {source.relation}){k_where(grid)}"
    return f"WITH ev AS ({ev}) {_group_sql(fields, source)}"


def _group_sql(fields: dict[str, Reducer], source: Source) -> str:
    partials = []
    for i, leaf in enumerate(unique_leaves(fields.values())):
        sqls = leaf.partials(source.schema, leaf.condition(source.schema))
        partials += [f"{sql} AS _p{i}_{j}" for j, sql in enumerate(sqls)]
    return (f"SELECT stream_id, _k, {', '.join(partials)}, max(version) AS _v, max(position) AS _pos "
            "FROM ev GROUP BY stream_id, _k")


def bucket_sql(fields: dict[str, Reducer], source: Source, grid: Grid, *,
               relevant_only: bool = False, b_from: str | None = None) -> tuple[str, list[str]]:
    """CTEs ``ev``, ``b`` and ``c``: per (stream, bucket with events) the state after that bucket.

    ``c`` has ``stream_id, _k, <fields>, version, position``. With ``relevant_only`` the bucket
    rows are only those holding events that can change one of ``fields`` (plus each stream's
    first bucket, where it starts to exist): far fewer rows when the fields read a few event
    types (a status), and the same answer at every point after filling forward. With
    ``b_from`` (a table of :func:`bucket_partials_sql` rows, several per (stream, bucket)) the
    buckets are combined from it instead of scanned from ``source`` (CTEs ``b`` and ``c`` only).

    Returns:
        The SQL (starting ``WITH``) and the output field expressions' aliases.
    """
    schema = source.schema
    leaves = unique_leaves(fields.values())
    partials, combined, regroup, names = [], [], [], {}
    conds = []
    for i, leaf in enumerate(leaves):
        cond = leaf.condition(schema)
        conds.append(cond)
        sqls = leaf.partials(schema, cond)
        cols = [f"_p{i}_{j}" for j in range(len(sqls))]
        partials += [f"{sql} AS {c}" for sql, c in zip(sqls, cols)]
        for j, comb in enumerate(leaf.combiners(schema)):
            combined.append(f"{comb.format(*cols)} OVER w AS _c{i}_{j}")
            regroup.append(f"{comb.format(*cols)} AS {cols[j]}")
        names[leaf] = leaf.finish(f"_c{i}_0", schema)
    outs = [f"{red.final_sql(names)} AS {quote_ident(k)}" for k, red in fields.items()]
    where = k_where(grid)
    group = _group_sql(fields, source)
    prune = relevant_only and conds and all(c is not None for c in conds)
    if prune:
        # Buckets are computed only for the events that can change a field; a stream's first
        # bucket (where it starts to exist) comes from its earliest event, one per stream.
        relevant = " OR ".join(f"({c})" for c in dict.fromkeys(conds))
        ev = (f"ev AS (SELECT * FROM (SELECT *, {grid.k_sql()} AS _k FROM {source.relation} "
              f"WHERE {relevant}){where})")
        first_col = "position" if grid.kind == "events" else "occurred_at"
        nulls = ", ".join(f"NULL AS {p.rsplit(' AS ', 1)[1]}" for p in partials)
        regroup_cols = ", ".join(regroup)
        b = (f"f AS (SELECT * FROM (SELECT stream_id, {grid.k_sql('_first')} AS _k FROM (SELECT stream_id, "
             f"min({first_col}) AS _first FROM {source.relation} GROUP BY stream_id)){where}), "
             f"b0 AS ({group} UNION ALL SELECT stream_id, _k, {nulls}, NULL AS _v, NULL AS _pos FROM f), "
             f"b AS (SELECT stream_id, _k, {regroup_cols}, max(_v) AS _v, max(_pos) AS _pos "
             "FROM b0 GROUP BY stream_id, _k)")
    elif b_from is not None:
        ev = None
        b = (f"b AS (SELECT stream_id, _k, {', '.join(regroup)}, max(_v) AS _v, max(_pos) AS _pos "
             f"FROM {b_from} GROUP BY stream_id, _k)")
    else:
        ev = f"ev AS (SELECT * FROM (SELECT *, {grid.k_sql()} AS _k FROM {source.relation}){where})"
        b = f"b AS ({group})"
    c = (f"c0 AS (SELECT stream_id, _k, {', '.join(combined)}, max(_v) OVER w AS version, "
         "max(_pos) OVER w AS position FROM b "
         "WINDOW w AS (PARTITION BY stream_id ORDER BY _k ROWS UNBOUNDED PRECEDING)), "
         f"c AS (SELECT stream_id, _k, {', '.join(outs)}, version, position FROM c0)")
    return f"WITH {ev + ', ' if ev else ''}{b}, {c}", [quote_ident(k) for k in fields]


def k_where(grid: Grid) -> str:
    """`` WHERE`` on ``_k``: drop events after the last point (``k_sql`` clamps the first)."""
    return f" WHERE _k <= {grid.k_end}" if grid.k_end is not None else ""


def horizon_sql(grid: Grid, horizon: Any) -> str:
    """SQL literal of the last point the store's knowledge reaches (see :func:`horizon`)."""
    if grid.kind == "events":
        return str(int(horizon))
    return f"TIMESTAMPTZ '{horizon.isoformat()}'"


def horizon(source: Source, grid: Grid, known_at: Any) -> Any:
    """Up to where points are complete: the cut's last position for an int grid; else
    ``known_at`` (a time), the last commit before an int ``known_at``, or now."""
    from eventkit.common.timeparse import parse_known_at

    known = parse_known_at(known_at)
    if grid.kind == "events":
        return source.known_position()
    if isinstance(known, _dt.datetime):
        return known
    if known is not None:
        got = source.con.sql("SELECT max(recorded_at) FROM events").fetchall()[0][0]
        return got.astimezone(_dt.timezone.utc) if got is not None else _dt.datetime.now(_dt.timezone.utc)
    return _dt.datetime.now(_dt.timezone.utc)


def dense_sql(fields: dict[str, Reducer], source: Source, grid: Grid, *, last_k: int,
              horizon: Any, order: bool = True, b_from: str | None = None) -> str:
    """One query for the dense series: bucket partials -> cumulative window -> fill forward.

    ``last_k`` is the grid's last point (from :func:`size_of`), ``horizon`` the last complete
    one (None: no ``complete`` column); ``b_from`` as for :func:`bucket_sql`.
    """
    head, outs = bucket_sql(fields, source, grid, b_from=b_from)
    at = grid.at_sql("_kk")
    complete = f", {at} <= {horizon_sql(grid, horizon)} AS complete" if horizon is not None else ""
    return f"""{head},
c1 AS (SELECT *, lead(_k) OVER (PARTITION BY stream_id ORDER BY _k) AS _knext FROM c),
d AS (SELECT unnest(range(_k, coalesce(_knext, {int(last_k)} + 1))) AS _kk, * EXCLUDE (_k, _knext) FROM c1)
SELECT {at} AS as_of, stream_id, {', '.join(outs)}, version, position{complete}
FROM d{" ORDER BY _kk, stream_id" if order else ""}
"""


def changes_sql(fold: Fold, source: Source, grid: Grid, *, b_from: str | None = None) -> str:
    """One query for the change log: the state after each bucket that holds a stream's events."""
    fields = fold.fields if b_from is not None else with_erased(fold.fields, source)  # partials made elsewhere
    head, outs = bucket_sql(fields, source, grid, b_from=b_from)
    return (f"{head} SELECT {grid.at_sql('_k')} AS changed_at, stream_id, {', '.join(outs)}, "
            "version, position FROM c ORDER BY _k, stream_id")


def size_of(source: Source, grid: Grid) -> tuple[int, int, int, int]:
    """(streams, points, rows, last point index) of the dense series over ``source``, from one
    aggregate per stream (no series is built)."""
    where = k_where(grid)
    col = "position" if grid.kind == "events" else "occurred_at"
    # Buckets grow with time, so a stream's first and last buckets are those of its first and
    # last events: two per stream instead of one per event.
    firsts = (f"SELECT {grid.k_sql('_t0')} AS _k, {grid.k_sql('_t1')} AS _k1 FROM (SELECT min({col}) AS _t0, "
              f"max({col}) AS _t1 FROM {source.relation} GROUP BY stream_id)")
    last = (f"least({grid.k_end}, _k1)" if grid.k_end is not None else "_k1")
    q = (f"SELECT count(*), min(_k), max({last}), sum(_k) FROM ({firsts}){where}")
    n, k0, k1, sum_k0 = source.con.sql(q).fetchall()[0]
    if not n:
        return 0, 0, 0, 0
    last = grid.k_end if grid.k_end is not None else k1
    return int(n), int(last - k0 + 1), int(n * (last + 1) - sum_k0), int(last)


def check_budget(streams: int, n_points: int, rows: int, max_rows: int | None, every: Any) -> None:
    """Refuse a dense series larger than ``max_rows`` before building it."""
    if max_rows is not None and (not isinstance(max_rows, numbers.Integral) or isinstance(max_rows, bool) or max_rows < 0):
        raise InvalidFold(f"max_rows={max_rows!r}: give a number of rows (0 or more), or None for no limit")
    if max_rows is None or rows <= max_rows:
        return
    raise SeriesTooLarge(
        f"the dense series would have {rows:,} rows ({streams:,} streams x up to {n_points:,} "
        f"points of every={every!r}), more than max_rows={max_rows:,}. For totals per point use "
        "fold.aggregate(store, every=..., values={...}, by=...) (computed without the series); "
        "narrow it with streams=[...] or a shorter start/end; take a coarser every= (e.g. '1W', "
        "'1MS'); fold.changes() gives only the rows where a stream changed; or pass "
        "max_rows=None to build it anyway", rows=rows, streams=streams, points=n_points)


def to_frame(rel: Any) -> pd.DataFrame:
    """A DuckDB result as pandas, through Arrow: about 40% less peak memory than ``rel.df()``
    on a series of millions of rows, with the same dtypes (nullable ``Int64``/``boolean`` only
    for integer or boolean columns that hold NULLs, as ``df()`` gives them)."""
    import pandas as pd
    import pyarrow as pa

    table = rel.to_arrow_table()
    frame = table.to_pandas()
    for field in table.schema:
        col = table.column(field.name)
        if col.null_count and (pa.types.is_integer(field.type) or pa.types.is_boolean(field.type)):
            dtype = pd.BooleanDtype() if pa.types.is_boolean(field.type) else pd.Int64Dtype()
            frame[field.name] = col.to_pandas(types_mapper={field.type: dtype}.get)
    del table
    return frame


def finish_frame(frame: pd.DataFrame, grid: Grid, kind: str) -> pd.DataFrame:
    """Put the time column in the grid's zone and record the grid in ``attrs``."""
    col = "as_of" if kind == "dense" else "changed_at"
    if grid.kind != "events" and grid.tz != "UTC" and col in frame.columns:
        frame[col] = frame[col].dt.tz_convert(grid.tz)
    frame.attrs[_ATTR] = {"kind": kind, "every": [grid.kind, grid.step], "tz": grid.tz}
    if kind == "dense":
        warn_wrapping_totals(frame)
    return frame


# pandas' int64 sums wrap around past 2**63 - 1, without a word. The bound is summed in floats, off by
# far less than a millionth at any size a frame can have: warn a millionth below 2**63.
_NEAR = 2.0**63 * (1 - 1e-6)


def warn_wrapping_totals(frame: pd.DataFrame, time: str = "as_of") -> None:
    """Warn when an integer column's total at one point (or over part of its streams) can pass 64 bits.

    What one naturally does with the dense series is ``groupby("as_of").sum()``, and pandas sums int64
    with wrap-around: three balances of 2**62 total -2**62. Each value fits (the fold checks that); the
    sum of the absolute values per point bounds every total a grouping of that point can make, so
    below 2**63 none wraps. The bound costs one pass per integer column (a cheaper one first: the
    largest value times the rows)."""
    import numpy as np
    import pandas as pd

    from eventkit.common.errors import warn

    if time not in frame.columns or not len(frame):
        return
    starts = None
    for col in frame.columns:
        dtype = frame[col].dtype
        if col in (time, "version", "position") or not pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            continue
        size = np.abs(frame[col].to_numpy(dtype="float64", na_value=0.0))
        if float(size.max()) * len(size) < _NEAR:  # no total of these rows can come near 2**63
            continue
        if starts is None:  # the series is sorted by time: each point's rows are one run
            starts = np.flatnonzero(frame[time].ne(frame[time].shift()).to_numpy(dtype=bool))
        totals = np.add.reduceat(size, starts)
        worst = int(np.argmax(totals))
        if totals[worst] >= _NEAR:
            warn(f"the series' integer column {col!r} adds up, at {time}={frame[time].iloc[starts[worst]]}, to a total that can "
                 f"pass 64-bit integers (the absolute values sum to {totals[worst]:.4g}): pandas sums int64 with "
                 f"wrap-around, silently. Total it with ek.aggregate(series, values={{{col!r}: 'sum'}}) or "
                 f"fold.aggregate(store, ...) (both refuse a total past 64 bits), or convert it first: "
                 f"series.astype({{{col!r}: float}})")


def warn_dense_deprecated(dense: Any) -> None:
    import warnings

    if dense is not None:
        warnings.warn("snapshots(dense=...) is deprecated: snapshots() is always dense now; "
                      "use fold.changes() for the rows where a stream changed", DeprecationWarning,
                      stacklevel=3)


def declarative_snapshots(fold: Fold, store: Any, *, every: Any, start: Any, end: Any, streams: Any,
                          as_of: Any, known_at: Any, tz: Any = "UTC",
                          max_rows: int | None = DEFAULT_MAX_ROWS) -> pd.DataFrame:
    """Implementation of :meth:`Fold.snapshots` (the dense series)."""
    from eventkit.fold.sources import open_source

    grid = make_grid(every, start=start, end=end, as_of=as_of, tz=tz)
    with open_source(store, stream_type=fold.stream_type, as_of=cut_as_of(as_of, grid), known_at=known_at,
                     streams=streams) as src:
        fold.prepare(src)
        n, n_points, rows, last_k = size_of(src, grid)
        check_budget(n, n_points, rows, max_rows, every)
        sql = dense_sql(with_erased(fold.fields, src), src, grid, last_k=last_k, horizon=horizon(src, grid, known_at))
        frame = to_frame(src.con.sql(sql))
    return finish_frame(frame, grid, "dense")


def declarative_changes(fold: Fold, store: Any, *, every: Any, start: Any, end: Any, streams: Any,
                        as_of: Any, known_at: Any, tz: Any = "UTC") -> pd.DataFrame:
    """Implementation of :meth:`Fold.changes` (the change log)."""
    from eventkit.fold.sources import open_source

    grid = make_grid(every, start=start, end=end, as_of=as_of, tz=tz)
    with open_source(store, stream_type=fold.stream_type, as_of=cut_as_of(as_of, grid), known_at=known_at,
                     streams=streams) as src:
        fold.prepare(src)
        frame = to_frame(src.con.sql(changes_sql(fold, src, grid)))
    return finish_frame(frame, grid, "changes")


def cut_as_of(as_of: Any, grid: Grid) -> Any:
    """``as_of`` for the store cut: a naive value means local time in the grid's zone."""
    if as_of is None or grid.tz == "UTC":
        return as_of
    from eventkit.fold.grid import as_of_instant

    return as_of_instant(as_of, grid.tz)


def is_change_log(frame: Any) -> bool:
    """Whether ``frame`` is a change log from :meth:`Fold.changes` (by its attrs or columns)."""
    meta = getattr(frame, "attrs", {}).get(_ATTR)
    if meta is not None:
        return meta.get("kind") == "changes"
    cols = getattr(frame, "columns", ())
    return "changed_at" in cols and "as_of" not in cols
