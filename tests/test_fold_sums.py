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


def _balance_leaf(red):
    from eventkit.fold.reducers import SignedSum

    return SignedSum.of(red)


def test_a_balance_of_disjoint_event_types_compiles_to_one_case_without_filter():
    """Issue 12, item 6: ``sum(a, deposits) - sum(a, withdrawals)`` is one CASE choosing each event's
    signed amount; the general form (a CASE per term added up, under a FILTER) cost the bank fold
    about a tenth of its CPU. Terms that share an event type keep the general form."""
    from eventkit.fold.reducers import Schema

    schema = Schema(payload={"amount": "DOUBLE"}, envelope={"event_type": "VARCHAR", "version": "BIGINT"})
    leaf = _balance_leaf(BALANCE.fields["balance"])
    sql = leaf.partials(schema, leaf.condition(schema))[0]
    assert "FILTER" not in sql and sql.count("CASE") == 1 and sql.startswith("fsum(CASE WHEN")
    overlapping = _balance_leaf(ek.sum("amount", event_types=["Deposited", "Withdrawn"])
                                - ek.sum("amount", event_types="Withdrawn"))
    assert "FILTER" in overlapping.partials(schema, overlapping.condition(schema))[0]
    no_types = _balance_leaf(ek.sum("amount") - ek.sum("amount", event_types="Withdrawn"))
    assert not no_types.exclusive()
    assert not _balance_leaf(ek.sum("amount", event_types="A") * float("inf")
                             - ek.sum("amount", event_types="B")).exclusive()


@pytest.mark.parametrize("sql_type", ["DOUBLE", "FLOAT", "BIGINT", "INTEGER", "DECIMAL(12,2)"])
def test_the_one_case_form_sums_the_same_values_as_the_general_form(sql_type):
    """Bit for bit, over zeros of both signs, NULLs, infinities, NaN and cancelling amounts, with
    where= conditions and a coefficient: the general form adds its other terms' zeros, which an
    exact sum ignores (it never ends at -0.0)."""
    import random
    import struct

    import duckdb

    from eventkit.fold.reducers import Schema

    red = (ek.sum("amount", event_types=["A", "B"]) - ek.sum("amount", event_types="C", where="amount > -5")
           + 2 * ek.sum("amount", event_types="D"))
    leaf = _balance_leaf(red)
    schema = Schema(payload={"amount": sql_type}, envelope={"event_type": "VARCHAR", "version": "BIGINT"})
    cond = leaf.condition(schema)
    fast = leaf.partials(schema, cond)[0]
    general = f"{fast.split('(', 1)[0]}({leaf.contribution(schema)}) FILTER (WHERE {cond})"
    assert fast != general
    rng = random.Random(7)
    floats = sql_type in ("DOUBLE", "FLOAT")
    special = [0.0, -0.0, None] + ([float("inf"), float("-inf"), float("nan"), 3e38, -3e38, 1e-30] if floats else [])
    rows = [(f"s{rng.randrange(300)}", rng.choice("ABCDE"),
             rng.choice(special) if rng.random() < 0.3 else round(rng.uniform(-1e4, 1e4), 2)) for _ in range(20_000)]
    con = duckdb.connect()
    con.execute("SET threads = 1")  # one order of addition, so bits compare
    con.execute(f"CREATE TABLE t (stream_id VARCHAR, event_type VARCHAR, amount {sql_type})")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    con.execute("CREATE VIEW e AS SELECT stream_id, event_type, {'amount': amount} AS data, amount FROM t")
    q = "SELECT stream_id, {} FROM e GROUP BY 1 ORDER BY 1"
    got, want = con.sql(q.format(fast)).fetchall(), con.sql(q.format(general)).fetchall()
    as_bits = (lambda v: struct.pack("<d", v)) if floats else (lambda v: v)
    assert [(s, None if v is None else as_bits(v)) for s, v in got] == \
           [(s, None if v is None else as_bits(v)) for s, v in want]
