"""Snapshot series: grid rules, inclusive bounds, backdated events, cross-stream aggregates."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import eventkit._reducers as r
from eventkit._errors import InvalidFold
from eventkit._fold import Fold
from eventkit._snapshots import aggregate, parse_every

from _foldhelpers import FrameStore, frame_to_dict, make_events, ts
from test_fold import LEDGER, LEDGER_FOLD, LedgerPyFull


@pytest.fixture
def store():
    return FrameStore(make_events(LEDGER), {"amount": "BIGINT"})


@pytest.mark.parametrize("fold", [LEDGER_FOLD, LedgerPyFull()], ids=["declarative", "python"])
@pytest.mark.parametrize("every", ["1D", "12h", "2D", "1W", "1MS", dt.timedelta(hours=36), 2])
def test_each_row_is_state_as_of_its_point(store, fold, every):
    snaps = fold.snapshots(store, every=every, dense=True)
    assert list(snaps.columns[:2]) == ["at", "stream_id"]
    assert snaps["at"].is_monotonic_increasing
    for at, group in snaps.groupby("at"):
        cut = {"known_at": int(at)} if isinstance(every, int) else {"as_of": at}
        want = frame_to_dict(LEDGER_FOLD.state(store, **cut))
        assert frame_to_dict(group.drop(columns="at")) == want


def test_daily_points_inclusive_and_backdated(store):
    s = LEDGER_FOLD.snapshots(store, every="1D", start="2024-01-01", end="2024-01-09", dense=True)
    bal = s[s.stream_id == "acct-1"].set_index("at")["balance"]
    # 01-02 00:00 includes the deposit at exactly 01-02 00:00 and its backdated correction.
    assert bal[ts("2024-01-02")] == 80 and bal[ts("2024-01-03")] == 130
    assert bal[ts("2024-01-05")] == 100 and bal[ts("2024-01-09")] == 100
    assert s["at"].min() == ts("2024-01-01") and s["at"].max() == ts("2024-01-09")
    # acct-2 exists from 01-04 on, and is filled forward to the end.
    assert s[s.stream_id == "acct-2"]["at"].tolist() == list(pd.date_range("2024-01-04", "2024-01-09", tz="UTC"))


def test_known_at_and_streams_and_sparse(store):
    before = LEDGER_FOLD.snapshots(store, every="1D", known_at="2024-01-09", streams="acct-1", dense=True)
    assert set(before.stream_id) == {"acct-1"}
    assert before.set_index("at")["balance"][ts("2024-01-05")] == 70  # the late deposit not yet known
    sparse = LEDGER_FOLD.snapshots(store, every="1D", dense=False)
    assert len(sparse) < len(LEDGER_FOLD.snapshots(store, every="1D", dense=True))
    assert sparse.equals(LEDGER_FOLD.snapshots(store, every="1D"))  # changes are the default


def test_events_before_start_fold_into_first_point(store):
    s = LEDGER_FOLD.snapshots(store, every="1D", start="2024-01-04", end="2024-01-04")
    assert frame_to_dict(s.drop(columns="at")) == frame_to_dict(LEDGER_FOLD.state(store, as_of="2024-01-04"))


def test_aggregate_per_point(store):
    s = LEDGER_FOLD.snapshots(store, every="1D", start="2024-01-04", end="2024-01-08")
    total = aggregate(s, values={"total": ("balance", "sum"), "n": ("stream_id", "count")})
    assert total["total"].tolist() == [130, 100, 100, 100, 100] and total["n"].tolist() == [2] * 5
    by_type = aggregate(s, by="last_type")
    last = by_type[by_type["at"] == ts("2024-01-08")]
    assert dict(zip(last["last_type"], last["streams"])) == {"Closed": 1, "DepositCorrected": 1}
    with pytest.raises(InvalidFold, match="nope"):
        aggregate(s, values={"x": ("nope", "sum")})
    with pytest.raises(InvalidFold, match="unknown function"):
        aggregate(s, values={"x": ("balance", "stddev_typo")})


@pytest.mark.parametrize("every", ["1X", "D1", "0D", 0, -3, True, 1.5, "1M"])
def test_bad_every(every):
    with pytest.raises(InvalidFold, match="every"):
        parse_every(every)


def test_bad_grid_args(store):
    with pytest.raises(InvalidFold, match="month start"):
        LEDGER_FOLD.snapshots(store, every="1MS", start="2024-01-15")
    with pytest.raises(InvalidFold, match="positions"):
        LEDGER_FOLD.snapshots(store, every=10, start="2024-01-01")
    with pytest.raises(InvalidFold, match="start"):
        LEDGER_FOLD.snapshots(store, every="1D", start="soon")
    with pytest.raises(InvalidFold, match="amout"):
        Fold("x", fields={"a": r.sum("amout")}).snapshots(store, every="1D")
