"""The report's computations: each CSV a report writes is exactly one of these frames (series totals,
tables of fold state, event counts), rounded, in the report's time zone, and sorted deterministically.

May use :mod:`eventkit.common`, the fold and analysis layers (through the folds and frames given) and
:mod:`.config`'s value helpers.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from eventkit.analysis import charts as _charts
from eventkit.analysis.trends import aggregate
from eventkit.common.errors import EventKitError
from eventkit.report.config import as_list, sort_column, time_value, values_of
from eventkit.store.event_store import Store

_DECIMALS = 6


def series_frame(store: Store, fold: Any, spec: Mapping[str, Any], *, tz: str = "UTC") -> pd.DataFrame:
    """A series entry's table: ``fold.aggregate`` (totals per point across streams, every stream
    counted at every point from its first event on), sorted and rounded."""
    by = as_list(spec.get("by"))
    values = values_of(dict(spec), series=True)
    # Counting streams is the ``streams`` column fold.aggregate always returns.
    counts = [name for name, pair in values.items() if tuple(pair) == ("stream_id", "count")]
    out = fold.aggregate(store, every=spec["every"], by=by or None, tz=tz,
                         values={k: v for k, v in values.items() if k not in counts},
                         start=time_value(spec.get("start")), end=time_value(spec.get("end")),
                         as_of=time_value(spec.get("as_of")), known_at=time_value(spec.get("known_at")))
    for name in counts:
        out[name] = out["streams"]
    flag = ["erased"] if "erased" in out.columns and "erased" not in values else []  # totals over erased values
    out = out[["as_of", *by, *values, *flag, "complete"]]
    # Round before computing: a parallel float sum differs between runs in its last bits, and a
    # ratio of it (19481.67 / 32 = 608.8021875) can sit exactly on a rounding tie.
    out = compute_columns(tidy(out, [], tz=tz), spec.get("compute", {}))
    return tidy(out, ["as_of", *by], tz=tz)


def table_frame(store: Store, fold: Any, spec: Mapping[str, Any], *, tz: str = "UTC",
                rows: Any = None) -> pd.DataFrame:
    """A table entry: ``fold.state`` (its ``rows``, then optionally aggregated by ``by``), sorted,
    cut, rounded."""
    known = spec.get("known_at")
    state = fold.state(store, as_of=local_time(time_value(spec.get("as_of")), tz),
                       known_at=known if isinstance(known, int) else local_time(time_value(known), tz))
    if rows is not None:
        state = rows(state)
    by = as_list(spec.get("by"))
    values = values_of(dict(spec), series=False)
    flag = ["erased"] if "erased" in state.columns else []  # totals over erased personal values keep the flag
    out = aggregate(state, by=by, values=values)[[*by, *values, *flag]] if values else state
    out = compute_columns(tidy(out, [], tz=tz), spec.get("compute", {}))
    if "columns" in spec:
        out = out[list(spec["columns"])]
    sort = as_list(spec.get("sort")) or by or (["stream_id"] if "stream_id" in out.columns else [])
    out = tidy(out, sort, descending=spec.get("descending", False), tz=tz)
    return out.head(spec["limit"]).reset_index(drop=True) if "limit" in spec else out


def event_counts(events: pd.DataFrame, *, every: str, by: str | None, tz: str | None = None) -> pd.DataFrame:
    """Events per period (and ``by`` value), binned as :func:`eventkit.charts.event_rate` bins
    (weeks from Monday, in the report's time zone), sorted."""
    counts = _charts.event_counts(events, every=every, by=by, tz=tz)
    return tidy(counts, ["period", *([by] if by else [])], tz=tz or "UTC")


def tidy(frame: pd.DataFrame, sort: list[str], *, descending: bool = False, tz: str = "UTC") -> pd.DataFrame:
    """Round floats to six decimals, show times in ``tz`` and sort rows deterministically
    (``sort`` first, then the rest, ascending).

    A sort key ``"-balance"`` sorts by ``balance`` largest first; ``descending`` turns every
    key of ``sort`` largest first (the older spelling).
    """
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.tz_convert(tz)
        elif pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(_DECIMALS)
    keys = [(sort_column(k), descending or k.startswith("-")) for k in sort if sort_column(k) in out.columns]
    first = [c for c, _ in keys]
    rest = [c for c in out.columns if c not in first and sortable(out[c])]
    order = first + rest
    if order:
        asc = [not desc for _, desc in keys] + [True] * len(rest)
        out = out.sort_values(order, ascending=asc, kind="stable", na_position="last")
    return out.reset_index(drop=True)


def compute_columns(frame: pd.DataFrame, exprs: Mapping[str, str]) -> pd.DataFrame:
    for name, expr in exprs.items():
        try:
            frame[name] = frame.eval(expr)
        except Exception as e:  # pandas raises many kinds for a bad expression
            raise EventKitError(f"compute {name} = {expr!r} failed: {type(e).__name__}: {e}") from None
    return frame


def sortable(col: pd.Series) -> bool:
    return not (col.dtype == object and col.map(type).nunique() > 1)


def local_time(value: Any, tz: str) -> Any:
    """A time without a zone read as the report's local time (as series read it), else as is."""
    if value is None or tz == "UTC":
        return value
    t = pd.Timestamp(value)
    return t.tz_localize(tz) if t.tzinfo is None else t
