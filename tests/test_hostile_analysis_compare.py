"""Hostile analysis inputs: comparing a what-if scenario with its baseline (``Scenario.compare``)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

import eventkit as ek
from eventkit.analysis.compare import state_diff

UTC = dt.timezone.utc


def test_integer_fields_compare_exactly_not_within_a_float_tolerance():
    # Counts and integer amounts (cents) differ when they differ: a balance of 10**10 cents that
    # moved by 5 cents, or a count past 2**53 that moved by one, was reported as unchanged
    # (compared as floats within 1e-9 relative).
    base = pd.DataFrame({"stream_id": ["a", "b", "c"], "cents": [10**10, 2**62, 7]})
    scen = base.assign(cents=[10**10 + 5, 2**62 + 1, 7])
    got = state_diff(base, scen)
    assert got.stream_id.tolist() == ["a", "b"]
    assert got.cents_diff.tolist() == [5, 1]


def test_scenario_compare_reports_a_small_change_to_a_large_integer_balance(tmp_path):
    store = ek.open_store(tmp_path / "store")
    at = dt.datetime(2025, 1, 1, tzinfo=UTC)
    store.append("acct-1", [ek.Event("Deposited", {"cents": 10**10}, occurred_at=at),
                            ek.Event("FeeCharged", {"cents": 3}, occurred_at=at)], stream_type="account")
    fold = ek.Fold("account", stream_type="account", fields={
        "cents": ek.sum("cents", event_types=["Deposited"]) - ek.sum("cents", event_types=["FeeCharged"])})
    got = ek.Scenario(store, name="no fees").drop(event_types=["FeeCharged"]).compare(fold)
    assert got.stream_id.tolist() == ["acct-1"]
    assert got.cents_diff.tolist() == [3]
    store.close()


def test_floats_still_compare_within_a_relative_tolerance():
    base = pd.DataFrame({"stream_id": ["a"], "x": [0.1 + 0.2]})
    assert state_diff(base, base.assign(x=[0.3])).empty


def test_a_stream_on_one_side_only_has_the_diff_of_its_sums_and_counts(tmp_path):
    # compare(...).balance_diff.sum() is the natural "total effect": a hypothetical stream (or a
    # dropped one) had NaN there, so the sum left it out (adding a 5 deposit showed an effect of 0).
    store = ek.open_store(tmp_path / "store")
    at = dt.datetime(2025, 1, 1, tzinfo=UTC)
    store.append("a", [ek.Event("Dep", {"amount": 1}, occurred_at=at)], stream_type="acct")
    store.append("b", [ek.Event("Dep", {"amount": 2}, occurred_at=at)], stream_type="acct")
    fold = ek.Fold("acct", stream_type="acct", fields={
        "bal": ek.sum("amount"), "n": ek.count(), "top": ek.max("amount"), "plus": ek.sum("amount") + 100})
    added = pd.DataFrame({"stream_id": ["c"], "stream_type": ["acct"], "event_type": ["Dep"], "amount": [5],
                          "occurred_at": [pd.Timestamp("2025-01-02", tz="UTC")]})
    got = ek.Scenario(store).add(added).drop(streams=["a"]).compare(fold).set_index("stream_id")
    assert got.bal_diff.to_dict() == {"a": -1, "c": 5}
    assert got.n_diff.to_dict() == {"a": -1, "c": 1}
    assert got.bal_diff.sum() == 4
    assert got.top_diff.isna().all()    # a max has no value for a stream that is not there
    assert got.plus_diff.isna().all()   # nor has a sum plus a constant
    store.close()
