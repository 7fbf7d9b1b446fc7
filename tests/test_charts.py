"""Charts: the right artists, titles and labels; PNG and SVG files that are really PNG and SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from eventkit.common.errors import InvalidInput
from eventkit.charts import event_counts, event_rate, overlay, save_figure, stacked_area, trend_lines

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def series() -> pd.DataFrame:
    at = pd.date_range("2025-01-01", periods=30, freq="D", tz="UTC")
    rows = []
    for i, currency in enumerate(["USD", "EUR", "GBP"]):
        rows.append(pd.DataFrame({"as_of": at, "currency": currency,
                                  "balance": np.arange(30, dtype=float) * (i + 1) * 1000}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture
def events() -> pd.DataFrame:
    times = pd.date_range("2025-01-01", periods=200, freq="7h", tz="UTC")
    kinds = np.array(["Deposited", "Withdrawn", "Opened", "Closed"])[np.arange(200) % 4]
    return pd.DataFrame({"occurred_at": times, "event_type": kinds})


def test_trend_lines_one_line_per_group(series):
    fig = trend_lines(series, y="balance", by="currency", unit="USD", title="Balances")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.lines) == 3
    assert ax.get_title() == "Balances"
    assert ax.get_ylabel() == "balance (USD)"
    assert ax.get_xlabel() == "as_of (UTC)"
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["EUR", "GBP", "USD"]


def test_trend_lines_without_groups_sums_and_caps_groups(series):
    ax = trend_lines(series, y="balance").axes[0]
    assert len(ax.lines) == 1
    assert ax.lines[0].get_ydata()[1] == 6000.0  # 1000 + 2000 + 3000
    assert ax.get_title() == "balance over time"
    capped = trend_lines(series, y="balance", by="currency", max_lines=2).axes[0]
    assert len(capped.lines) == 2
    assert "top 2 of 3" in capped.get_legend().get_title().get_text()


def test_large_values_get_thousands_separators(series):
    fig = trend_lines(series, y="balance")
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert any("," in label for label in labels)


def test_stacked_area_one_band_per_category(series):
    fig = stacked_area(series, y="balance", by="currency")
    ax = fig.axes[0]
    assert len(ax.collections) == 3
    assert ax.get_title() == "balance by currency"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[-1] == "GBP"  # the largest band sits at the bottom, listed last


def test_overlay_two_lines_and_a_difference(series):
    scenario = series.assign(balance=series["balance"] * 0.5)
    fig = overlay(series, scenario, y="balance", labels=("actual", "no fees"), unit="USD")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["actual", "no fees"]
    assert len(ax.collections) == 1
    assert ax.get_title() == "balance: actual vs no fees"
    assert ax.lines[1].get_ydata()[-1] == pytest.approx(ax.lines[0].get_ydata()[-1] / 2)


def test_event_rate(events):
    fig = event_rate(events, every="1D")
    ax = fig.axes[0]
    assert len(ax.lines) == 4
    assert ax.get_title() == "Events per day"
    assert ax.get_ylabel() == "events per day"
    # 200 events, every 7 h: each line counts its quarter of them (the last day is partial,
    # drawn as a hollow point: the lines' own data stop at the last complete day).
    assert event_counts(events, every="1D")["events"].sum() == 200
    assert sum(pt.get_offsets()[0, 1] for pt in ax.collections if isinstance(pt, PathCollection)) \
        == event_counts(events, every="1D").groupby("period")["events"].sum().groupby(level=0).sum().iloc[-1]
    capped = event_rate(events, every="W", max_lines=2).axes[0]
    assert len(capped.lines) == 3 and "other" in [line.get_label() for line in capped.lines]
    assert capped.get_title() == "Events per week"
    assert event_rate(events, by=None).axes[0].get_legend() is None


def test_save_figure_writes_valid_png_and_svg(series, tmp_path):
    fig = trend_lines(series, y="balance", by="currency")
    paths = save_figure(fig, tmp_path / "charts" / "balance")
    assert [p.name for p in paths] == ["balance.png", "balance.svg"]
    png, svg = paths
    assert png.read_bytes()[:8] == PNG_MAGIC
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    # Repeatable output: the same chart made again gives the same bytes.
    again = save_figure(trend_lines(series, y="balance", by="currency"), tmp_path / "again.png")
    assert again[0].read_bytes() == png.read_bytes()
    assert again[1].read_bytes() == svg.read_bytes()


def test_save_figure_rejects_unknown_formats(series, tmp_path):
    with pytest.raises(InvalidInput, match="format"):
        save_figure(trend_lines(series, y="balance"), tmp_path / "x", formats=("gif",))


@pytest.mark.parametrize("call", [
    lambda s: trend_lines(s, y="balanse"),
    lambda s: trend_lines(s, y="balance", by="curency"),
    lambda s: stacked_area(s, y="balance", by="kind"),
    lambda s: overlay(s, s.drop(columns="balance"), y="balance"),
    lambda s: event_rate(s, by="event_type"),
])
def test_missing_columns_are_named(series, call):
    with pytest.raises(InvalidInput, match="available columns"):
        call(series)


def test_non_numeric_y_and_non_time_x_are_rejected(series):
    with pytest.raises(InvalidInput, match="numeric"):
        trend_lines(series, y="currency")
    with pytest.raises(InvalidInput, match="timestamps"):
        trend_lines(series.assign(as_of=series["as_of"].astype(str)), y="balance")


def test_no_pyplot_state_is_touched(series):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    trend_lines(series, y="balance")
    assert plt.get_fignums() == before


# -- one week convention, time zones, the period in progress -------------------------------------
def test_weeks_start_on_monday_and_are_labelled_by_it():
    times = pd.to_datetime(["2025-01-05 23:59", "2025-01-06 00:00", "2025-01-12 23:59", "2025-01-13 00:00"],
                           utc=True)
    got = event_counts(pd.DataFrame({"occurred_at": times, "event_type": "X"}), every="1W", by=None)
    assert got["period"].dt.strftime("%a %Y-%m-%d").tolist() == [
        "Mon 2024-12-30", "Mon 2025-01-06", "Mon 2025-01-13"]
    assert got["events"].tolist() == [1, 2, 1]
    # "W-SUN" (pandas' default anchor) means the same ISO weeks here.
    assert event_counts(pd.DataFrame({"occurred_at": times}), every="W-SUN", by=None)["events"].tolist() == [1, 2, 1]


def test_periods_follow_the_time_zone():
    # 03:00 UTC on 6 January is 22:00 on 5 January in New York: a different day there.
    e = pd.DataFrame({"occurred_at": pd.to_datetime(["2025-01-06 03:00", "2025-01-06 12:00"], utc=True)})
    utc = event_counts(e, every="1D", by=None)
    ny = event_counts(e, every="1D", by=None, tz="America/New_York")
    assert utc["events"].tolist() == [2]
    assert ny["events"].tolist() == [1, 1]
    assert [str(t) for t in ny["period"]] == ["2025-01-05 00:00:00-05:00", "2025-01-06 00:00:00-05:00"]
    fig = event_rate(e, every="1D", by=None, tz="America/New_York")
    assert fig.axes[0].get_xlabel() == "occurred_at (America/New_York)"
    with pytest.raises(InvalidInput, match="time zone"):
        event_counts(e, by=None, tz="Mars/Olympus")


def partial_marks(ax) -> int:
    return sum(1 for c in ax.collections if c.get_gid() == "partial")


def test_the_last_partial_period_is_marked_not_drawn_as_a_cliff():
    # Three full weeks of 70 events, then two days of the fourth: 20 events.
    times = pd.date_range("2025-01-06", periods=230, freq="2.4h", tz="UTC")
    e = pd.DataFrame({"occurred_at": times})
    ax = event_rate(e, every="1W", by=None).axes[0]
    (line,) = ax.lines
    assert line.get_ydata().tolist() == [70, 70, 70, 70]  # the full weeks, the step held to week 4
    assert partial_marks(ax) == 2  # the dotted drop and the hollow last point (20 events)
    assert [pt.get_offsets()[0, 1] for pt in ax.collections if isinstance(pt, PathCollection)] == [20]
    assert any("last week partial" in t.get_text() for t in ax.texts)
    # Told that the data goes on to the end of that week, nothing is marked.
    full = event_rate(e, every="1W", by=None, end="2025-02-03").axes[0]
    assert partial_marks(full) == 0 and full.lines[0].get_ydata().tolist() == [70, 70, 70, 20]


def test_a_series_marks_its_partial_last_point(series):
    marked = series.assign(complete=series["as_of"] < series["as_of"].max())
    for make in (lambda s: trend_lines(s, y="balance", by="currency"), lambda s: trend_lines(s, y="balance"),
                 lambda s: overlay(s, s, y="balance")):
        assert partial_marks(make(series).axes[0]) == 0
        ax = make(marked).axes[0]
        assert partial_marks(ax) >= 2 and any("in progress" in t.get_text() for t in ax.texts)
    assert partial_marks(stacked_area(marked, y="balance", by="currency").axes[0]) == 0  # a hatched span
    assert any(p.get_gid() == "partial" for p in stacked_area(marked, y="balance", by="currency").axes[0].patches)


def test_overlay_has_a_difference_panel(series):
    scenario = series.assign(balance=series["balance"] + np.where(series["currency"] == "USD", 5.0, 0.0))
    fig = overlay(series, scenario, y="balance", labels=("actual", "no fees"), unit="USD")
    top, low = fig.axes
    assert low.lines[0].get_ydata().tolist() == [5.0] * 30
    assert low.get_ylabel() == "difference (USD)" and low.lines[0].get_label() == "no fees − actual"
    assert len(overlay(series, scenario, y="balance", difference=False).axes) == 1


def test_times_are_drawn_in_the_series_time_zone(series):
    zurich = series.assign(as_of=series["as_of"].dt.tz_convert("Europe/Zurich"))
    ax = trend_lines(zurich, y="balance").axes[0]
    assert ax.get_xlabel() == "as_of (Europe/Zurich)"
    first = pd.Timestamp(ax.lines[0].get_xdata()[0])
    assert first == pd.Timestamp("2025-01-01 01:00")  # midnight UTC is 01:00 in Zurich
    assert trend_lines(zurich, y="balance", tz="UTC").axes[0].get_xlabel() == "as_of (UTC)"


def test_trend_lines_by_stream_on_snapshots_are_continuous_and_right(tmp_path):
    import eventkit as ek

    # Three accounts changing on different days: each one's line must run through every day
    # from its first event on (no gaps), at the balance computed by hand.
    rows = [("a", 0, 10), ("b", 1, 5), ("a", 3, -4), ("c", 3, 7), ("b", 6, 1)]
    with ek.open_store(tmp_path / "s") as store:
        store.append_frame(pd.DataFrame({
            "stream_id": [r[0] for r in rows], "event_type": "Moved", "amount": [r[2] for r in rows],
            "occurred_at": [pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(days=r[1]) for r in rows]}),
            stream_type="account")
        fold = ek.Fold("acct", fields={"balance": ek.sum("amount")})
        ax = trend_lines(fold.snapshots(store, every="1D"), y="balance", by="stream_id").axes[0]
    days = pd.date_range("2025-01-01", periods=7, freq="D")
    for line in ax.lines:
        sid = line.get_label()
        first = min(d for s, d, _ in rows if s == sid)
        by_hand = [sum(a for s, d, a in rows if s == sid and d <= k) for k in range(first, 7)]
        y = line.get_ydata()
        assert not np.isnan(y[first:]).any(), sid  # continuous from the first event on
        assert np.isnan(y[:first]).all() and y[first:].tolist() == by_hand, sid
        assert [pd.Timestamp(t) for t in line.get_xdata()] == list(days)
    assert sorted(line.get_label() for line in ax.lines) == ["a", "b", "c"]
