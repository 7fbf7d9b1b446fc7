"""The generated bank domain: shape, determinism, causal order, bounded balances, late events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eventkit.common.errors import EventKitError, InvalidInput
from eventkit.sample import BANK_EVENT_TYPES, bank_events, split_late

ENVELOPE = ["stream_id", "stream_type", "event_type", "occurred_at"]
PAYLOAD = ["owner", "branch", "currency", "overdraft_limit", "amount", "channel", "reason"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return bank_events(accounts=1_500, days=365, seed=11, late_fraction=0.02)


@pytest.fixture(scope="module")
def ordered(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["stream_id", "occurred_at"], kind="stable").reset_index(drop=True)


def test_columns_and_types(frame):
    assert list(frame.columns) == ENVELOPE + PAYLOAD + ["_late"]
    assert str(frame["occurred_at"].dtype) == "datetime64[us, UTC]"
    for col in ["stream_id", "stream_type", "event_type", "owner", "branch", "currency",
                "channel", "reason"]:
        assert pd.api.types.infer_dtype(frame[col], skipna=True) == "string", col  # pandas 2 and 3
    assert frame["amount"].dtype == np.float64
    assert frame["overdraft_limit"].dtype == np.float64
    assert frame["_late"].dtype == bool
    assert set(frame["stream_type"]) == {"account"}
    assert set(frame["event_type"]) <= set(BANK_EVENT_TYPES)
    assert frame["stream_id"].nunique() == 1_500
    assert frame["stream_id"].str.fullmatch(r"acct-\d{5}").all()


def test_payload_fields_present_exactly_where_their_event_type_has_them(frame):
    for event_type, group in frame.groupby("event_type"):
        fields = BANK_EVENT_TYPES[event_type]
        for col in PAYLOAD:
            if col in fields:
                assert group[col].notna().all(), (event_type, col)
            else:
                assert group[col].isna().all(), (event_type, col)


def test_amounts_are_positive_whole_cents(frame):
    amounts = frame["amount"].dropna()
    assert (amounts > 0).all()
    assert np.allclose(amounts * 100, np.round(amounts * 100))


def test_same_seed_same_frame_other_seed_other_frame():
    a = bank_events(accounts=300, seed=5)
    pd.testing.assert_frame_equal(a, bank_events(accounts=300, seed=5))
    assert not a.equals(bank_events(accounts=300, seed=6))


def test_frame_is_in_time_order(frame):
    assert frame["occurred_at"].is_monotonic_increasing


def test_per_stream_causal_order(ordered):
    g = ordered.groupby("stream_id", sort=False)
    assert (g["event_type"].transform("first") == "Opened").all()
    assert (ordered["event_type"] == "Opened").sum() == ordered["stream_id"].nunique()
    # occurred_at strictly increasing within a stream: the sort order is unambiguous.
    same = ordered["stream_id"].eq(ordered["stream_id"].shift())
    assert (ordered["occurred_at"].diff()[same] > pd.Timedelta(0)).all()
    closed = ordered[ordered["event_type"] == "Closed"]
    last = g.tail(1)
    assert set(closed["stream_id"]) <= set(last[last["event_type"] == "Closed"]["stream_id"])


def _balances(ordered: pd.DataFrame) -> pd.Series:
    sign = np.select(
        [ordered["event_type"].isin(["Deposited", "InterestPaid"]),
         ordered["event_type"].isin(["Withdrawn", "FeeCharged"])], [1.0, -1.0], 0.0)
    delta = pd.Series(sign * ordered["amount"].fillna(0).to_numpy(), index=ordered.index)
    return delta.groupby(ordered["stream_id"]).cumsum().round(2)


def test_balances_never_below_the_overdraft_limit(ordered):
    limit = ordered.groupby("stream_id")["overdraft_limit"].transform("first")
    balance = _balances(ordered)
    assert (balance + limit >= -1e-6).all()
    assert (balance >= 0).mean() > 0.9  # mostly non-negative


def test_closed_accounts_are_settled_to_zero(ordered):
    balance = _balances(ordered)
    at_close = balance[ordered["event_type"] == "Closed"]
    assert len(at_close) > 0
    assert (at_close.abs() < 1e-6).all()


def test_no_money_moves_while_frozen(ordered):
    for _, events in ordered[ordered["stream_id"].isin(
            ordered.loc[ordered["event_type"] == "Frozen", "stream_id"])].groupby("stream_id"):
        state = events["event_type"].replace(
            {"Frozen": 1, "Unfrozen": 0}).where(events["event_type"].isin(["Frozen", "Unfrozen"]))
        frozen = state.astype("float").ffill().fillna(0).astype(bool)
        moved = events["event_type"].isin(["Deposited", "Withdrawn", "FeeCharged"])
        assert not (frozen & moved).any()


def test_activity_differs_between_accounts(frame):
    counts = frame.groupby("stream_id").size()
    assert counts.max() > 10 * counts.median()
    assert (counts <= 3).sum() > 0  # some dormant or new accounts
    opened = frame.loc[frame["event_type"] == "Opened", "occurred_at"]
    assert opened.dt.month.nunique() >= 10


def test_size_scales_with_events_per_account():
    small = bank_events(accounts=400, events_per_account=10, seed=1)
    large = bank_events(accounts=400, events_per_account=100, seed=1)
    assert 5 < len(large) / len(small) < 12
    money = large["event_type"].isin(["Deposited", "Withdrawn", "FeeCharged"]).sum()
    assert 0.8 * 400 * 100 < money < 1.1 * 400 * 100


def test_split_late(frame):
    on_time, late = split_late(frame)
    assert "_late" not in on_time.columns and "_late" not in late.columns
    assert len(on_time) + len(late) == len(frame)
    assert len(late) == round(0.02 * len(frame))
    assert set(late["event_type"]) <= {"Deposited", "Withdrawn", "FeeCharged", "InterestPaid"}
    closed = set(frame.loc[frame["event_type"] == "Closed", "stream_id"])
    assert not closed & set(late["stream_id"])
    # A late event happened in the past: after its stream was opened, before the last on-time event.
    opened = on_time[on_time["event_type"] == "Opened"].set_index("stream_id")["occurred_at"]
    assert (late["occurred_at"].to_numpy() > opened.reindex(late["stream_id"]).to_numpy()).all()
    assert late["occurred_at"].max() < on_time["occurred_at"].max()


def test_no_late_events_when_fraction_is_zero():
    _, late = split_late(bank_events(accounts=100, late_fraction=0.0))
    assert late.empty


def test_start_and_days():
    frame = bank_events(accounts=200, days=30, start="2024-06-01")
    assert frame["occurred_at"].min() >= pd.Timestamp("2024-06-01", tz="UTC")
    assert frame["occurred_at"].max() < pd.Timestamp("2024-07-01 01:00", tz="UTC")


@pytest.mark.parametrize("kwargs", [
    {"accounts": 0}, {"days": 1}, {"late_fraction": 1.0}, {"late_fraction": -0.1},
    {"events_per_account": -1}, {"start": "not a date"},
])
def test_bad_arguments(kwargs):
    with pytest.raises(InvalidInput) as info:
        bank_events(**kwargs)
    assert isinstance(info.value, EventKitError)


def test_split_late_needs_the_late_column(frame):
    with pytest.raises(InvalidInput, match="_late"):
        split_late(frame.drop(columns="_late"))
