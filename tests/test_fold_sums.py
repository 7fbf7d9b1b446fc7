"""Sums of amounts with cents fold as the analyst expects: a fold's ``sum`` of a float field is the
float nearest to the true sum of the values (``math.fsum``), also when sums are added and
subtracted (a balance), not a running total's accumulated rounding (``3160.1600000000003``).
Series (snapshots, aggregates) add up each period's exact sum: one rounding per period.

Why ``math.fsum`` and not a Decimal sum of the cents: the amounts are stored as floats, and
``0.01`` as a float is not exactly 0.01, so the exact sum of the stored floats can differ from the
Decimal sum of the cents in the last digit (``0.01 + 0.05`` is 0.060000000000000005 exactly
summed); with cancellation (``5000.10 - 4999.99``) by more. Only amounts stored as DECIMAL would
make the cents exact; for floats the exact sum is the honest answer and the one fixed here.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventkit as ek

from _budget import budget

T0 = pd.Timestamp("2025-01-01", tz="UTC")
BALANCE = ek.Fold("account", fields={
    "balance": ek.sum("amount", event_types=["Deposited", "InterestPaid"])
    - ek.sum("amount", event_types=["Withdrawn", "FeeCharged"]),
    "deposited": ek.sum("amount", event_types="Deposited"),
    "fees": -ek.sum("amount", event_types="FeeCharged"),
    "events": ek.count(),
})
SIGN = {"Deposited": 1, "InterestPaid": 1, "Withdrawn": -1, "FeeCharged": -1}


def store_of(tmp: "Path", history: dict[str, list[tuple[str, int]]]) -> ek.Store:  # noqa: F821
    rows = [{"stream_id": sid, "stream_type": "account", "event_type": kind, "amount": cents / 100,
             "occurred_at": T0 + pd.Timedelta(hours=i)}
            for sid, events in history.items() for i, (kind, cents) in enumerate(events)]
    store = ek.open_store(tmp)
    store.append_frame(pd.DataFrame(rows))
    return store


histories = st.dictionaries(
    st.sampled_from([f"acct-{i}" for i in range(6)]),
    st.lists(st.tuples(st.sampled_from(sorted(SIGN)), st.integers(1, 999_999)), min_size=1, max_size=60),
    min_size=1, max_size=6)


@settings(max_examples=budget(25))
@given(history=histories)
def test_fold_sums_are_the_exact_sum_of_the_amounts(tmp_path_factory, history):
    with store_of(tmp_path_factory.mktemp("sums") / "s", history) as store:
        state = BALANCE.state(store).set_index("stream_id")
        for sid, events in history.items():
            signed = [SIGN[k] * c / 100 for k, c in events]
            deposits = [c / 100 for k, c in events if k == "Deposited"]
            fees = [c / 100 for k, c in events if k == "FeeCharged"]
            row = state.loc[sid]
            assert row["balance"] == math.fsum(signed), (sid, events)
            assert row["deposited"] == math.fsum(deposits)
            assert row["fees"] == -math.fsum(fees)


def test_a_balance_with_cents_prints_as_its_cents(tmp_path):
    """The issue's case: deposits and withdrawals with cents, a plain running total of which prints
    a stray last digit; the fold's balance is the nearest float to the true sum."""
    amounts = [("Deposited", 1000.10), ("Deposited", 2000.20), ("Withdrawn", 40.07), ("Deposited", 199.93),
               ("Withdrawn", 0.10), ("Deposited", 0.10)] * 3
    running = 0.0
    for kind, a in amounts:
        running += SIGN[kind] * a
    exact = math.fsum(SIGN[k] * a for k, a in amounts)
    assert repr(running) != repr(exact), "this example no longer shows the rounding it is about"
    history = {"acct-1": [(k, round(a * 100)) for k, a in amounts]}
    with store_of(tmp_path / "s", history) as store:
        state = BALANCE.state(store)
        snaps = BALANCE.snapshots(store, every="1D")
        total = BALANCE.aggregate(store, every="1D", values={"balance": "sum"})
    assert repr(float(state["balance"].iloc[0])) == repr(exact) == "9480.48"
    # A series adds up each period's exact sum: one rounding per period (here 2), not per event.
    periods = len(snaps)
    assert periods == 2
    for got in (snaps["balance"].iloc[-1], total["balance"].iloc[-1]):
        assert abs(float(got) - exact) <= periods * math.ulp(exact)
