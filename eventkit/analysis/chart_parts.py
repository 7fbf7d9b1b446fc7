"""The pieces every chart of :mod:`eventkit.analysis.charts` is made of: the figure, its axes
(titles, labels with units said once, thousands separators, dates in a time zone), lines whose
last period is in progress, and the calendar helpers (periods, zones) the charts share.

May use :mod:`eventkit.common`.
"""

from __future__ import annotations

import re
from typing import Any

import matplotlib.dates as mdates
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from eventkit.common.errors import InvalidInput

SIZE = (9.0, 4.5)
TOO_LARGE = 1e300
"""Magnitude past which a value is refused for a chart (matplotlib fails near 1.8e308)."""


def figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=SIZE, layout="constrained")
    return fig, fig.add_subplot()


def finish(ax: Axes, title: str, x: str, ylabel: str, zone: str = "UTC") -> None:
    ax.set_gid(ax.get_gid() or "chart")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel(x if zone in x else f"{x} ({zone})")
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(True, alpha=0.3)
    low, high = ax.get_ylim()
    if max(abs(low), abs(high)) >= 1_000:  # 1,250,000 rather than 1.25 with a 1e6 offset
        ax.yaxis.set_major_formatter(mticker.FuncFormatter(thousands))


def plot(ax: Axes, times: np.ndarray, values: np.ndarray, *, partial: bool, **style: Any) -> None:
    """One line; with ``partial`` its last segment is dotted and its last point hollow.

    A period still in progress holds only part of its events (or its state has moved only part
    of the way): drawn like the others it looks like a collapse. Drawn this way it reads as
    "not finished yet". The line itself is one ``Line2D`` in ``ax.lines`` (the legend's); the
    dotted tail and the hollow point are collections with ``gid="partial"``.
    """
    if not partial or len(values) < 2:
        ax.plot(times, values, **style)
        return
    steps = style.get("drawstyle") == "steps-post"
    # A step holds the last complete period's value up to where the partial one begins.
    head = np.append(values[:-1], values[-2]) if steps else values[:-1]
    (line,) = ax.plot(times[: len(head)], head, **style)
    color = line.get_color()
    x = mdates.date2num(times[-2:])
    segment = [(x[1], values[-2]), (x[1], values[-1])] if steps else [(x[0], values[-2]), (x[1], values[-1])]
    ax.add_collection(LineCollection([segment], colors=[color], linestyles=":",
                                     linewidths=style.get("linewidth", 1.5), gid="partial"))
    ax.scatter(times[-1:], values[-1:], s=28, facecolors="white", edgecolors=[color], zorder=3,
               gid="partial")


def partial_note(ax: Axes, text: str) -> None:
    ax.text(0.99, 0.01, text, transform=ax.transAxes, ha="right", va="bottom", fontsize="x-small",
            color="dimgray", gid="partial-note")


def last_partial(frame: pd.DataFrame, x: str) -> bool:
    """Whether the series marks its last point as a period in progress: ``complete`` false there
    (the column ``fold.snapshots`` and ``fold.aggregate`` return)."""
    if "complete" not in frame.columns or not len(frame):
        return False
    last = frame[x].max()
    done = frame.loc[frame[x] == last, "complete"]
    return bool((done.notna() & ~done.fillna(True).astype(bool)).any())


def offset(every: str) -> Any:
    try:
        freq = pd.tseries.frequencies.to_offset(every)
    except (ValueError, TypeError) as e:
        raise InvalidInput(f"not a pandas frequency: {every!r}", column="every", values=[every]) from e
    if freq.n <= 0:  # '0D' divided by zero inside pandas' grouper
        raise InvalidInput(f"every={every!r}: a period must be longer than zero (e.g. '1D', '1W')",
                           column="every", values=[every])
    if isinstance(freq, pd.offsets.Week):
        # One convention with snapshot series: ISO weeks, from Monday 00:00, labelled by Monday.
        freq = pd.offsets.Week(freq.n, weekday=0)
    return freq


def zone(tz: Any, index: Any = None) -> str:
    """The chart's time zone: ``tz`` if given, else the data's own zone, else UTC."""
    if tz is None:
        zone = getattr(getattr(index, "dt", index), "tz", None) if index is not None else None
        return "UTC" if zone is None else str(zone)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return str(ZoneInfo(str(tz)).key)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"tz={tz!r} is not a time zone: give an IANA name such as 'UTC', "
                           "'Europe/Zurich' or 'America/New_York'", column="tz", values=[tz]) from None


def utc(times: pd.Series) -> pd.Series:
    try:
        times = pd.to_datetime(times)
    except (ValueError, TypeError, OverflowError) as e:
        name = getattr(times, "name", None)
        raise InvalidInput(f"column {name!r} holds values that are not times: {str(e).splitlines()[0]}",
                           column=name) from None
    return times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")


def local(times: pd.Series, zone: str) -> pd.Series:
    """Times as naive wall-clock times in ``zone`` (naive input is taken as UTC)."""
    return utc(times).dt.tz_convert(zone).dt.tz_localize(None)


def localize(times: pd.Series, zone: str) -> pd.Series:
    """Naive wall-clock times in ``zone`` back to tz-aware ones (a midnight that DST skips
    moves forward)."""
    return pd.Series(pd.DatetimeIndex(times).tz_localize(zone, nonexistent="shift_forward",
                                                          ambiguous=True), index=getattr(times, "index", None))


def period_name(every: str) -> str:
    """``"1D"`` -> ``"day"``, ``"W"`` -> ``"week"``, ``"6h"`` -> ``"6 hours"``."""
    names = {"D": "day", "h": "hour", "H": "hour", "W": "week", "MS": "month", "ME": "month",
             "M": "month", "QS": "quarter", "QE": "quarter", "min": "minute", "s": "second",
             "YS": "year", "YE": "year"}
    match = re.fullmatch(r"(\d*)([A-Za-z]+)(-\w+)?", every.strip())
    if not match or match.group(2) not in names:
        return every
    count, unit = int(match.group(1) or 1), match.group(2)
    return names[unit] if count == 1 else f"{count} {names[unit]}s"


def times(index: pd.Index, zone: str = "UTC") -> np.ndarray:
    """Times as naive datetime64 on ``zone``'s wall clock, which matplotlib plots without a
    timezone converter (naive times are drawn as they are)."""
    if not pd.api.types.is_datetime64_any_dtype(index):
        raise InvalidInput(f"the x axis needs timestamps, not {index.dtype}",
                           values=list(index[:3]))
    times = pd.DatetimeIndex(index)
    if times.tz is not None:
        times = times.tz_convert(zone).tz_localize(None)
    return times.to_numpy()


def thousands(value: float, _pos: Any = None) -> str:
    """An axis tick with thousands separators: ``1,250,000``, ``2,500.5``, ``-3,000``."""
    value = float(value)
    if value == 0:
        return "0"  # not "-0"
    if value == round(value):
        return f"{value:,.0f}"
    return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.2f}"


def label(y: str, unit: str | None, label: str | None = None) -> str:
    """The y axis label: ``label`` as given, else ``y`` with its unit, without saying the same
    word twice (``accounts``, not ``accounts (accounts)``)."""
    if label:
        return label
    if not unit or unit.strip().lower() in (y.lower(), y.lower().replace("_", " ")):
        return y
    return f"{y} ({unit})"


def at_least_one(value: Any, name: str) -> None:
    """Refuse a count below one (a negative slice would silently leave the last groups out)."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise InvalidInput(f"{name}={value!r}: give 1 or more", column=name, values=[value])


def numeric(frame: pd.DataFrame, col: str) -> None:
    if not pd.api.types.is_numeric_dtype(frame[col]):
        raise InvalidInput(f"column {col!r} must be numeric to plot, not {frame[col].dtype}",
                           column=col, values=frame[col].head(3).tolist())
    # Near the float maximum matplotlib cannot lay out an axis (it fails when the figure is saved).
    values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    huge = values[np.isfinite(values) & (np.abs(values) > TOO_LARGE)]
    if len(huge):
        raise InvalidInput(f"column {col!r} holds values too large to draw (beyond {TOO_LARGE:g}); scale them "
                           "(e.g. divide by 1e6 and say so in unit=)", column=col, values=huge[:3].tolist())


def summed_as_floats(frame: pd.DataFrame, col: str) -> pd.DataFrame:
    """``frame`` with an integer ``col`` as floats, for the sums a chart draws: pandas sums int64 with
    wrap-around (three values of 2**62 total -2**62), and the chart plots floats anyway."""
    if pd.api.types.is_integer_dtype(frame[col]) and not pd.api.types.is_bool_dtype(frame[col]):
        return frame.assign(**{col: frame[col].to_numpy(dtype="float64", na_value=np.nan)})
    return frame
