"""Trend helpers, checked against small hand-computed examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eventkit.common.errors import EventKitError, InvalidInput
from eventkit.trends import aggregate, change, resample, rolling, top_movers


def ts(*values: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), utc=True))


@pytest.fixture
def changes() -> pd.DataFrame:
    """A series of changes: a row only when a stream's state changed."""
    return pd.DataFrame({
        "as_of": ts("2025-01-01 09:00", "2025-01-01 18:00", "2025-01-03 10:00",
                 "2025-01-02 12:00", "2025-01-04 08:00"),
        "stream_id": ["a", "a", "a", "b", "b"],
        "balance": [10.0, 12.0, 7.0, 100.0, 50.0],
        "status": ["open", "open", "frozen", "open", "open"],
    })


@pytest.fixture
def daily() -> pd.DataFrame:
    """A dense daily snapshot series: 2 streams x 4 days, with a category."""
    at = pd.date_range("2025-01-01", periods=4, freq="D", tz="UTC")
    return pd.DataFrame({
        "as_of": np.tile(at, 2),
        "stream_id": ["a"] * 4 + ["b"] * 4,
        "currency": ["USD"] * 4 + ["EUR"] * 4,
        "balance": [10.0, 20.0, 30.0, 40.0, 100.0, 90.0, 0.0, 60.0],
        "deposits": [1, 2, 2, 3, 5, 5, 5, 6],
    })


def test_resample_last_per_day(changes):
    out = resample(changes, "1D")
    assert list(out.columns) == ["as_of", "stream_id", "balance"]
    assert out["as_of"].tolist() == ts("2025-01-01", "2025-01-03", "2025-01-02", "2025-01-04").tolist()
    assert out["balance"].tolist() == [12.0, 7.0, 100.0, 50.0]


def test_resample_fill_makes_a_dense_series(changes):
    out = resample(changes, "1D", fill=True, fields=["balance", "status"])
    a = out[out["stream_id"] == "a"]
    b = out[out["stream_id"] == "b"]
    assert a["balance"].tolist() == [12.0, 12.0, 7.0, 7.0]
    assert a["status"].tolist() == ["open", "open", "frozen", "frozen"]
    assert b["as_of"].tolist() == ts("2025-01-02", "2025-01-03", "2025-01-04").tolist()
    assert b["balance"].tolist() == [100.0, 100.0, 50.0]


@pytest.mark.parametrize("how, expected", [
    ("sum", [22.0, 7.0]), ("mean", [11.0, 7.0]), ("first", [10.0, 7.0]),
    ("max", [12.0, 7.0]), ("count", [2, 1]),
])
def test_resample_how(changes, how, expected):
    out = resample(changes[changes["stream_id"] == "a"], "1D", how=how)
    assert out["balance"].tolist() == expected


def test_resample_calendar_month_without_groups(daily):
    out = resample(daily, "MS", how="sum", by=None, fields=["balance"])
    assert out["as_of"].tolist() == ts("2025-01-01").tolist()
    assert out["balance"].tolist() == [350.0]


def test_resample_keeps_naive_times():
    s = pd.DataFrame({"as_of": pd.to_datetime(["2025-01-01 10:00", "2025-01-02 10:00"]),
                      "v": [1.0, 2.0]})
    out = resample(s, "1D")
    assert out["as_of"].dt.tz is None and out["v"].tolist() == [1.0, 2.0]


def test_aggregate_by_category(daily):
    out = aggregate(daily, by="currency", fields=["balance"])
    usd = out[out["currency"] == "USD"]
    assert usd["balance"].tolist() == [10.0, 20.0, 30.0, 40.0]
    assert out["streams"].unique().tolist() == [1]
    total = aggregate(daily)
    assert list(total.columns) == ["as_of", "streams", "balance", "deposits"]
    assert total["balance"].tolist() == [110.0, 110.0, 30.0, 100.0]
    assert total["deposits"].tolist() == [6, 7, 7, 9]


def test_aggregate_several_hows(daily):
    out = aggregate(daily, how=["sum", "mean", "count"], fields=["balance"])
    assert list(out.columns) == ["as_of", "streams", "balance_sum", "balance_mean", "balance_count"]
    assert out["balance_mean"].tolist() == [55.0, 55.0, 15.0, 50.0]
    assert out["balance_count"].tolist() == [2, 2, 2, 2]


def test_rolling_rows_and_time(daily):
    rows = rolling(daily, 2, fields=["balance"])
    assert rows["balance"].tolist()[:4] == pytest.approx([np.nan, 15.0, 25.0, 35.0], nan_ok=True)
    assert rows["balance"].tolist()[4:] == pytest.approx([np.nan, 95.0, 45.0, 30.0], nan_ok=True)
    span = rolling(daily, "3D", how="sum", fields=["balance"])
    assert span["balance"].tolist() == [10.0, 30.0, 60.0, 90.0, 100.0, 190.0, 190.0, 150.0]
    assert len(span) == len(daily) and list(span.columns) == list(daily.columns)


def test_change_absolute_and_percent(daily):
    out = change(daily, fields=["balance"])
    assert out["balance_change"].tolist() == pytest.approx(
        [np.nan, 10.0, 10.0, 10.0, np.nan, -10.0, -90.0, 60.0], nan_ok=True)
    # 0 -> 60 has no percent; 90 -> 0 is -100 %.
    assert out["balance_pct"].tolist() == pytest.approx(
        [np.nan, 100.0, 50.0, 100 / 3, np.nan, -10.0, -100.0, np.nan], nan_ok=True)


def test_change_over_two_periods_and_no_groups(daily):
    out = change(daily[daily["stream_id"] == "a"], periods=2, by=None, fields="balance")
    assert out["balance_change"].tolist() == pytest.approx([np.nan, np.nan, 20.0, 20.0],
                                                           nan_ok=True)


def test_top_movers(changes):
    out = top_movers(changes, "balance", "2025-01-02", "2025-01-05")
    assert list(out.columns) == ["stream_id", "start", "end", "change", "pct"]
    # a: 12 -> 7 (-5); b: not yet there at the start, so left out.
    assert out.values.tolist() == [["a", 12.0, 7.0, -5.0, pytest.approx(-500 / 12)]]
    filled = top_movers(changes, "balance", "2025-01-02", "2025-01-05", fill_value=0.0)
    assert filled["stream_id"].tolist() == ["b", "a"]
    assert filled["change"].tolist() == [50.0, -5.0]
    up = top_movers(changes, "balance", "2025-01-02", "2025-01-05", fill_value=0.0,
                    direction="up")
    down = top_movers(changes, "balance", "2025-01-02", "2025-01-05", fill_value=0.0,
                      direction="down")
    assert up["stream_id"].tolist() == ["b"] and down["stream_id"].tolist() == ["a"]


def test_top_movers_n_and_naive_instants(daily):
    out = top_movers(daily, "balance", pd.Timestamp("2025-01-01"), "2025-01-04", n=1)
    assert out["stream_id"].tolist() == ["b"] and out["change"].tolist() == [-40.0]


def test_inputs_are_left_unchanged(daily):
    before = daily.copy()
    resample(daily, "2D", fill=True)
    aggregate(daily, by="currency")
    rolling(daily, 2)
    change(daily)
    pd.testing.assert_frame_equal(daily, before)


@pytest.mark.parametrize("call", [
    lambda s: resample(s, "1D", fields=["balanse"]),
    lambda s: aggregate(s, by="curency"),
    lambda s: rolling(s, 2, time="when"),
    lambda s: change(s, by="acct"),
    lambda s: top_movers(s, "balanse", "2025-01-01", "2025-01-02"),
])
def test_missing_column_names_it_and_lists_the_available_ones(daily, call):
    with pytest.raises(InvalidInput) as info:
        call(daily)
    assert isinstance(info.value, EventKitError)
    assert info.value.column in str(info.value)
    assert "available columns" in str(info.value) and "'balance'" in str(info.value)


@pytest.mark.parametrize("call, match", [
    (lambda s: resample(s, "fortnight"), "frequency"),
    (lambda s: resample(s, "1D", how="avg"), "avg"),
    (lambda s: aggregate(s, fields=["currency"]), "not numeric"),
    (lambda s: rolling(s, 2, how="mode"), "mode"),
    (lambda s: top_movers(s, "balance", "2025-02-01", "2025-01-01"), "before"),
    (lambda s: resample(s.assign(as_of=s["as_of"].astype(str)), "1D"), "timestamps"),
])
def test_bad_options(daily, call, match):
    with pytest.raises(InvalidInput, match=match):
        call(daily)


def test_weeks_are_iso_weeks_labelled_by_their_monday():
    """Regression (issue 8): weeks were labelled by Sunday here and by Monday in snapshots."""
    s = pd.DataFrame({"as_of": ts("2025-01-05 12:00", "2025-01-06 00:00", "2025-01-12 23:00"),
                      "stream_id": "a", "v": [1.0, 2.0, 3.0]})
    out = resample(s, "1W", how="sum", by=None)
    assert out["as_of"].dt.strftime("%a %Y-%m-%d").tolist() == ["Mon 2024-12-30", "Mon 2025-01-06"]
    assert out["v"].tolist() == [1.0, 5.0]


def test_resample_in_a_time_zone_uses_local_days():
    s = pd.DataFrame({"as_of": ts("2025-03-29 23:30", "2025-03-30 12:00"), "v": [1.0, 2.0]})
    utc = resample(s, "1D", how="sum", by=None)
    local = resample(s, "1D", how="sum", by=None, tz="Europe/Zurich")
    assert utc["v"].tolist() == [1.0, 2.0] and local["v"].tolist() == [3.0]  # 00:30 local on the 30th
    assert str(local["as_of"].dt.tz) == "Europe/Zurich"


def test_a_change_log_is_refused_with_a_hint_and_can_be_made_dense():
    from eventkit.fold.declarative import Fold
    import eventkit.fold.reducers as r
    from _foldhelpers import FrameStore, make_events

    store = FrameStore(make_events([
        dict(stream_id="a", event_type="Deposited", occurred_at="2025-01-01 10:00", amount=1),
        dict(stream_id="b", event_type="Deposited", occurred_at="2025-01-02 10:00", amount=2),
        dict(stream_id="a", event_type="Deposited", occurred_at="2025-01-04 10:00", amount=4)]), {"amount": "BIGINT"})
    fold = Fold("f", fields={"total": r.sum("amount")})
    changes = fold.changes(store, every="1D")
    for call in (lambda: aggregate(changes), lambda: change(changes), lambda: rolling(changes, 2)):
        with pytest.raises(InvalidInput, match="change log"):
            call()
    dense = resample(changes, "1D", time="changed_at", fill=True, fields=["total"])
    want = fold.snapshots(store, every="1D")[["as_of", "stream_id", "total"]]
    pd.testing.assert_frame_equal(dense.sort_values(["as_of", "stream_id"]).reset_index(drop=True), want,
                                  check_dtype=False)
