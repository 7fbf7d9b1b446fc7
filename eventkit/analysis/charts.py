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

from pathlib import Path
from typing import Any, Sequence

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from eventkit.analysis import chart_parts as parts
from eventkit.common.errors import InvalidInput
from eventkit.analysis.trends import require_columns

__all__ = ["event_counts", "event_rate", "overlay", "save_figure", "stacked_area", "trend_lines"]

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
    parts.numeric(series, y)
    parts.at_least_one(max_lines, "max_lines")
    series = parts.summed_as_floats(series, y)
    fig, ax = parts.figure()
    partial = parts.last_partial(series, x)
    if by is None:
        # min_count=1: a point where every value is missing is a gap, not a drop to zero.
        line = series.groupby(x, sort=True)[y].sum(min_count=1)
        zone = parts.zone(tz, line.index)
        parts.plot(ax, parts.times(line.index, zone), line.to_numpy(dtype=float), partial=partial, label=y)
    else:
        # dropna=False: a missing category is a line of its own (as ek.aggregate keeps it), not dropped.
        wide = series.groupby([x, by], sort=True, dropna=False)[y].sum(min_count=1).unstack(by)
        zone = parts.zone(tz, wide.index)
        shown = wide.abs().mean().sort_values(ascending=False, kind="stable").index[:max_lines]
        for name in sorted(shown, key=str):
            parts.plot(ax, parts.times(wide.index, zone), wide[name].to_numpy(dtype=float), partial=partial,
                  label=str(name))
        total = wide.shape[1]
        legend_title = by if len(shown) == total else f"{by} (top {len(shown)} of {total})"
        if len(shown):  # no rows: no lines, and no legend to draw (matplotlib would warn)
            ax.legend(title=legend_title, fontsize="small", loc="best")
    if partial:
        parts.partial_note(ax, "last point: period in progress")
    parts.finish(ax, title or f"{y} over time", x_label or x, parts.label(y, unit, y_label), zone)
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
    parts.numeric(series, y)
    series = parts.summed_as_floats(series, y)
    wide = series.groupby([x, by], sort=True, dropna=False)[y].sum().unstack(by).fillna(0)
    wide = wide[wide.sum().sort_values(ascending=False, kind="stable").index]
    fig, ax = parts.figure()
    zone = parts.zone(tz, wide.index)
    if wide.shape[1]:  # no rows: an empty chart, as trend_lines draws (stackplot needs a band)
        ax.stackplot(parts.times(wide.index, zone), *(wide[c].to_numpy(dtype=float) for c in wide.columns),
                     labels=[str(c) for c in wide.columns], alpha=0.85)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], labels[::-1], title=by, fontsize="small", loc="upper left")
    if parts.last_partial(series, x):
        ax.axvspan(parts.times(wide.index[-2:], zone)[0], parts.times(wide.index[-1:], zone)[0], color="white",
                   alpha=0.5, hatch="//", linewidth=0, gid="partial")
        parts.partial_note(ax, "last point: period in progress")
    parts.finish(ax, title or f"{y} by {by}", x_label or x, parts.label(y, unit, y_label), zone)
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
        parts.numeric(frame, y)
    baseline, scenario = parts.summed_as_floats(baseline, y), parts.summed_as_floats(scenario, y)
    base = baseline.groupby(x, sort=True)[y].sum(min_count=1)  # all missing: a gap, not zero
    what = scenario.groupby(x, sort=True)[y].sum(min_count=1)
    # A side whose grid ends earlier (its last event is earlier) keeps its last total: no event
    # changes it after that. Only past a side's end: a missing total inside it stays a gap.
    both = pd.concat({"b": base, "s": what}, axis=1).sort_index()
    for col, side in (("b", base), ("s", what)):
        if len(side):
            both.loc[both.index > side.index[-1], col] = side.iloc[-1]
        else:  # no rows at all: no stream exists on that side (every event dropped), a total of 0
            both[col] = 0.0
    zone = parts.zone(tz, both.index)
    times = parts.times(both.index, zone)
    partial = parts.last_partial(baseline, x) or parts.last_partial(scenario, x)
    b, s = both["b"].to_numpy(dtype=float), both["s"].to_numpy(dtype=float)
    if difference:
        fig = Figure(figsize=(parts.SIZE[0], parts.SIZE[1] * 1.35), layout="constrained")
        ax, low = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    else:
        fig, ax = parts.figure()
    parts.plot(ax, times, b, partial=partial, label=labels[0], linewidth=2)
    parts.plot(ax, times, s, partial=partial, label=labels[1], linewidth=2, linestyle="--")
    ax.fill_between(times, b, s, alpha=0.2, color="grey", label="difference")
    ax.legend(fontsize="small", loc="best")
    if partial:
        parts.partial_note(ax, "last point: period in progress")
    parts.finish(ax, title or f"{y}: {labels[0]} vs {labels[1]}", x_label or x, parts.label(y, unit, y_label), zone)
    if difference:
        parts.plot(low, times, s - b, partial=partial, color="C3", linewidth=1.5, label=f"{labels[1]} − {labels[0]}")
        low.axhline(0, color="black", linewidth=0.8)
        low.legend(fontsize="small", loc="best")
        parts.finish(low, "", x_label or x, parts.label("difference", unit), zone)
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
    freq = parts.offset(every)
    zone = parts.zone(tz)
    local = parts.local(events[at], zone)
    keys = [pd.Grouper(key=at, freq=freq, closed="left", label="left")]
    frame = pd.DataFrame({at: local})
    if by:
        frame[by] = events[by].astype("str").to_numpy()
        keys.append(by)
    counts = frame.groupby(keys).size().rename("events").reset_index()
    counts[at] = parts.localize(counts[at], zone)
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
    parts.at_least_one(max_lines, "max_lines")
    freq = parts.offset(every)
    zone = parts.zone(tz)
    keys = events[by].astype("str") if by else pd.Series("events", index=events.index)
    if by:
        top = keys.value_counts().index[:max_lines]
        keys = keys.where(keys.isin(top), "other")
    counts = event_counts(pd.DataFrame({at: events[at], "_k": keys.to_numpy()}), every=every, by="_k",
                          at=at, tz=zone)
    counts = counts.pivot_table(index="period", columns="_k", values="events", aggfunc="sum", fill_value=0)
    if len(counts):
        first, last = (counts.index.min().tz_localize(None), counts.index.max().tz_localize(None))
        full = parts.localize(pd.Series(pd.date_range(first, last, freq=freq)), zone)
        counts = counts.reindex(pd.DatetimeIndex(full), fill_value=0)
    partial = False
    if len(counts):
        data_end = pd.Timestamp(end) if end is not None else pd.Timestamp(parts.utc(events[at]).max())
        if data_end.tzinfo is None:
            data_end = data_end.tz_localize(zone)
        period_end = parts.localize(pd.Series([counts.index[-1].tz_localize(None) + freq]), zone).iloc[0]
        partial = bool(data_end < period_end)
    fig, ax = parts.figure()
    order = counts.sum().sort_values(ascending=False, kind="stable").index
    times = parts.times(counts.index, zone)
    for name in order:
        parts.plot(ax, times, counts[name].to_numpy(dtype=float), partial=partial, label=str(name),
              drawstyle="steps-post")
    if by:
        ax.legend(title=by, fontsize="small", loc="best")
    period = parts.period_name(every)
    if partial:
        parts.partial_note(ax, f"last {period.split()[-1].rstrip('s')} partial: the data ends "
                      f"{data_end.tz_convert(zone):%Y-%m-%d %H:%M}")
    parts.finish(ax, title or f"Events per {period}", x_label or at, y_label or f"events per {period}", zone)
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
