"""Charts: the right artists, titles and labels; PNG and SVG files that are really PNG and SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from eventkit._errors import InvalidInput
from eventkit.charts import event_rate, overlay, save_figure, stacked_area, trend_lines

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def series() -> pd.DataFrame:
    at = pd.date_range("2025-01-01", periods=30, freq="D", tz="UTC")
    rows = []
    for i, currency in enumerate(["USD", "EUR", "GBP"]):
        rows.append(pd.DataFrame({"at": at, "currency": currency,
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
    assert ax.get_xlabel() == "at (UTC)"
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
    # 200 events, every 7 h: each line counts its quarter of them.
    assert sum(line.get_ydata().sum() for line in ax.lines) == 200
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
        trend_lines(series.assign(at=series["at"].astype(str)), y="balance")


def test_no_pyplot_state_is_touched(series):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    trend_lines(series, y="balance")
    assert plt.get_fignums() == before
