"""Hostile analysis inputs: charts of series with missing values, no rows, or values beyond plotting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import eventkit as ek
from eventkit import charts

TIMES = pd.date_range("2025-01-01", periods=3, freq="D", tz="UTC")


def _ys(fig):
    return [list(line.get_ydata()) for ax in fig.axes for line in ax.lines if len(line.get_ydata()) == 3]


def test_a_point_with_only_missing_values_is_a_gap_not_a_drop_to_zero():
    # A field with no value at a point (NaN: missing) was summed to 0 and drawn as a cliff to zero.
    series = pd.DataFrame({"as_of": TIMES, "currency": ["USD"] * 3, "price": [5.0, np.nan, 7.0]})
    for fig in (charts.trend_lines(series, y="price"), charts.trend_lines(series, y="price", by="currency"),
                charts.overlay(series, series.assign(price=[6.0, np.nan, 8.0]), y="price", difference=False)):
        for ys in _ys(fig):
            assert ys[1] != 0 and np.isnan(ys[1]), ys


def test_missing_values_beside_present_ones_still_sum_as_pandas_does():
    series = pd.DataFrame({"as_of": TIMES.repeat(2), "stream_id": ["a", "b"] * 3,
                           "balance": [1.0, np.nan, 2.0, 3.0, np.nan, np.nan]})
    ys = _ys(charts.trend_lines(series, y="balance"))
    assert ys[0][:2] == [1.0, 5.0] and np.isnan(ys[0][2])


@pytest.mark.filterwarnings("error")  # an empty chart draws no legend (matplotlib warned "No artists ...")
def test_stacked_area_of_no_rows_is_an_empty_chart_like_trend_lines():
    empty = pd.DataFrame({"as_of": TIMES[:0], "currency": pd.Series([], dtype=str), "n": pd.Series([], dtype=float)})
    assert len(charts.trend_lines(empty, y="n", by="currency").axes) == 1
    fig = charts.stacked_area(empty, y="n", by="currency")  # was ValueError from matplotlib's vstack
    assert fig.axes[0].collections == [] or len(fig.axes[0].collections) == 0


def test_values_too_large_to_draw_are_refused_naming_the_column(tmp_path):
    # Near the float maximum matplotlib cannot lay out the axis (ValueError 'arange: cannot compute
    # length' when saving); the chart says which column and what to do.
    series = pd.DataFrame({"as_of": TIMES.repeat(2), "kind": ["x", "y"] * 3, "amount": [1e308] * 6})
    with pytest.raises(ek.EventKitError, match="amount"):
        charts.save_figure(charts.trend_lines(series, y="amount", by="kind"), tmp_path / "chart")


@pytest.mark.parametrize("every", ["0D", "0h", "-1D"])
def test_an_event_rate_period_of_no_length_is_refused(every):
    # '0D' was a ZeroDivisionError deep in pandas' grouper.
    events = pd.DataFrame({"occurred_at": TIMES, "event_type": ["a", "b", "a"]})
    with pytest.raises(ek.EventKitError, match="every"):
        charts.event_counts(events, every=every)


def test_event_times_that_are_not_times_are_refused_naming_the_column():
    # Was pandas' ValueError 'time data "x" doesn't match format'.
    events = pd.DataFrame({"occurred_at": ["2025-01-01", "x"], "event_type": ["a", "b"]})
    with pytest.raises(ek.EventKitError, match="occurred_at"):
        charts.event_rate(events, every="1D")


def test_rows_with_a_missing_category_are_a_line_of_their_own_not_dropped():
    # As ek.aggregate keeps a missing by value as a group; the chart silently left those rows out.
    series = pd.DataFrame({"as_of": TIMES.repeat(2), "currency": ["USD", None] * 3, "balance": [1.0, 2.0] * 3})
    fig = charts.trend_lines(series, y="balance", by="currency")
    assert len(fig.axes[0].lines) == 2
    fig = charts.stacked_area(series, y="balance", by="currency")
    assert len(fig.axes[0].collections) == 2


@pytest.mark.parametrize("max_lines", [0, -1])
def test_max_lines_below_one_is_refused(max_lines):
    # index[:-1] silently left out the smallest group (the legend said "top 1 of 2").
    series = pd.DataFrame({"as_of": TIMES.repeat(2), "kind": ["x", "y"] * 3, "n": [1.0, 2.0] * 3})
    with pytest.raises(ek.EventKitError, match="max_lines"):
        charts.trend_lines(series, y="n", by="kind", max_lines=max_lines)
    events = pd.DataFrame({"occurred_at": TIMES, "event_type": ["a", "b", "a"]})
    with pytest.raises(ek.EventKitError, match="max_lines"):
        charts.event_rate(events, every="1D", max_lines=max_lines)
