"""Trend helpers over snapshot series: resample, aggregate, rolling, change, top movers.

A snapshot series is a long ("tidy") DataFrame: one row per stream and point in time, with a time
column ``as_of``, a ``stream_id`` column, and one column per state field (``balance``, ``status``,
...), as :meth:`Fold.snapshots` returns it. Every helper here takes such a frame, leaves it
unchanged, and returns a new tidy frame; all work is vectorised pandas.

Option names are shared: ``time`` names the time column (default ``"as_of"``), ``by`` the grouping column(s) (by default
``stream_id`` when the frame has one), ``fields`` the value columns (by default every numeric
column that is neither the time nor a grouping column).

Example:
    >>> import pandas as pd
    >>> s = pd.DataFrame({
    ...     "as_of": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-01", "2025-01-02"]),
    ...     "stream_id": ["a", "a", "b", "b"], "balance": [10.0, 15.0, 20.0, 10.0]})
    >>> change(s)["balance_change"].tolist()
    [nan, 5.0, nan, -10.0]
"""

from __future__ import annotations

import datetime as dt
import numbers
from typing import Any, Literal, Mapping, Sequence, Union

import numpy as np
import pandas as pd

from eventkit.common.errors import InvalidInput
from eventkit.fold.series import is_change_log

__all__ = ["aggregate", "change", "in_zone", "period_grouper", "resample", "rolling", "top_movers"]

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
    time: str = "as_of",
    by: By = AUTO,
    fields: Sequence[str] | None = None,
    tz: str | None = None,
) -> pd.DataFrame:
    """Bring a series to a regular time grid: one row per group and period.

    Args:
        series: A long frame with a time column.
        every: A pandas frequency: ``"1D"``, ``"1W"``, ``"MS"`` (month start), ``"h"``...
        how: How the rows inside a period combine; ``"last"`` (the default) is the state at the
            end of the period, the right choice for snapshots.
        fill: Also emit periods in which a group has no row, carrying its last value forward,
            from the group's first period to the series' last one. Use it on a change log
            (``fold.changes()``, ``time="changed_at"``) to get a dense series (its time column
            is then ``as_of``).
        time: The time column.
        by: Grouping columns; default ``stream_id`` if present. ``None``: one group.
        fields: Value columns; default all numeric ones. With ``how`` ``"last"`` or ``"first"``
            any column may be named, strings included.
        tz: Make periods in this time zone (days start at local midnight); default: the
            series' own zone (UTC for naive times). The output's times are in this zone.

    Returns:
        Columns ``as_of`` (each period labelled by its start: the day, the Monday of an ISO
        week for ``"1W"``, the 1st for ``"MS"``; as pandas labels other frequencies), the ``by``
        columns and the fields, sorted by group then time.

    Raises:
        InvalidInput: A missing column, an unknown ``how`` or a bad frequency.

    Example:
        >>> s = pd.DataFrame({"as_of": pd.to_datetime(["2025-01-01 09:00", "2025-01-01 17:00",
        ...                                           "2025-01-03 12:00"]),
        ...                   "stream_id": "a", "balance": [1.0, 2.0, 5.0]})
        >>> resample(s, "1D", fill=True)["balance"].tolist()
        [2.0, 2.0, 5.0]
    """
    keys = _keys(series, by, time)
    cols = _fields(series, fields, time, keys, numeric=how not in ("last", "first"))
    _check_how(how)
    offset = _offset(every)
    flag = _flag(series, cols, keys)
    frame = series[[time, *keys, *cols, *flag]].sort_values([*keys, time], kind="stable")
    if tz is not None:
        frame[time] = in_zone(frame[time], tz)
    grouped = frame.groupby([*keys, period_grouper(time, offset)], sort=True, dropna=False)
    out = grouped[cols].agg(how)
    if flag:  # a period involves erased values when any of its rows does
        out[FLAG] = grouped[FLAG].any()
    out = out[grouped.size().reindex(out.index).to_numpy() > 0].reset_index()  # no empty bins
    if fill:
        out = _fill_forward(out, time, keys, cols + flag, offset)
    out = out[[time, *keys, *cols, *flag]].reset_index(drop=True)
    return out.rename(columns={"changed_at": "as_of"}) if fill and time == "changed_at" else out


def period_grouper(key: str | None, every: str | pd.DateOffset) -> pd.Grouper:
    """A pandas Grouper for periods of ``every``, labelled by their start.

    The one week convention of eventkit: ISO weeks, Monday to Sunday, labelled by their Monday
    (as the snapshot grid puts weekly points on Mondays). pandas' own ``"W"`` would end weeks
    on Sunday and label them by that Sunday.

    Example:
        >>> e = pd.DataFrame({"t": pd.to_datetime(["2025-01-05", "2025-01-06", "2025-01-12"])})
        >>> e.groupby(period_grouper("t", "1W")).size().index.strftime("%a %d").tolist()
        ['Mon 30', 'Mon 06']
    """
    offset = _offset(every) if isinstance(every, str) else every
    if isinstance(offset, pd.offsets.Week):
        return pd.Grouper(key=key, freq=pd.offsets.Week(offset.n, weekday=0), closed="left", label="left")
    return pd.Grouper(key=key, freq=offset)


def in_zone(times: pd.Series, tz: str) -> pd.Series:
    """Times in zone ``tz`` (naive times are UTC)."""
    if not pd.api.types.is_datetime64_any_dtype(times):
        raise InvalidInput(f"time column {times.name!r} must hold timestamps, not {times.dtype}",
                           column=str(times.name), values=times.head(3).tolist())
    try:
        if times.dt.tz is None:
            times = times.dt.tz_localize("UTC")
        return times.dt.tz_convert(tz)
    except Exception as e:  # pytz/zoneinfo errors differ by version
        raise InvalidInput(f"tz={tz!r} is not a time zone ({e})", column="tz", values=[tz]) from None


_FUNCS = {"sum": "sum", "count": "count", "mean": "mean", "avg": "mean", "median": "median",
          "min": "min", "max": "max", "first": "first", "last": "last", "count_distinct": "nunique",
          "nunique": "nunique", "std": "std", "any_value": "first"}
_NOT_SUMMED = ("version", "position", "complete", "erased")


def aggregate(
    series: pd.DataFrame,
    *,
    by: By = None,
    values: Mapping[str, str | tuple[str, str]] | None = None,
    fields: Sequence[str] | None = None,
    how: How | Sequence[How] = "sum",
    time: str = "as_of",
) -> pd.DataFrame:
    """Combine streams at each point in time, optionally per category (``ek.aggregate``).

    A plain group-by of the rows by ``as_of`` (and ``by``): on a dense series
    (``fold.snapshots()``, :func:`resample` with ``fill=True``) every stream counts at every
    point, so the totals are right; on a frame without a time column (``fold.state()``) it
    groups by ``by`` only. A change log (``fold.changes()``) is refused: its rows are only the
    streams that changed, so totals per point over it would be wrong. For totals straight from
    the store without building the series, use ``fold.aggregate(store, ...)``.

    Args:
        series: A long frame: a dense snapshot series, a state frame, a resampled series.
        by: Category column(s) to keep apart (e.g. ``"status"``); ``None`` combines all rows.
        values: Output column -> (input column, function), or -> function for the column of
            that name: ``{"total": ("balance", "sum"), "deposits": "sum"}``. Functions: sum,
            count, mean (avg), median, min, max, first, last, any_value, count_distinct, std.
        fields: Without ``values``: the columns to combine with ``how`` (default: every
            numeric column but ``version``, ``position``).
        how: Without ``values``: one function, or several (columns named ``<field>_<how>``).
        time: The time column (grouped on when present).

    Returns:
        Columns ``as_of`` (if present), the ``by`` columns, ``streams`` (rows combined), the
        values, and ``complete`` (if the series has it: whether every row's point is complete).
        Sorted by the keys; a missing ``by`` value is a group of its own. A sum of only
        missing values is missing (as in SQL), not 0.

    Raises:
        InvalidInput: A change log, a missing column, an unknown function, a non-numeric sum.

    Example:
        >>> s = pd.DataFrame({"as_of": pd.to_datetime(["2025-01-01"] * 3),
        ...                   "stream_id": ["a", "b", "c"], "currency": ["USD", "USD", "EUR"],
        ...                   "balance": [1.0, 2.0, 4.0]})
        >>> aggregate(s, by="currency")[["currency", "streams", "balance"]].values.tolist()
        [['EUR', 1, 4.0], ['USD', 2, 3.0]]
        >>> aggregate(s, values={"total": ("balance", "sum")})["total"].tolist()
        [7.0]
    """
    _refuse_change_log(series, "aggregate")
    require_columns(series, [])
    keys = [time] if time in series.columns else []
    keys += [by] if isinstance(by, str) else list(by or [])
    require_columns(series, keys)
    spec = _value_spec(series, values, fields, how, keys)
    # No keys (a state frame, by=None): one group of every row.
    grouped = series.groupby(keys if keys else np.zeros(len(series), dtype="int8"), sort=True,
                             dropna=False)
    out: dict[str, Any] = {"streams": grouped.size()}
    for name, (col, fn) in spec.items():
        out[name] = grouped[col].sum(min_count=1) if fn == "sum" else getattr(grouped[col], fn)()
    if time in keys and "complete" in series.columns and "complete" not in spec:
        out["complete"] = grouped["complete"].all()
    if "erased" in series.columns and "erased" not in spec:  # a fold's flag: a total over erased values says so
        out["erased"] = grouped["erased"].any()
    frame = pd.DataFrame(out)
    frame = frame.reset_index() if keys else frame
    for name, (col, fn) in spec.items():
        if fn == "sum" and pd.api.types.is_integer_dtype(series[col]):
            _refuse_wrapped(series, grouped, col, name, keys)
        if fn == "sum" and pd.api.types.is_integer_dtype(series[col]) and not frame[name].isna().any():
            frame[name] = frame[name].astype(series[col].dtype)
    return frame.reset_index(drop=True)


def _refuse_wrapped(series: pd.DataFrame, grouped: Any, col: str, name: str, keys: list[str]) -> None:
    """Refuse an integer sum past 64 bits: pandas' int64 sum wraps around silently."""
    group = grouped.ngroup().to_numpy()
    size = pd.Series(np.abs(series[col].to_numpy(dtype="float64", na_value=np.nan))).groupby(group).sum()
    near = size.index[size.to_numpy() >= 2.0**62]  # only these groups can have wrapped: sum them exactly
    if not len(near):
        return
    totals: dict[int, int] = {}
    values = series[col].to_numpy(dtype=object)
    for row in np.flatnonzero(np.isin(group, near)):
        if not pd.isna(values[row]):
            totals[group[row]] = totals.get(group[row], 0) + int(values[row])
    for g, total in totals.items():
        if not -(2**63) <= total < 2**63:
            row = int(np.flatnonzero(group == g)[0])
            where = ", ".join(f"{k}={series[k].iloc[row]}" for k in keys) or "over all rows"
            raise InvalidInput(f"the sum of {col!r} ({name!r}) at {where} is {total}, past 64-bit integers; "
                               f"convert the column to float first: series.astype({{{col!r}: float}})",
                               column=col, values=[total])


def _value_spec(series: pd.DataFrame, values: Any, fields: Sequence[str] | None, how: Any,
                keys: list[str]) -> dict[str, tuple[str, str]]:
    """``values`` (or ``fields`` x ``how``) as output -> (column, pandas function), checked."""
    if values is not None:
        if not isinstance(values, Mapping):
            raise InvalidInput("values= must map output columns to (column, function) or function",
                               column="values", values=[values])
        spec = {}
        for name, v in values.items():
            col, fn = (name, v) if isinstance(v, str) else tuple(v)
            spec[str(name)] = (col, fn)
    else:
        hows = [how] if isinstance(how, str) else list(how)
        skip = [*keys, "stream_id", *_NOT_SUMMED] if fields is None else keys
        cols = _fields(series, fields, keys[0] if keys else "", skip, numeric=True)
        spec = {(f if len(hows) == 1 else f"{f}_{h}"): (f, h) for f in cols for h in hows}
    for name, (col, fn) in spec.items():
        if fn not in _FUNCS:
            raise InvalidInput(f"unknown function {fn!r} for {name!r}; use one of {sorted(_FUNCS)}",
                               column=name, values=[fn])
        require_columns(series, [col])
        if _FUNCS[fn] in ("sum", "mean", "median", "std") and not (
                pd.api.types.is_numeric_dtype(series[col]) and not pd.api.types.is_bool_dtype(series[col])):
            raise InvalidInput(f"{fn} of {col!r} needs numbers; it holds {series[col].dtype}",
                               column=col, values=series[col].head(3).tolist())
    return {name: (col, _FUNCS[fn]) for name, (col, fn) in spec.items()}


def _refuse_change_log(series: Any, what: str) -> None:
    if is_change_log(series):
        raise InvalidInput(
            f"{what}: this frame is a change log (fold.changes(): rows only where a stream changed), "
            "so totals per point over it would leave out the streams that did not change. Use "
            "fold.snapshots(...) (the dense series), fold.aggregate(store, ...) for totals, or "
            "trends.resample(changes, every, time='changed_at', fill=True) to make it dense",
            column="changed_at")


def rolling(
    series: pd.DataFrame,
    window: int | str,
    *,
    how: Literal["mean", "sum", "min", "max", "median", "std"] = "mean",
    min_periods: int | None = None,
    time: str = "as_of",
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
        time: The time column.
        by: Grouping columns; default ``stream_id`` if present. ``None``: one group.
        fields: Value columns; default all numeric ones.

    Returns:
        The same rows (sorted by group, then time) and columns, the fields rolled.

    Example:
        >>> s = pd.DataFrame({"as_of": pd.date_range("2025-01-01", periods=4),
        ...                   "stream_id": "a", "balance": [1.0, 2.0, 3.0, 4.0]})
        >>> rolling(s, 2)["balance"].tolist()
        [nan, 1.5, 2.5, 3.5]
    """
    keys = _keys(series, by, time)
    cols = _fields(series, fields, time, keys, numeric=True)
    if how not in ("mean", "sum", "min", "max", "median", "std"):
        raise InvalidInput(f"unknown rolling statistic {how!r}", column="how", values=[how])
    if not isinstance(window, str) and (not isinstance(window, numbers.Integral) or isinstance(window, bool) or window < 1):
        raise InvalidInput(f"window={window!r}: give a number of rows (1 or more) or a time span such as '7D'",
                           column="window", values=[window])
    out = series.sort_values([*keys, time], kind="stable").reset_index(drop=True)
    if isinstance(window, str):
        _offset(window)
        indexed = out.set_index(time)
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
    time: str = "as_of",
    by: By = AUTO,
    fields: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Period-over-period change per group: absolute and in percent.

    Args:
        series: A long frame with a time column (resample it first for calendar periods).
        periods: Compare each row with the one this many rows earlier in its group.
        time: The time column.
        by: Grouping columns; default ``stream_id`` if present. ``None``: one group.
        fields: Value columns; default all numeric ones.

    Returns:
        ``as_of``, the ``by`` columns and, per field, ``<field>``, ``<field>_change`` and
        ``<field>_pct`` (percent of the earlier value; null where that value is 0 or missing),
        sorted by group then time.

    Example:
        >>> s = pd.DataFrame({"as_of": pd.date_range("2025-01-01", periods=3),
        ...                   "balance": [100.0, 150.0, 75.0]})
        >>> change(s)["balance_pct"].tolist()
        [nan, 50.0, -50.0]
    """
    keys = _keys(series, by, time)
    cols = _fields(series, fields, time, keys, numeric=True)
    flag = _flag(series, cols, keys)
    out = series[[time, *keys, *cols, *flag]].sort_values([*keys, time], kind="stable").reset_index(drop=True)
    grouped = out.groupby(keys, sort=False)[cols + flag] if keys else out[cols + flag]
    previous = grouped.shift(periods)
    for col in cols:
        before = previous[col].astype("float64")
        out[f"{col}_change"] = out[col] - before
        out[f"{col}_pct"] = (out[col] - before) / before.abs().where(before != 0) * 100
    if flag:  # a change involves erased values when either of its rows does
        out[FLAG] = out[FLAG].astype(bool) | previous[FLAG].fillna(False).astype(bool)
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
    time: str = "as_of",
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
        time: The time column.
        by: The stream column.

    Returns:
        Columns ``<by>``, ``start``, ``end``, ``change``, ``pct`` (percent; null when ``start``
        is 0), one row per stream, best first.

    Example:
        >>> s = pd.DataFrame({"as_of": pd.to_datetime(["2025-01-01", "2025-02-01"] * 2),
        ...                   "stream_id": ["a", "a", "b", "b"], "balance": [10.0, 11.0, 5.0, 1.0]})
        >>> top_movers(s, "balance", "2025-01-01", "2025-02-01", n=1)["stream_id"].tolist()
        ['b']
    """
    require_columns(series, [time, by, field])
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 0:  # head(-1) drops the last row
        raise InvalidInput(f"n={n!r}: give how many streams to return (0 or more)", column="n", values=[n])
    if direction not in ("both", "up", "down"):
        raise InvalidInput(f"direction={direction!r}: use 'both', 'up' or 'down'", column="direction",
                           values=[direction])
    t0, t1 = _instant(start, series[time]), _instant(end, series[time])
    if t1 < t0:
        raise InvalidInput("end is before start", column="end", values=[start, end])
    flag = _flag(series, [field], [by])
    ordered = series[[time, by, field, *flag]].sort_values([by, time], kind="stable")
    values, flags = {}, []
    for name, instant in (("start", t0), ("end", t1)):
        upto = ordered[ordered[time] <= instant]
        values[name] = upto.groupby(by, sort=True)[field].last()
        if flag:
            flags.append(upto.groupby(by, sort=True)[FLAG].last())
    out = pd.concat(values, axis=1).reindex(ordered[by].unique())
    if fill_value is not None:
        out = out.fillna(fill_value)
    out = out.dropna().astype("float64")
    if flag:  # the stream's values at start or end involve erased personal data
        either = pd.concat(flags, axis=1).fillna(False).astype(bool).any(axis=1)
        out[FLAG] = either.reindex(out.index).fillna(False).astype(bool)
    out["change"] = out["end"] - out["start"]
    out["pct"] = out["change"] / out["start"].abs().where(out["start"] != 0) * 100
    rank = {"both": out["change"].abs(), "up": out["change"], "down": -out["change"]}[direction]
    out = out.assign(_rank=rank).sort_values(["_rank", "change"], ascending=False, kind="stable")
    out = out[out["_rank"] > 0] if direction != "both" else out
    out.index.name = by
    out = out.drop(columns="_rank")
    return out[[c for c in out.columns if c != FLAG] + flag].head(n).reset_index()


def require_columns(frame: pd.DataFrame, columns: Sequence[str], *, what: str = "series") -> None:
    """Raise an error naming the first missing column and listing the frame's columns."""
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(f"{what} must be a pandas DataFrame, not {type(frame).__name__}")
    for col in columns:
        if col not in frame.columns:
            raise InvalidInput(
                f"column {col!r} is not in the {what}; available columns: {list(frame.columns)}",
                column=col)


def _keys(frame: pd.DataFrame, by: By, time: str, *, auto: bool = True) -> list[str]:
    if isinstance(by, _Auto):
        keys = ["stream_id"] if auto and "stream_id" in frame.columns else []
    elif by is None:
        keys = []
    else:
        keys = [by] if isinstance(by, str) else list(by)
    if time == "as_of" and time not in frame.columns:
        _refuse_change_log(frame, "this helper")
    require_columns(frame, [time, *keys])
    if not pd.api.types.is_datetime64_any_dtype(frame[time]):
        raise InvalidInput(f"time column {time!r} must hold timestamps, not {frame[time].dtype}",
                           column=time, values=frame[time].head(3).tolist())
    return keys


def _fields(frame: pd.DataFrame, fields: Sequence[str] | None, time: str, keys: Sequence[str],
            *, numeric: bool) -> list[str]:
    if fields is None:
        skip = {time, *keys, "stream_id", "stream_type"}
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


FLAG = "erased"  # the column saying a row involves erased personal data (see eventkit.fold.erasure)


def _flag(frame: pd.DataFrame, cols: Sequence[str], keys: Sequence[str]) -> list[str]:
    """``["erased"]`` when ``frame`` has the flag and it is not itself a value or key column."""
    return [FLAG] if FLAG in frame.columns and FLAG not in cols and FLAG not in keys else []


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


def _fill_forward(out: pd.DataFrame, time: str, keys: list[str], cols: list[str],
                  offset: pd.DateOffset) -> pd.DataFrame:
    if isinstance(offset, pd.offsets.Week):
        offset = pd.offsets.Week(offset.n, weekday=0)
    grid = pd.date_range(out[time].min(), out[time].max(), freq=offset) if len(out) else []
    grid = pd.DatetimeIndex(grid).union(pd.DatetimeIndex(out[time].unique())).astype(out[time].dtype)
    if not keys:
        return out.set_index(time).reindex(grid).ffill().rename_axis(time).reset_index()
    wide = out.set_index([time, *keys])[cols].unstack(keys).reindex(grid).ffill()
    long = wide.stack(list(range(-len(keys), 0)), future_stack=True).reset_index()
    long.columns = [time, *keys, *long.columns[len(keys) + 1:]]
    # Rows before a group's first period are all null after the fill: drop exactly those.
    first = out.groupby(keys, sort=False)[time].min().rename("_first").reset_index()
    long = long.merge(first, on=keys)
    long = long[long[time] >= long["_first"]].drop(columns="_first")
    return long.sort_values([*keys, time], kind="stable")


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
