"""Snapshot series: the dense default, the change log, fold totals, the row budget, time zones.

Every series test runs against the in-memory double and the real store in each storage mode
(hot log, bulk segments, sealed, compacted), filled by several appends.
"""

from __future__ import annotations

import datetime as dt
import warnings

import pandas as pd
import pytest

import eventkit as ek
import eventkit.fold.reducers as r
from eventkit.common.errors import InvalidFold, InvalidInput, SeriesTooLarge
from eventkit.fold.declarative import Fold
from eventkit.fold.grid import parse_every

from _foldhelpers import frame_to_dict, make_events, ts
from _series_stores import MODES, position_cut, store_of
from test_fold import LEDGER, LEDGER_FOLD, LedgerPyFull

LEDGER_DF = make_events(LEDGER)


@pytest.fixture(params=MODES)
def store(request, tmp_path):
    s = store_of(LEDGER_DF, request.param, tmp_path / "store", payload_types={"amount": "BIGINT"})
    yield s
    if hasattr(s, "close"):
        s.close()


@pytest.mark.parametrize("fold", [LEDGER_FOLD, LedgerPyFull()], ids=["declarative", "python"])
@pytest.mark.parametrize("every", ["1D", "12h", "2D", "1W", "1MS", dt.timedelta(hours=36), 2])
def test_each_row_is_state_as_of_its_point(store, fold, every):
    snaps = fold.snapshots(store, every=every)
    assert list(snaps.columns[:2]) == ["as_of", "stream_id"] and snaps.columns[-1] == "complete"
    assert snaps["as_of"].is_monotonic_increasing
    for at, group in snaps.groupby("as_of"):
        cut = {"known_at": int(at)} if isinstance(every, int) else {"as_of": at}
        want = frame_to_dict(LEDGER_FOLD.state(store, **cut))
        assert frame_to_dict(group.drop(columns=["as_of", "complete"])) == want


def test_dense_by_default_inclusive_and_backdated(store):
    s = LEDGER_FOLD.snapshots(store, every="1D", start="2024-01-01", end="2024-01-09")
    bal = s[s.stream_id == "acct-1"].set_index("as_of")["balance"]
    # 01-02 00:00 includes the deposit at exactly 01-02 00:00 and its backdated correction.
    assert bal[ts("2024-01-02")] == 80 and bal[ts("2024-01-03")] == 130
    assert bal[ts("2024-01-05")] == 100 and bal[ts("2024-01-09")] == 100
    assert s["as_of"].min() == ts("2024-01-01") and s["as_of"].max() == ts("2024-01-09")
    # acct-2 exists from 01-04 on, and is filled forward to the end: every stream at every point.
    assert s[s.stream_id == "acct-2"]["as_of"].tolist() == list(pd.date_range("2024-01-04", "2024-01-09", tz="UTC"))
    assert s["complete"].all()  # 2024 is long past


def test_what_an_analyst_types_on_the_default_series_is_right(store):
    """Regression (issue 8): summing the default output per point, or merging a lookup and then
    summing, gave wrong totals because the default was a series of changes."""
    s = LEDGER_FOLD.snapshots(store, every="1D", start="2024-01-01", end="2024-01-09")
    per_day = s.groupby("as_of")["balance"].sum()
    for at, total in per_day.items():
        assert total == LEDGER_FOLD.state(store, as_of=at)["balance"].sum()
    lookup = pd.DataFrame({"stream_id": ["acct-1", "acct-2"], "branch": ["north", "south"]})
    by_branch = s.merge(lookup, on="stream_id").groupby(["as_of", "branch"])["balance"].sum()
    assert by_branch[(ts("2024-01-09"), "north")] == 100 and by_branch[(ts("2024-01-09"), "south")] == 0
    assert s.as_of.max() == ts("2024-01-09")  # `s.at` shadowed DataFrame.at; `as_of` does not


def test_changes_is_a_change_log_that_totals_refuse(store):
    dense = LEDGER_FOLD.snapshots(store, every="1D")
    changes = LEDGER_FOLD.changes(store, every="1D")
    assert list(changes.columns[:2]) == ["changed_at", "stream_id"] and len(changes) < len(dense)
    keys = dense.rename(columns={"as_of": "changed_at"}).drop(columns="complete")
    assert len(changes.merge(keys, how="inner")) == len(changes)  # each change row is a dense row
    with pytest.raises(KeyError):
        changes.groupby("as_of")  # the series' code fails on the change log instead of lying
    with pytest.raises(InvalidInput, match="change log"):
        ek.aggregate(changes, values={"balance": ("balance", "sum")})
    merged = changes.merge(pd.DataFrame({"stream_id": ["acct-1"], "x": [1]}), on="stream_id")
    assert not merged.attrs  # pandas drops attrs on merge: the column name still refuses
    with pytest.raises(InvalidInput, match="change log"):
        ek.aggregate(merged, by="x")


def test_dense_flag_is_deprecated(store):
    with pytest.warns(DeprecationWarning, match="dense"):
        same = LEDGER_FOLD.snapshots(store, every="1D", dense=True)
    pd.testing.assert_frame_equal(same, LEDGER_FOLD.snapshots(store, every="1D"))
    with pytest.warns(DeprecationWarning, match="changes"):
        redirected = LEDGER_FOLD.snapshots(store, every="1D", dense=False)
    pd.testing.assert_frame_equal(redirected, LEDGER_FOLD.changes(store, every="1D"))


def test_known_at_and_streams(store):
    k = position_cut(LEDGER_DF, store, "2024-01-09")
    before = LEDGER_FOLD.snapshots(store, every="1D", known_at=k, streams="acct-1")
    assert set(before.stream_id) == {"acct-1"}
    assert before.set_index("as_of")["balance"][ts("2024-01-05")] == 70  # the late deposit not yet known


def test_events_before_start_fold_into_first_point(store):
    s = LEDGER_FOLD.snapshots(store, every="1D", start="2024-01-04", end="2024-01-04")
    want = frame_to_dict(LEDGER_FOLD.state(store, as_of="2024-01-04"))
    assert frame_to_dict(s.drop(columns=["as_of", "complete"])) == want


@pytest.mark.parametrize("values, by", [
    ({"balance": "sum", "n": ("stream_id", "count")}, None),
    ({"balance": "sum", "avg": ("balance", "mean"), "amounts": ("last_amount", "count")}, None),
    ({"last_amount": "sum"}, None),
    ({"balance": "sum"}, "last_type"),
    (None, "last_type"),
    ({"top": ("balance", "max"), "low": ("last_amount", "min"), "types": ("last_type", "count_distinct")}, None),
    ({"med": ("balance", "median")}, "last_type"),
])
def test_fold_aggregate_equals_grouping_the_dense_series(store, values, by):
    for kw in (dict(every="1D"), dict(every="1D", start="2024-01-03", end="2024-01-10"), dict(every=2)):
        got = LEDGER_FOLD.aggregate(store, values=values, by=by, **kw)
        want = ek.aggregate(LEDGER_FOLD.snapshots(store, **kw), by=by, values=values or {})
        assert list(got.columns) == list(want.columns)
        pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_aggregate_per_point_and_its_errors(store):
    s = LEDGER_FOLD.snapshots(store, every="1D", start="2024-01-04", end="2024-01-08")
    total = ek.aggregate(s, values={"total": ("balance", "sum"), "n": ("stream_id", "count")})
    assert total["total"].tolist() == [130, 100, 100, 100, 100] and total["n"].tolist() == [2] * 5
    by_type = ek.aggregate(s, by="last_type")
    last = by_type[by_type["as_of"] == ts("2024-01-08")]
    assert dict(zip(last["last_type"], last["streams"])) == {"Closed": 1, "DepositCorrected": 1}
    with pytest.raises(InvalidInput, match="nope"):
        ek.aggregate(s, values={"x": ("nope", "sum")})
    with pytest.raises(InvalidInput, match="unknown function"):
        ek.aggregate(s, values={"x": ("balance", "stddev_typo")})
    with pytest.raises(InvalidFold, match="not a field"):
        LEDGER_FOLD.aggregate(store, values={"x": ("nope", "sum")})
    with pytest.raises(InvalidFold, match="needs a number"):
        LEDGER_FOLD.aggregate(store, values={"last_type": "sum"})
    with pytest.raises(InvalidFold, match="by="):
        LEDGER_FOLD.aggregate(store, by="status")


def test_one_aggregate_function(store):
    from eventkit import trends
    from eventkit.report.config import AGG_FUNCTIONS

    assert ek.aggregate is trends.aggregate
    s = LEDGER_FOLD.snapshots(store, every="1D")
    for fn in AGG_FUNCTIONS:  # every function a report may name
        assert len(ek.aggregate(s, values={"x": ("balance", fn)})) == s["as_of"].nunique()


def test_too_large_a_series_is_refused_before_it_is_built(store):
    rows = len(LEDGER_FOLD.snapshots(store, every="1h"))
    assert len(LEDGER_FOLD.snapshots(store, every="1h", max_rows=rows)) == rows
    with pytest.raises(SeriesTooLarge) as info:
        LEDGER_FOLD.snapshots(store, every="1h", max_rows=rows - 1)
    err = info.value
    assert isinstance(err, ek.EventKitError) and err.rows == rows and err.streams == 2
    for hint in (f"{rows:,} rows", "2 streams", "fold.aggregate", "streams=", "every=", "max_rows=None"):
        assert hint in str(err)
    with pytest.raises(SeriesTooLarge):
        LedgerPyFull().snapshots(store, every="1h", max_rows=rows - 1, workers=1)
    # The totals need no series at all.
    assert len(LEDGER_FOLD.aggregate(store, every="1h", values={"balance": "sum"})) > 0


def test_default_budget_refuses_a_year_of_minutes_for_many_streams(tmp_path):
    """A dense series of 2,000 streams x a year of minutes (1 billion rows) never starts."""
    rows = [dict(stream_id=f"s{i}", event_type="Opened", occurred_at="2024-01-01T00:00:01", amount=1)
            for i in range(2000)] + [dict(stream_id="s0", event_type="Closed", occurred_at="2024-12-31", amount=1)]
    st = store_of(make_events(rows), "segments", tmp_path / "big", appends=1)
    with pytest.raises(SeriesTooLarge, match="2,000 streams"):
        LEDGER_FOLD.snapshots(st, every="1min")


# -- time zones and the last, partial period -----------------------------------------------------

ZURICH = [
    dict(stream_id="a", event_type="Deposited", occurred_at="2024-03-29T22:30:00", amount=1),  # 23:30 local
    dict(stream_id="a", event_type="Deposited", occurred_at="2024-03-30T23:30:00", amount=10),  # 31st 01:30 local
    dict(stream_id="b", event_type="Deposited", occurred_at="2024-03-31T12:00:00", amount=100),
    dict(stream_id="b", event_type="Deposited", occurred_at="2024-04-01T21:59:59", amount=1000),  # 23:59:59 local
]
SUM = Fold("sum", fields={"total": r.sum("amount")})


@pytest.mark.parametrize("mode", MODES)
def test_local_days_in_a_time_zone(mode, tmp_path):
    st = store_of(make_events(ZURICH), mode, tmp_path / "z", payload_types={"amount": "BIGINT"})
    s = SUM.snapshots(st, every="1D", tz="Europe/Zurich", start="2024-03-30")
    assert str(s["as_of"].dt.tz) == "Europe/Zurich"
    points = sorted(set(s["as_of"]))
    assert [p.strftime("%m-%d %H:%M") for p in points] == ["03-30 00:00", "03-31 00:00", "04-01 00:00", "04-02 00:00"]
    assert points[2] - points[1] == pd.Timedelta(hours=23)  # the day summer time starts
    totals = s.groupby("as_of")["total"].sum().tolist()
    assert totals == [1, 1, 111, 1111]  # by local midnights, not UTC ones
    agg = SUM.aggregate(st, every="1D", tz="Europe/Zurich", start="2024-03-30", values={"total": "sum"})
    assert agg["total"].tolist() == totals and agg["as_of"].tolist() == points
    utc = SUM.snapshots(st, every="1D", start="2024-03-30").groupby("as_of")["total"].sum().tolist()
    assert utc != totals
    weekly = SUM.snapshots(st, every="1W", tz="Europe/Zurich")
    assert {p.strftime("%a %H:%M") for p in weekly["as_of"]} == {"Mon 00:00"}
    monthly = SUM.changes(st, every="1MS", tz="Europe/Zurich")
    assert [p.strftime("%m-%d %H:%M %Z") for p in monthly["changed_at"]] == ["04-01 00:00 CEST"] * 2 + ["05-01 00:00 CEST"]


def test_bad_time_zone():
    with pytest.raises(InvalidFold, match="time zone"):
        SUM.snapshots(None, every="1D", tz="Mars/Olympus")


def test_the_last_partial_period_is_marked(tmp_path):
    now = pd.Timestamp.now(tz="UTC")
    # The newest event falls in today's period, however soon after midnight the test runs ("an hour
    # ago" put it in yesterday's, now complete, for the first hour of every UTC day).
    today = now.floor("D") + (now - now.floor("D")) / 2
    rows = [dict(stream_id="a", event_type="Deposited", occurred_at=str(now - pd.Timedelta(days=3)), amount=1),
            dict(stream_id="a", event_type="Deposited", occurred_at=str(today), amount=2)]
    st = store_of(make_events(rows), "hot", tmp_path / "live")
    s = SUM.snapshots(st, every="1D")
    assert s["complete"].tolist() == [True] * (len(s) - 1) + [False]  # tomorrow's midnight
    agg = SUM.aggregate(st, every="1D", values={"total": "sum"})
    assert agg["complete"].tolist() == s["complete"].tolist()
    assert ek.aggregate(s, values={"total": ("total", "sum")})["complete"].tolist() == s["complete"].tolist()


# -- argument checks ------------------------------------------------------------------------------

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


@pytest.mark.parametrize("name", ["as_of", "changed_at", "complete"])
def test_output_column_names_are_reserved(name):
    with pytest.raises(InvalidFold, match="reserved"):
        Fold("x", fields={name: r.count()})


def test_no_warning_on_the_plain_calls(store):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LEDGER_FOLD.snapshots(store, every="1D")
        LEDGER_FOLD.changes(store, every="1D")


@pytest.mark.parametrize("every", ["1D", "1W", "1MS", "6h"])
def test_python_fold_series_in_a_time_zone_equals_the_declarative_one(every):
    store = store_of(LEDGER_DF, "frame", None, payload_types={"amount": "BIGINT"})
    a = LEDGER_FOLD.snapshots(store, every=every, tz="Europe/Zurich")
    b = LedgerPyFull().snapshots(store, every=every, tz="Europe/Zurich", workers=1)
    assert str(a["as_of"].dt.tz) == "Europe/Zurich"
    pd.testing.assert_frame_equal(a, b[list(a.columns)], check_dtype=False)
