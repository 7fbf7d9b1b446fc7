"""Hostile analysis inputs: a what-if scenario in which no stream exists (every event dropped)."""

from __future__ import annotations

import pandas as pd

from eventkit.analysis import charts
from eventkit.report.headline import _effect

TIMES = pd.date_range("2025-01-06", periods=2, freq="W-MON", tz="UTC")
ONLY_BASELINE = pd.DataFrame({"scenario": "baseline", "as_of": TIMES, "streams": [2, 3], "balance": [10.0, 25.0],
                              "complete": True})


def test_the_effect_of_a_scenario_with_no_streams_is_minus_the_baseline():
    # Its overlay table has only baseline rows; the headline took the baseline for the scenario
    # and showed 'baseline − baseline: 0.00'.
    got = _effect({"scenario": "nothing", "y": "balance"}, ONLY_BASELINE, "UTC")
    assert got.value == "−25"  # a minus sign
    assert "nothing − baseline" in got.note and "25 → 0" in got.note


def test_its_overlay_draws_the_scenario_at_zero():
    fig = charts.overlay(ONLY_BASELINE, ONLY_BASELINE.iloc[:0], y="balance")
    ys = [list(line.get_ydata()) for line in fig.axes[1].lines if len(line.get_ydata()) == 2]
    assert ys[0] == [-10.0, -25.0]
