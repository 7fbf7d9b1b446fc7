"""Charts of trends, what-if overlays and event rates, as matplotlib Figures.

Every function returns a :class:`matplotlib.figure.Figure` built with the object API: no pyplot
state, no ``plt.show()``, so it works headless (in CI, in a batch report) and in notebooks, where a
returned Figure displays itself. Times on the x axis are shown in UTC with concise date labels.
:func:`save_figure` writes a figure as PNG and SVG in one call, byte-for-byte repeatably.

Example:
    >>> import pandas as pd
    >>> s = pd.DataFrame({"at": pd.date_range("2025-01-01", periods=5, tz="UTC"),
    ...                   "balance": [1.0, 3.0, 2.0, 5.0, 4.0]})
    >>> fig = trend_lines(s, y="balance", unit="USD")
    >>> fig.axes[0].get_ylabel()
    'balance (USD)'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import matplotlib
import matplotlib.dates as mdates
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._errors import InvalidInput
from .trends import require_columns

__all__ = ["event_rate", "overlay", "save_figure", "stacked_area", "trend_lines"]

_SIZE = (9.0, 4.5)
_FORMATS = ("png", "svg", "pdf")


def trend_lines(
    series: pd.DataFrame,
    *,
    y: str,
    x: str = "at",
    by: str | None = None,
    max_lines: int = 12,
    title: str | None = None,
    unit: str | None = None,
) -> Figure:
    """One line per group (or a single line) of ``y`` over time.

    Args:
        series: A long frame, e.g. a snapshot series or an :func:`~eventkit.trends.aggregate`.
        y: The numeric column to plot.
        x: The time column.
        by: A column whose values get a line each (``currency``, ``stream_id``...). ``None``: one
            line; rows sharing an ``x`` are then summed.
        max_lines: With more groups than this, only the groups with the largest mean absolute
            ``y`` are drawn, and the legend says so.
        title: The chart's title; default ``"<y> over time"``.
        unit: The unit of ``y``, shown in the axis label: ``"balance (USD)"``.

    Returns:
        The Figure (one Axes; ``fig.axes[0].lines`` holds one line per group drawn).

    Example:
        >>> import pandas as pd
        >>> s = pd.DataFrame({"at": pd.to_datetime(["2025-01-01", "2025-01-02"] * 2),
        ...                   "currency": ["USD", "USD", "EUR", "EUR"], "balance": [1, 2, 3, 4]})
        >>> len(trend_lines(s, y="balance", by="currency").axes[0].lines)
        2
    """
    require_columns(series, [x, y] + ([by] if by else []))
    _numeric(series, y)
    fig, ax = _figure()
    if by is None:
        line = series.groupby(x, sort=True)[y].sum()
        ax.plot(_times(line.index), line.to_numpy(dtype=float), label=y)
    else:
        wide = series.pivot_table(index=x, columns=by, values=y, aggfunc="sum", sort=True)
        shown = wide.abs().mean().sort_values(ascending=False, kind="stable").index[:max_lines]
        for name in sorted(shown, key=str):
            ax.plot(_times(wide.index), wide[name].to_numpy(dtype=float), label=str(name))
        total = wide.shape[1]
        legend_title = by if len(shown) == total else f"{by} (top {len(shown)} of {total})"
        ax.legend(title=legend_title, fontsize="small", loc="best")
    _finish(ax, title or f"{y} over time", x, _label(y, unit))
    return fig


def stacked_area(
    series: pd.DataFrame,
    *,
    y: str,
    by: str,
    x: str = "at",
    title: str | None = None,
    unit: str | None = None,
) -> Figure:
    """``y`` summed per category and stacked over time: how a total splits into its parts.

    Args:
        series: A long frame.
        y: The numeric column to stack (values below 0 make a stacked area misleading).
        by: The category column; one band per value, the largest at the bottom.
        x: The time column.
        title: The chart's title; default ``"<y> by <by>"``.
        unit: The unit of ``y``.

    Returns:
        The Figure; ``fig.axes[0].collections`` holds one band per category.

    Example:
        >>> import pandas as pd
        >>> s = pd.DataFrame({"at": pd.to_datetime(["2025-01-01", "2025-01-02"] * 2),
        ...                   "kind": ["x", "x", "y", "y"], "n": [1, 2, 3, 4]})
        >>> len(stacked_area(s, y="n", by="kind").axes[0].collections)
        2
    """
    require_columns(series, [x, y, by])
    _numeric(series, y)
    wide = series.pivot_table(index=x, columns=by, values=y, aggfunc="sum", sort=True).fillna(0)
    wide = wide[wide.sum().sort_values(ascending=False, kind="stable").index]
    fig, ax = _figure()
    ax.stackplot(_times(wide.index), *(wide[c].to_numpy(dtype=float) for c in wide.columns),
                 labels=[str(c) for c in wide.columns], alpha=0.85)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], labels[::-1], title=by, fontsize="small", loc="upper left")
    _finish(ax, title or f"{y} by {by}", x, _label(y, unit))
    return fig


def overlay(
    baseline: pd.DataFrame,
    scenario: pd.DataFrame,
    *,
    y: str,
    x: str = "at",
    labels: tuple[str, str] = ("baseline", "scenario"),
    title: str | None = None,
    unit: str | None = None,
) -> Figure:
    """A what-if comparison: the baseline and the scenario as two lines, the gap shaded.

    Rows sharing an ``x`` (several streams) are summed, so snapshot series of many streams give
    their totals.

    Args:
        baseline: The baseline's series.
        scenario: The scenario's series, same columns.
        y: The numeric column to compare.
        x: The time column.
        labels: Legend names of the two lines.
        title: The chart's title; default ``"<y>: baseline vs scenario"``.
        unit: The unit of ``y``.

    Returns:
        The Figure: two lines (baseline solid, scenario dashed) and one shaded difference.

    Example:
        >>> import pandas as pd
        >>> b = pd.DataFrame({"at": pd.date_range("2025-01-01", periods=3), "v": [1, 2, 3]})
        >>> len(overlay(b, b.assign(v=[1, 1, 1]), y="v").axes[0].lines)
        2
    """
    for name, frame in (("baseline", baseline), ("scenario", scenario)):
        require_columns(frame, [x, y], what=name)
        _numeric(frame, y)
    base = baseline.groupby(x, sort=True)[y].sum()
    what = scenario.groupby(x, sort=True)[y].sum()
    both = pd.concat({"b": base, "s": what}, axis=1).sort_index().ffill()
    times = _times(both.index)
    fig, ax = _figure()
    ax.plot(times, both["b"].to_numpy(dtype=float), label=labels[0], linewidth=2)
    ax.plot(times, both["s"].to_numpy(dtype=float), label=labels[1], linewidth=2, linestyle="--")
    ax.fill_between(times, both["b"].to_numpy(dtype=float), both["s"].to_numpy(dtype=float),
                    alpha=0.2, color="grey", label="difference")
    ax.legend(fontsize="small", loc="best")
    _finish(ax, title or f"{y}: {labels[0]} vs {labels[1]}", x, _label(y, unit))
    return fig


def event_rate(
    events: pd.DataFrame,
    *,
    every: str = "1D",
    by: str | None = "event_type",
    at: str = "occurred_at",
    max_lines: int = 8,
    title: str | None = None,
) -> Figure:
    """How many events happened per period, one line per ``by`` value.

    Args:
        events: An event frame (``store.read_all()``, a generated sample...).
        every: The period, a pandas frequency (``"1D"``, ``"1W"``, ``"h"``).
        by: The column to split by; ``None``: all events in one line.
        at: The time column.
        max_lines: The most frequent ``by`` values drawn; the rest are summed as ``"other"``.
        title: The chart's title; default ``"Events per <every>"``.

    Returns:
        The Figure, one line per drawn value (plus ``other``).

    Example:
        >>> import pandas as pd
        >>> e = pd.DataFrame({"occurred_at": pd.to_datetime(["2025-01-01", "2025-01-02"]),
        ...                   "event_type": ["Opened", "Deposited"]})
        >>> len(event_rate(e).axes[0].lines)
        2
    """
    require_columns(events, [at] + ([by] if by else []), what="events")
    try:
        freq = pd.tseries.frequencies.to_offset(every)
    except (ValueError, TypeError) as e:
        raise InvalidInput(f"not a pandas frequency: {every!r}", column="every",
                           values=[every]) from e
    keys = events[by].astype("str") if by else pd.Series("events", index=events.index)
    if by:
        top = keys.value_counts().index[:max_lines]
        keys = keys.where(keys.isin(top), "other")
    counts = (pd.DataFrame({at: events[at], "_k": keys.to_numpy()})
              .groupby([pd.Grouper(key=at, freq=freq), "_k"]).size().unstack("_k", fill_value=0))
    counts = counts.reindex(pd.date_range(counts.index.min(), counts.index.max(), freq=freq),
                            fill_value=0) if len(counts) else counts
    fig, ax = _figure()
    order = counts.sum().sort_values(ascending=False, kind="stable").index
    for name in order:
        ax.plot(_times(counts.index), counts[name].to_numpy(dtype=float), label=str(name),
                drawstyle="steps-post")
    if by:
        ax.legend(title=by, fontsize="small", loc="best")
    period = _period_name(every)
    _finish(ax, title or f"Events per {period}", at, f"events per {period}")
    return fig


def save_figure(
    fig: Figure,
    path: str | Path,
    *,
    formats: Sequence[str] = ("png", "svg"),
    dpi: int = 144,
) -> list[Path]:
    """Write a figure in several formats at once: ``path.png``, ``path.svg``...

    The output is repeatable: the same chart made from the same data gives the same bytes (no
    creation date, fixed SVG ids), so a report run twice does not change. (Saving one Figure
    object twice may differ by a pixel: matplotlib's constrained layout moves on each draw.)

    Args:
        fig: The figure.
        path: The file path without extension (an extension among ``formats`` is dropped);
            missing folders are created.
        formats: Any of ``"png"``, ``"svg"``, ``"pdf"``.
        dpi: Resolution of the PNG.

    Returns:
        The paths written, in the order of ``formats``.

    Raises:
        InvalidInput: An unsupported format.

    Example:
        >>> import tempfile, pandas as pd
        >>> fig = trend_lines(pd.DataFrame({"at": pd.date_range("2025-01-01", periods=2),
        ...                                 "v": [1, 2]}), y="v")
        >>> [p.suffix for p in save_figure(fig, Path(tempfile.mkdtemp()) / "chart")]
        ['.png', '.svg']
    """
    bad = [f for f in formats if f not in _FORMATS]
    if bad or not formats:
        raise InvalidInput(f"unsupported figure format; use some of {list(_FORMATS)}",
                           column="formats", values=bad)
    path = Path(path)
    if path.suffix.lstrip(".").lower() in _FORMATS:
        path = path.with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    with matplotlib.rc_context({"svg.hashsalt": "eventkit", "svg.fonttype": "path"}):
        for fmt in formats:
            target = path.with_name(f"{path.name}.{fmt}")
            metadata = {"Software": None} if fmt == "png" else {"Date": None}
            if fmt == "pdf":
                metadata["CreationDate"] = metadata.pop("Date")
            fig.savefig(target, format=fmt, dpi=dpi, metadata=metadata)
            written.append(target)
    return written


def _figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=_SIZE, layout="constrained")
    return fig, fig.add_subplot()


def _finish(ax: Axes, title: str, x: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel(f"{x} (UTC)")
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(True, alpha=0.3)
    low, high = ax.get_ylim()
    if max(abs(low), abs(high)) >= 10_000:  # 1,250,000 rather than 1.25 with a 1e6 offset
        ax.yaxis.set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))


def _period_name(every: str) -> str:
    """``"1D"`` -> ``"day"``, ``"W"`` -> ``"week"``, ``"6h"`` -> ``"6 hours"``."""
    names = {"D": "day", "h": "hour", "H": "hour", "W": "week", "MS": "month", "ME": "month",
             "M": "month", "QS": "quarter", "QE": "quarter", "min": "minute", "s": "second",
             "YS": "year", "YE": "year"}
    match = re.fullmatch(r"(\d*)([A-Za-z]+)(-\w+)?", every.strip())
    if not match or match.group(2) not in names:
        return every
    count, unit = int(match.group(1) or 1), match.group(2)
    return names[unit] if count == 1 else f"{count} {names[unit]}s"


def _times(index: pd.Index) -> np.ndarray:
    """Times as naive UTC datetime64, which matplotlib plots without a timezone converter."""
    if not pd.api.types.is_datetime64_any_dtype(index):
        raise InvalidInput(f"the x axis needs timestamps, not {index.dtype}",
                           values=list(index[:3]))
    times = pd.DatetimeIndex(index)
    if times.tz is not None:
        times = times.tz_convert("UTC").tz_localize(None)
    return times.to_numpy()


def _label(y: str, unit: str | None) -> str:
    return f"{y} ({unit})" if unit else y


def _numeric(frame: pd.DataFrame, col: str) -> None:
    if not pd.api.types.is_numeric_dtype(frame[col]):
        raise InvalidInput(f"column {col!r} must be numeric to plot, not {frame[col].dtype}",
                           column=col, values=frame[col].head(3).tolist())
