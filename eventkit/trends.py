"""Trend helpers over snapshot series: resample, aggregate, rolling, change, top movers.

A snapshot series is a long ("tidy") DataFrame: one row per stream and point in time, with a time
column ``at``, a ``stream_id`` column, and one column per state field (``balance``, ``status``,
...), as :meth:`Fold.snapshots` returns it. Every helper here takes such a frame, leaves it
unchanged, and returns a new tidy frame; all work is vectorised pandas.

Option names are shared: ``at`` names the time column, ``by`` the grouping column(s) (by default
``stream_id`` when the frame has one), ``fields`` the value columns (by default every numeric
column that is neither the time nor a grouping column).

Example:
    >>> import pandas as pd
    >>> s = pd.DataFrame({
    ...     "at": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-01", "2025-01-02"]),
    ...     "stream_id": ["a", "a", "b", "b"], "balance": [10.0, 15.0, 20.0, 10.0]})
    >>> change(s)["balance_change"].tolist()
    [nan, 5.0, nan, -10.0]
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, Sequence, Union

import numpy as np
import pandas as pd

from ._errors import InvalidInput

__all__ = ["aggregate", "change", "resample", "rolling", "top_movers"]

How = Literal["last", "first", "sum", "mean", "median", "min", "max", "count"]
_HOWS = ("last", "first", "sum", "mean", "median", "min", "max", "count")
By = Union[str, Sequence[str], None]
TimeLike = Union[str, dt.datetime, pd.Timestamp, np.datetime64]


class _Auto:
    def __repr__(self) -> str:
        return "'stream_id' if present"


AUTO: By = _Auto()  # type: ignore[assignment]


def resample(
    series: pd.DataFrame,
    every: str,
    *,
    how: How = "last",
    fill: bool = False,
    at: str = "at",
    by: By = AUTO,
    fields: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Bring a series to a regular time grid: one row per group and period.

    Args:
        series: A long frame with a time column.
        every: A pandas frequency: ``"1D"``, ``"1W"``, ``"MS"`` (month start), ``"h"``...
        how: How the rows inside a period combine; ``"last"`` (the default) is the state at the
            end of the period, the right choice for snapshots.
        fill: Also emit periods in which a group has no row, carrying its last value forward,
            from the group's first period to the series' last one. Use it on a series of changes
            to get a dense series.
        at: The time column.
        by: Grouping columns; default ``stream_id`` if present. ``None``: one group.
        fields: Value columns; default all numeric ones. With ``how`` ``"last"`` or ``"first"``
            any column may be named, strings included.

    Returns:
        Columns ``at`` (the period's label, as pandas labels it: the start for ``"1D"``,
        ``"h"``, ``"MS"``; the end for ``"W"``, ``"ME"``), the ``by`` columns and the fields,
        sorted by group then time.

    Raises:
        InvalidInput: A missing column, an unknown ``how`` or a bad frequency.

    Example:
        >>> s = pd.DataFrame({"at": pd.to_datetime(["2025-01-01 09:00", "2025-01-01 17:00",
        ...                                           "2025-01-03 12:00"]),
        ...                   "stream_id": "a", "balance": [1.0, 2.0, 5.0]})
        >>> resample(s, "1D", fill=True)["balance"].tolist()
        [2.0, 2.0, 5.0]
    """
    keys = _keys(series, by, at)
    cols = _fields(series, fields, at, keys, numeric=how not in ("last", "first"))
    _check_how(how)
    offset = _offset(every)
    frame = series[[at, *keys, *cols]].sort_values([*keys, at], kind="stable")
    grouped = frame.groupby([*keys, pd.Grouper(key=at, freq=offset)], sort=True, dropna=False)
    out = grouped[cols].agg(how)
    out = out[grouped.size().reindex(out.index).to_numpy() > 0].reset_index()  # no empty bins
    if fill:
        out = _fill_forward(out, at, keys, cols, offset)
    return out[[at, *keys, *cols]].reset_index(drop=True)


def aggregate(
    series: pd.DataFrame,
    *,
    by: By = None,
    how: How | Sequence[How] = "sum",
    at: str = "at",
    fields: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Combine streams at each point in time, optionally per category (e.g. ``currency``).

    The streams must share time points (as ``Fold.snapshots(every=...)`` or
    :func:`resample` with ``fill=True`` gives them); otherwise each instant sums only the streams
    that have a row there.

    Args:
        series: A long frame with a time column.
        by: Category column(s) to keep apart; ``None`` combines all streams.
        how: One aggregation, or several (then columns are named ``<field>_<how>``).
        at: The time column.
        fields: Value columns; default all numeric ones.

    Returns:
        Columns ``at``, the ``by`` columns, ``streams`` (rows combined) and the aggregated fields.

    Example:
        >>> s = pd.DataFrame({"at": pd.to_datetime(["2025-01-01"] * 3),
        ...                   "stream_id": ["a", "b", "c"], "currency": ["USD", "USD", "EUR"],
        ...                   "balance": [1.0, 2.0, 4.0]})
        >>> aggregate(s, by="currency")[["currency", "streams", "balance"]].values.tolist()
        [['EUR', 1, 4.0], ['USD', 2, 3.0]]
    """
    keys = _keys(series, by, at, auto=False)
    skip = [*keys, "stream_id"] if "stream_id" in series.columns else keys
    cols = _fields(series, fields, at, skip, numeric=True)
    hows = [how] if isinstance(how, str) else list(how)
    for h in hows:
        _check_how(h)
    grouped = series.groupby([at, *keys], sort=True, dropna=False)
    out = grouped.size().rename("streams").reset_index()
    if cols:
        values = grouped[cols].agg(hows if len(hows) > 1 else hows[0])
        if len(hows) > 1:
            values.columns = [f"{f}_{h}" for f, h in values.columns]
        out = out.merge(values.reset_index(), on=[at, *keys], how="left")
    return out


def rolling(
    series: pd.DataFrame,
    window: int | str,
    *,
    how: Literal["mean", "sum", "min", "max", "median", "std"] = "mean",
    min_periods: int | None = None,
    at: str = "at",
    by: By = AUTO,
    fields: Sequence[str] | None = None,
) -> pd.DataFrame:
    """A rolling window per group: the fields replaced by their rolling ``how``.

    Args:
        series: A long frame with a time column.
        window: A number of rows (``7``) or a time span (``"7D"``) ending at each row.
        how: The window's statistic.
        min_periods: Rows the window needs for a value (pandas' default otherwise: the whole
            window for a row count, 1 for a time span).
        at: The time column.
        by: Grouping columns; default ``stream_id`` if present. ``None``: one group.
        fields: Value columns; default all numeric ones.

    Returns:
        The same rows (sorted by group, then time) and columns, the fields rolled.

    Example:
        >>> s = pd.DataFrame({"at": pd.date_range("2025-01-01", periods=4),
        ...                   "stream_id": "a", "balance": [1.0, 2.0, 3.0, 4.0]})
        >>> rolling(s, 2)["balance"].tolist()
        [nan, 1.5, 2.5, 3.5]
    """
    keys = _keys(series, by, at)
    cols = _fields(series, fields, at, keys, numeric=True)
    if how not in ("mean", "sum", "min", "max", "median", "std"):
        raise InvalidInput(f"unknown rolling statistic {how!r}", column="how", values=[how])
    out = series.sort_values([*keys, at], kind="stable").reset_index(drop=True)
    if isinstance(window, str):
        _offset(window)
        indexed = out.set_index(at)
        grouped = indexed.groupby(keys, sort=False)[cols] if keys else indexed[cols]
        rolled = getattr(grouped.rolling(window, min_periods=min_periods), how)()
    else:
        grouped = out.groupby(keys, sort=False)[cols] if keys else out[cols]
        rolled = getattr(grouped.rolling(window, min_periods=min_periods), how)()
    out[cols] = rolled.to_numpy()
    return out


def change(
    series: pd.DataFrame,
    *,
    periods: int = 1,
    at: str = "at",
    by: By = AUTO,
    fields: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Period-over-period change per group: absolute and in percent.

    Args:
        series: A long frame with a time column (resample it first for calendar periods).
        periods: Compare each row with the one this many rows earlier in its group.
        at: The time column.
        by: Grouping columns; default ``stream_id`` if present. ``None``: one group.
        fields: Value columns; default all numeric ones.

    Returns:
        ``at``, the ``by`` columns and, per field, ``<field>``, ``<field>_change`` and
        ``<field>_pct`` (percent of the earlier value; null where that value is 0 or missing),
        sorted by group then time.

    Example:
        >>> s = pd.DataFrame({"at": pd.date_range("2025-01-01", periods=3),
        ...                   "balance": [100.0, 150.0, 75.0]})
        >>> change(s)["balance_pct"].tolist()
        [nan, 50.0, -50.0]
    """
    keys = _keys(series, by, at)
    cols = _fields(series, fields, at, keys, numeric=True)
    out = series[[at, *keys, *cols]].sort_values([*keys, at], kind="stable").reset_index(drop=True)
    grouped = out.groupby(keys, sort=False)[cols] if keys else out[cols]
    previous = grouped.shift(periods)
    for col in cols:
        before = previous[col].astype("float64")
        out[f"{col}_change"] = out[col] - before
        out[f"{col}_pct"] = (out[col] - before) / before.abs().where(before != 0) * 100
    return out


def top_movers(
    series: pd.DataFrame,
    field: str,
    start: TimeLike,
    end: TimeLike,
    *,
    n: int = 10,
    direction: Literal["both", "up", "down"] = "both",
    fill_value: float | None = None,
    at: str = "at",
    by: str = "stream_id",
) -> pd.DataFrame:
    """The streams whose ``field`` changed most between two instants.

    Each stream's value at an instant is its last row at or before it (so series of changes work
    as they are).

    Args:
        series: A long frame with a time column.
        field: The numeric column to compare.
        start: The earlier instant (string, datetime or Timestamp; naive means UTC when the
            series is tz-aware).
        end: The later instant.
        n: How many streams to return.
        direction: ``"both"`` ranks by the size of the change, ``"up"`` by the largest rises,
            ``"down"`` by the largest falls.
        fill_value: The value of a stream with no row yet at an instant (e.g. ``0.0`` for a
            balance before the account opened); ``None`` leaves such streams out.
        at: The time column.
        by: The stream column.

    Returns:
        Columns ``<by>``, ``start``, ``end``, ``change``, ``pct`` (percent; null when ``start``
        is 0), one row per stream, best first.

    Example:
        >>> s = pd.DataFrame({"at": pd.to_datetime(["2025-01-01", "2025-02-01"] * 2),
        ...                   "stream_id": ["a", "a", "b", "b"], "balance": [10.0, 11.0, 5.0, 1.0]})
        >>> top_movers(s, "balance", "2025-01-01", "2025-02-01", n=1)["stream_id"].tolist()
        ['b']
    """
    require_columns(series, [at, by, field])
    t0, t1 = _instant(start, series[at]), _instant(end, series[at])
    if t1 < t0:
        raise InvalidInput("end is before start", column="end", values=[start, end])
    ordered = series[[at, by, field]].sort_values([by, at], kind="stable")
    values = {}
    for name, instant in (("start", t0), ("end", t1)):
        upto = ordered[ordered[at] <= instant]
        values[name] = upto.groupby(by, sort=True)[field].last()
    out = pd.concat(values, axis=1).reindex(ordered[by].unique())
    if fill_value is not None:
        out = out.fillna(fill_value)
    out = out.dropna().astype("float64")
    out["change"] = out["end"] - out["start"]
    out["pct"] = out["change"] / out["start"].abs().where(out["start"] != 0) * 100
    rank = {"both": out["change"].abs(), "up": out["change"], "down": -out["change"]}[direction]
    out = out.assign(_rank=rank).sort_values(["_rank", "change"], ascending=False, kind="stable")
    out = out[out["_rank"] > 0] if direction != "both" else out
    out.index.name = by
    return out.drop(columns="_rank").head(n).reset_index()


def require_columns(frame: pd.DataFrame, columns: Sequence[str], *, what: str = "series") -> None:
    """Raise an error naming the first missing column and listing the frame's columns."""
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(f"{what} must be a pandas DataFrame, not {type(frame).__name__}")
    for col in columns:
        if col not in frame.columns:
            raise InvalidInput(
                f"column {col!r} is not in the {what}; available columns: {list(frame.columns)}",
                column=col)


def _keys(frame: pd.DataFrame, by: By, at: str, *, auto: bool = True) -> list[str]:
    if isinstance(by, _Auto):
        keys = ["stream_id"] if auto and "stream_id" in frame.columns else []
    elif by is None:
        keys = []
    else:
        keys = [by] if isinstance(by, str) else list(by)
    require_columns(frame, [at, *keys])
    if not pd.api.types.is_datetime64_any_dtype(frame[at]):
        raise InvalidInput(f"time column {at!r} must hold timestamps, not {frame[at].dtype}",
                           column=at, values=frame[at].head(3).tolist())
    return keys


def _fields(frame: pd.DataFrame, fields: Sequence[str] | None, at: str, keys: Sequence[str],
            *, numeric: bool) -> list[str]:
    if fields is None:
        skip = {at, *keys, "stream_id", "stream_type"}
        return [c for c in frame.columns
                if c not in skip and pd.api.types.is_numeric_dtype(frame[c])
                and not pd.api.types.is_bool_dtype(frame[c])]
    cols = [fields] if isinstance(fields, str) else list(fields)
    require_columns(frame, cols)
    if numeric:
        for col in cols:
            if not pd.api.types.is_numeric_dtype(frame[col]):
                raise InvalidInput(f"field {col!r} is not numeric ({frame[col].dtype})",
                                   column=col, values=frame[col].head(3).tolist())
    return cols


def _check_how(how: str) -> None:
    if how not in _HOWS:
        raise InvalidInput(f"unknown aggregation {how!r}; use one of {list(_HOWS)}",
                           column="how", values=[how])


def _offset(every: str) -> pd.DateOffset:
    try:
        return pd.tseries.frequencies.to_offset(every)
    except (ValueError, TypeError) as e:
        raise InvalidInput(f"not a pandas frequency: {every!r} ({e})", column="every",
                           values=[every]) from e


def _fill_forward(out: pd.DataFrame, at: str, keys: list[str], cols: list[str],
                  offset: pd.DateOffset) -> pd.DataFrame:
    grid = pd.date_range(out[at].min(), out[at].max(), freq=offset) if len(out) else []
    grid = pd.DatetimeIndex(grid).union(pd.DatetimeIndex(out[at].unique())).astype(out[at].dtype)
    if not keys:
        return out.set_index(at).reindex(grid).ffill().rename_axis(at).reset_index()
    wide = out.set_index([at, *keys])[cols].unstack(keys).reindex(grid).ffill()
    long = wide.stack(list(range(-len(keys), 0)), future_stack=True).reset_index()
    long.columns = [at, *keys, *long.columns[len(keys) + 1:]]
    # Rows before a group's first period are all null after the fill: drop exactly those.
    first = out.groupby(keys, sort=False)[at].min().rename("_first").reset_index()
    long = long.merge(first, on=keys)
    long = long[long[at] >= long["_first"]].drop(columns="_first")
    return long.sort_values([*keys, at], kind="stable")


def _instant(value: TimeLike, times: pd.Series) -> pd.Timestamp:
    """A point in time comparable with ``times``: naive means UTC for a tz-aware series."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as e:
        raise InvalidInput(f"not a point in time: {value!r}", values=[value]) from e
    tz = getattr(times.dt, "tz", None)
    if tz is not None:
        return ts.tz_localize("UTC").tz_convert(tz) if ts.tzinfo is None else ts.tz_convert(tz)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts
