"""Hostile analysis inputs: odd arguments to the series helpers get an EventKitError naming them."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import eventkit as ek
from eventkit import trends

SERIES = pd.DataFrame({"as_of": pd.date_range("2025-01-01", periods=3, tz="UTC"), "stream_id": "a",
                       "balance": [1.0, 2.0, 3.0]})


@pytest.mark.parametrize("window", [0, -1, True, 2.5])
def test_a_rolling_window_of_no_rows_is_refused(window):
    # 0 gave every field NaN without a word; -1 was pandas' ValueError.
    with pytest.raises(ek.EventKitError, match="window"):
        trends.rolling(SERIES, window)


def test_a_rolling_window_of_rows_or_a_span_still_works():
    assert trends.rolling(SERIES, 2)["balance"].tolist()[1:] == [1.5, 2.5]
    assert trends.rolling(SERIES, "2D")["balance"].tolist() == [1.0, 1.5, 2.5]


@pytest.mark.parametrize("max_rows", ["5", -1, 2.5])
def test_max_rows_that_is_not_a_count_is_refused(tmp_path, max_rows):
    # "5" was a TypeError ('<=' between int and str); -1 refused every series as too large.
    with ek.open_store(tmp_path / "s") as store:
        store.append("a", [ek.Event("Dep", {"amount": 1}, occurred_at=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc))],
                     stream_type="acct")
        fold = ek.Fold("acct", stream_type="acct", fields={"bal": ek.sum("amount")})
        with pytest.raises(ek.InvalidFold, match="max_rows"):
            fold.snapshots(store, every="1D", start="2025-01-01", end="2025-01-02", max_rows=max_rows)


@pytest.mark.parametrize("kw", [{"n": -1}, {"n": 1.5}, {"direction": "sideways"}])
def test_top_movers_refuses_a_negative_count_or_unknown_direction(kw):
    # n=-1 silently dropped the last mover (pandas head(-1)); an unknown direction was a KeyError.
    series = pd.DataFrame({"as_of": pd.to_datetime(["2025-01-01", "2025-02-01"] * 2, utc=True),
                           "stream_id": ["a", "a", "b", "b"], "balance": [10.0, 11.0, 5.0, 1.0]})
    with pytest.raises(ek.EventKitError, match="n=|direction"):
        trends.top_movers(series, "balance", "2025-01-01", "2025-02-01", **kw)
