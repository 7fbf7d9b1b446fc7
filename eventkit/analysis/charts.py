"""Charts of trends, what-if overlays and event rates, as matplotlib Figures.

Every function returns a :class:`matplotlib.figure.Figure` built with the object API: no pyplot
state, no ``plt.show()``, so it works headless (in CI, in a batch report) and in notebooks, where a
returned Figure displays itself. Times on the x axis are shown in the series' time zone (or the
``tz=`` given; UTC by default) with concise date labels; a period still in progress at the end
(``complete`` false on the last point of a series, or the last period of :func:`event_rate`) is
drawn dotted and hollow.
:func:`save_figure` writes a figure as PNG and SVG in one call, byte-for-byte repeatably.

Example:
    >>> import pandas as pd
    >>> s = pd.DataFrame({"as_of": pd.date_range("2025-01-01", periods=5, tz="UTC"),
    ...                   "balance": [1.0, 3.0, 2.0, 5.0, 4.0]})
    >>> fig = trend_lines(s, y="balance", unit="USD")
    >>> fig.axes[0].get_ylabel()
    'balance (USD)'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import matplotlib
import matplotlib.dates as mdates
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from eventkit.common.errors import InvalidInput
from eventkit.analysis.trends import require_columns

__all__ = ["event_counts", "event_rate", "overlay", "save_figure", "stacked_area", "trend_lines"]

_SIZE = (9.0, 4.5)
_FORMATS = ("png", "svg", "pdf")


def trend_lines(
    series: pd.DataFrame,
    *,
    y: str,
    x: str = "as_of",
    by: str | None = None,
    max_lines: int = 12,
    title: str | None = None,
    unit: str | None = None,
    tz: str | None = None,
    y_label: str | None = None,
    x_label: str | None = None,
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
        tz: The time zone of the x axis; default the series' own (else UTC).
        y_label: The y axis label; default ``y`` with its unit.
        x_label: The x axis label; default ``x`` with the time zone.

    A ``complete`` column false on the last point (its period is still in progress, as
    ``fold.snapshots`` marks it) draws that point hollow on a dotted segment, not as a sudden drop.

    Returns:
        The Figure (one Axes; ``fig.axes[0].lines`` holds one line per group drawn).

    Example:
        >>> import pandas as pd
        >>> s = pd.DataFrame({"as_of": pd.to_datetime(["2025-01-01", "2025-01-02"] * 2),
        ...                   "currency": ["USD", "USD", "EUR", "EUR"], "balance": [1, 2, 3, 4]})
        >>> len(trend_lines(s, y="balance", by="currency").axes[0].lines)
        2
    """
    require_columns(series, [x, y] + ([by] if by else []))
    _numeric(series, y)
    fig, ax = _figure()
    partial = _last_partial(series, x)
    if by is None:
        line = series.groupby(x, sort=True)[y].sum()
        zone = _zone(tz, line.index)
        _plot(ax, _times(line.index, zone), line.to_numpy(dtype=float), partial=partial, label=y)
    else:
        wide = series.pivot_table(index=x, columns=by, values=y, aggfunc="sum", sort=True)
        zone = _zone(tz, wide.index)
        shown = wide.abs().mean().sort_values(ascending=False, kind="stable").index[:max_lines]
        for name in sorted(shown, key=str):
            _plot(ax, _times(wide.index, zone), wide[name].to_numpy(dtype=float), partial=partial,
                  label=str(name))
        total = wide.shape[1]
        legend_title = by if len(shown) == total else f"{by} (top {len(shown)} of {total})"
        ax.legend(title=legend_title, fontsize="small", loc="best")
    if partial:
        _partial_note(ax, "last point: period in progress")
    _finish(ax, title or f"{y} over time", x_label or x, _label(y, unit, y_label), zone)
    return fig


def stacked_area(
    series: pd.DataFrame,
    *,
    y: str,
    by: str,
    x: str = "as_of",
    title: str | None = None,
    unit: str | None = None,
    tz: str | None = None,
    y_label: str | None = None,
    x_label: str | None = None,
) -> Figure:
    """``y`` summed per category and stacked over time: how a total splits into its parts.

    Args:
        series: A long frame.
        y: The numeric column to stack (values below 0 make a stacked area misleading).
        by: The category column; one band per value, the largest at the bottom.
        x: The time column.
        title: The chart's title; default ``"<y> by <by>"``.
        unit: The unit of ``y``.
        tz: The time zone of the x axis; default the series' own (else UTC).
        y_label: The y axis label; default ``y`` with its unit.
        x_label: The x axis label; default ``x`` with the time zone.

    Returns:
        The Figure; ``fig.axes[0].collections`` holds one band per category.

    Example:
        >>> import pandas as pd
        >>> s = pd.DataFrame({"as_of": pd.to_datetime(["2025-01-01", "2025-01-02"] * 2),
        ...                   "kind": ["x", "x", "y", "y"], "n": [1, 2, 3, 4]})
        >>> len(stacked_area(s, y="n", by="kind").axes[0].collections)
        2
    """
    require_columns(series, [x, y, by])
    _numeric(series, y)
    wide = series.pivot_table(index=x, columns=by, values=y, aggfunc="sum", sort=True).fillna(0)
    wide = wide[wide.sum().sort_values(ascending=False, kind="stable").index]
    fig, ax = _figure()
    zone = _zone(tz, wide.index)
    ax.stackplot(_times(wide.index, zone), *(wide[c].to_numpy(dtype=float) for c in wide.columns),
                 labels=[str(c) for c in wide.columns], alpha=0.85)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], labels[::-1], title=by, fontsize="small", loc="upper left")
    if _last_partial(series, x):
        ax.axvspan(_times(wide.index[-2:], zone)[0], _times(wide.index[-1:], zone)[0], color="white",
                   alpha=0.5, hatch="//", linewidth=0, gid="partial")
        _partial_note(ax, "last point: period in progress")
    _finish(ax, title or f"{y} by {by}", x_label or x, _label(y, unit, y_label), zone)
    return fig


def overlay(
    baseline: pd.DataFrame,
    scenario: pd.DataFrame,
    *,
    y: str,
    x: str = "as_of",
    labels: tuple[str, str] = ("baseline", "scenario"),
    title: str | None = None,
    unit: str | None = None,
    difference: bool = True,
    tz: str | None = None,
    y_label: str | None = None,
    x_label: str | None = None,
) -> Figure:
    """A what-if comparison: the baseline and the scenario as two lines, the gap shaded, and
    under them a panel of the difference (scenario minus baseline), where a small effect on a
    large total is visible.

    Rows sharing an ``x`` are summed, so give each side's total per point: the dense series
    ``fold.snapshots()`` returns, an aggregate, or use :meth:`eventkit.Scenario.overlay`. A
    ``complete`` column false on the last point (a period in progress) draws that point hollow
    on a dotted segment.

    Args:
        baseline: The baseline's series.
        scenario: The scenario's series, same columns.
        y: The numeric column to compare.
        x: The time column.
        labels: Legend names of the two lines.
        title: The chart's title; default ``"<y>: baseline vs scenario"``.
        unit: The unit of ``y``.
        difference: Draw the difference panel.
        tz: The time zone of the x axis; default the series' own (else UTC).
        y_label: The upper y axis label; default ``y`` with its unit.
        x_label: The x axis label; default ``x`` with the time zone.

    Returns:
        The Figure: ``axes[0]`` (gid ``"chart"``) two lines (baseline solid, scenario dashed) and one shaded
        difference; ``axes[1]`` (with ``difference``, gid ``"difference"``) the line scenario minus
        baseline.

    Example:
        >>> import pandas as pd
        >>> b = pd.DataFrame({"as_of": pd.date_range("2025-01-01", periods=3), "v": [1, 2, 3]})
        >>> fig = overlay(b, b.assign(v=[1, 1, 1]), y="v")
        >>> len(fig.axes[0].lines), fig.axes[1].lines[0].get_ydata().tolist()
        (2, [0.0, -1.0, -2.0])
    """
    for name, frame in (("baseline", baseline), ("scenario", scenario)):
        require_columns(frame, [x, y], what=name)
        _numeric(frame, y)
    base = baseline.groupby(x, sort=True)[y].sum()
    what = scenario.groupby(x, sort=True)[y].sum()
    # A side whose grid ends earlier (its last event is earlier) keeps its last total: no event
    # changes it after that.
    both = pd.concat({"b": base, "s": what}, axis=1).sort_index().ffill()
    zone = _zone(tz, both.index)
    times = _times(both.index, zone)
    partial = _last_partial(baseline, x) or _last_partial(scenario, x)
    b, s = both["b"].to_numpy(dtype=float), both["s"].to_numpy(dtype=float)
    if difference:
        fig = Figure(figsize=(_SIZE[0], _SIZE[1] * 1.35), layout="constrained")
        ax, low = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    else:
        fig, ax = _figure()
    _plot(ax, times, b, partial=partial, label=labels[0], linewidth=2)
    _plot(ax, times, s, partial=partial, label=labels[1], linewidth=2, linestyle="--")
    ax.fill_between(times, b, s, alpha=0.2, color="grey", label="difference")
    ax.legend(fontsize="small", loc="best")
    if partial:
        _partial_note(ax, "last point: period in progress")
    _finish(ax, title or f"{y}: {labels[0]} vs {labels[1]}", x_label or x, _label(y, unit, y_label), zone)
    if difference:
        _plot(low, times, s - b, partial=partial, color="C3", linewidth=1.5, label=f"{labels[1]} − {labels[0]}")
        low.axhline(0, color="black", linewidth=0.8)
        low.legend(fontsize="small", loc="best")
        _finish(low, "", x_label or x, _label("difference", unit), zone)
        low.set_gid("difference")  # the report's page lists a figure's panels by these ids
        ax.set_xlabel("")
    return fig


def event_counts(
    events: pd.DataFrame,
    *,
    every: str = "1D",
    by: str | None = "event_type",
    at: str = "occurred_at",
    tz: str | None = None,
) -> pd.DataFrame:
    """Events per period (and ``by`` value): the numbers :func:`event_rate` draws.

    Periods are calendar periods in ``tz``: days from local midnight, weeks from Monday (ISO
    weeks, labelled by their Monday, as snapshot series are), months from the 1st. A period is
    labelled by its start and holds the events from its start up to, not including, the next.

    Args:
        events: An event frame.
        every: The period, a pandas frequency (``"1D"``, ``"1W"``, ``"1MS"``, ``"h"``).
        by: The column to split by; ``None``: one count per period.
        at: The time column.
        tz: The calendar's time zone (an IANA name); default UTC.

    Returns:
        ``period`` (its start, tz-aware in ``tz``), ``by`` and ``events``; the periods
        with no event are absent (:func:`event_rate` draws them as zero).

    Example:
        >>> import pandas as pd
        >>> e = pd.DataFrame({"occurred_at": pd.to_datetime(["2025-01-05 23:00", "2025-01-06 01:00"], utc=True),
        ...                   "event_type": ["Opened", "Opened"]})
        >>> event_counts(e, every="1W")["period"].dt.strftime("%a %d").tolist()  # Sunday, then Monday
        ['Mon 30', 'Mon 06']
    """
    require_columns(events, [at] + ([by] if by else []), what="events")
    freq = _offset(every)
    zone = _zone(tz)
    local = _local(events[at], zone)
    keys = [pd.Grouper(key=at, freq=freq, closed="left", label="left")]
    frame = pd.DataFrame({at: local})
    if by:
        frame[by] = events[by].astype("str").to_numpy()
        keys.append(by)
    counts = frame.groupby(keys).size().rename("events").reset_index()
    counts[at] = _localize(counts[at], zone)
    return counts.rename(columns={at: "period"})


def event_rate(
    events: pd.DataFrame,
    *,
    every: str = "1D",
    by: str | None = "event_type",
    at: str = "occurred_at",
    max_lines: int = 8,
    title: str | None = None,
    tz: str | None = None,
    end: Any = None,
    y_label: str | None = None,
    x_label: str | None = None,
) -> Figure:
    """How many events happened per period, one line per ``by`` value.

    Periods are as in :func:`event_counts` (weeks start on Monday, in ``tz``). The last period
    is usually incomplete — the data stops inside it — so drawn like the others it would fall
    off a cliff: when it ends after ``end`` it is drawn dashed with a hollow marker, and a note
    says so.

    Args:
        events: An event frame (``store.read_all()``, a generated sample...).
        every: The period, a pandas frequency (``"1D"``, ``"1W"``, ``"h"``).
        by: The column to split by; ``None``: all events in one line.
        at: The time column.
        max_lines: The most frequent ``by`` values drawn; the rest are summed as ``"other"``.
        title: The chart's title; default ``"Events per <every>"``.
        tz: The calendar's time zone (periods and the x axis); default UTC.
        end: Where the data ends (a time); default the last event. A last period ending later
            is marked as partial.
        y_label: The y axis label; default ``"events per <period>"``.
        x_label: The x axis label; default ``at`` with the time zone.

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
    freq = _offset(every)
    zone = _zone(tz)
    keys = events[by].astype("str") if by else pd.Series("events", index=events.index)
    if by:
        top = keys.value_counts().index[:max_lines]
        keys = keys.where(keys.isin(top), "other")
    counts = event_counts(pd.DataFrame({at: events[at], "_k": keys.to_numpy()}), every=every, by="_k",
                          at=at, tz=zone)
    counts = counts.pivot_table(index="period", columns="_k", values="events", aggfunc="sum", fill_value=0)
    if len(counts):
        first, last = (counts.index.min().tz_localize(None), counts.index.max().tz_localize(None))
        full = _localize(pd.Series(pd.date_range(first, last, freq=freq)), zone)
        counts = counts.reindex(pd.DatetimeIndex(full), fill_value=0)
    partial = False
    if len(counts):
        data_end = pd.Timestamp(end) if end is not None else pd.Timestamp(_utc(events[at]).max())
        if data_end.tzinfo is None:
            data_end = data_end.tz_localize(zone)
        period_end = _localize(pd.Series([counts.index[-1].tz_localize(None) + freq]), zone).iloc[0]
        partial = bool(data_end < period_end)
    fig, ax = _figure()
    order = counts.sum().sort_values(ascending=False, kind="stable").index
    times = _times(counts.index, zone)
    for name in order:
        _plot(ax, times, counts[name].to_numpy(dtype=float), partial=partial, label=str(name),
              drawstyle="steps-post")
    if by:
        ax.legend(title=by, fontsize="small", loc="best")
    period = _period_name(every)
    if partial:
        _partial_note(ax, f"last {period.split()[-1].rstrip('s')} partial: the data ends "
                      f"{data_end.tz_convert(zone):%Y-%m-%d %H:%M}")
    _finish(ax, title or f"Events per {period}", x_label or at, y_label or f"events per {period}", zone)
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
        >>> fig = trend_lines(pd.DataFrame({"as_of": pd.date_range("2025-01-01", periods=2),
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


def _finish(ax: Axes, title: str, x: str, ylabel: str, zone: str = "UTC") -> None:
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


def _plot(ax: Axes, times: np.ndarray, values: np.ndarray, *, partial: bool, **style: Any) -> None:
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


def _partial_note(ax: Axes, text: str) -> None:
    ax.text(0.99, 0.01, text, transform=ax.transAxes, ha="right", va="bottom", fontsize="x-small",
            color="dimgray", gid="partial-note")


def _last_partial(frame: pd.DataFrame, x: str) -> bool:
    """Whether the series marks its last point as a period in progress: ``complete`` false there
    (the column ``fold.snapshots`` and ``fold.aggregate`` return)."""
    if "complete" not in frame.columns or not len(frame):
        return False
    last = frame[x].max()
    done = frame.loc[frame[x] == last, "complete"]
    return bool((done.notna() & ~done.fillna(True).astype(bool)).any())


def _offset(every: str) -> Any:
    try:
        freq = pd.tseries.frequencies.to_offset(every)
    except (ValueError, TypeError) as e:
        raise InvalidInput(f"not a pandas frequency: {every!r}", column="every", values=[every]) from e
    if isinstance(freq, pd.offsets.Week):
        # One convention with snapshot series: ISO weeks, from Monday 00:00, labelled by Monday.
        freq = pd.offsets.Week(freq.n, weekday=0)
    return freq


def _zone(tz: Any, index: Any = None) -> str:
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


def _utc(times: pd.Series) -> pd.Series:
    times = pd.to_datetime(times)
    return times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")


def _local(times: pd.Series, zone: str) -> pd.Series:
    """Times as naive wall-clock times in ``zone`` (naive input is taken as UTC)."""
    return _utc(times).dt.tz_convert(zone).dt.tz_localize(None)


def _localize(times: pd.Series, zone: str) -> pd.Series:
    """Naive wall-clock times in ``zone`` back to tz-aware ones (a midnight that DST skips
    moves forward)."""
    return pd.Series(pd.DatetimeIndex(times).tz_localize(zone, nonexistent="shift_forward",
                                                          ambiguous=True), index=getattr(times, "index", None))


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


def _times(index: pd.Index, zone: str = "UTC") -> np.ndarray:
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


def _label(y: str, unit: str | None, label: str | None = None) -> str:
    """The y axis label: ``label`` as given, else ``y`` with its unit, without saying the same
    word twice (``accounts``, not ``accounts (accounts)``)."""
    if label:
        return label
    if not unit or unit.strip().lower() in (y.lower(), y.lower().replace("_", " ")):
        return y
    return f"{y} ({unit})"


def _numeric(frame: pd.DataFrame, col: str) -> None:
    if not pd.api.types.is_numeric_dtype(frame[col]):
        raise InvalidInput(f"column {col!r} must be numeric to plot, not {frame[col].dtype}",
                           column=col, values=frame[col].head(3).tolist())
