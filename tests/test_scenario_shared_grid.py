"""Baseline and scenario compared on one shared grid: the natural pivot by side has no holes.

A scenario that drops the first month's events starts later than the baseline; one that drops
the last month's events ends earlier. Pivoting ``compare_aggregate`` (or the per-point totals of
``compare_snapshots``) by side and subtracting must give, at every point of either side, each
side's true total there: 0 before a side's first stream exists, its last total carried forward
after its last event. Each value is checked against plain Python over the event tuples.
"""

from __future__ import annotations

import pandas as pd
import pytest

import eventkit as ek
from eventkit.whatif import Scenario

FOLD = ek.Fold("acct", fields={
    "balance": ek.sum("amount", event_types="Deposited") - ek.sum("amount", event_types="Withdrawn"),
    "n": ek.count(),
})
SIGN = {"Deposited": 1, "Withdrawn": -1}
T0 = pd.Timestamp("2024-01-01", tz="UTC")
FEB, MAR = pd.Timestamp("2024-02-01", tz="UTC"), pd.Timestamp("2024-03-01", tz="UTC")

ROWS = [  # (stream, type, amount, days after 1 Jan 2024)
    ("a", "Deposited", 100, 2), ("b", "Deposited", 50, 10), ("a", "Withdrawn", 30, 20),
    ("a", "Deposited", 10, 35), ("c", "Deposited", 70, 40), ("b", "Withdrawn", 5, 45),
    ("c", "Withdrawn", 20, 61), ("a", "Deposited", 7, 70),
]


def at(d: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=d)


@pytest.fixture
def store(tmp_path):
    with ek.open_store(tmp_path / "s") as s:
        s.append_frame(pd.DataFrame({
            "stream_id": [r[0] for r in ROWS], "event_type": [r[1] for r in ROWS],
            "amount": [r[2] for r in ROWS], "occurred_at": [at(r[3]) for r in ROWS]}), stream_type="account")
        yield s


def totals_by_hand(rows: list[tuple], point: pd.Timestamp) -> tuple[int, int, int]:
    """(balance, events, streams) summed over the streams, from the rows that happened by ``point``."""
    seen = [r for r in rows if at(r[3]) <= point]
    return (sum(SIGN[t] * a for _, t, a, _ in seen), len(seen), len({r[0] for r in seen}))


SCENARIOS = {  # name -> (edit, the rows it keeps)
    "no January": (lambda s: s.drop(between=(None, FEB)), [r for r in ROWS if at(r[3]) >= FEB]),
    "no March": (lambda s: s.drop(between=(MAR, None)), [r for r in ROWS if at(r[3]) < MAR]),
}


def shared_points(every: str) -> list[pd.Timestamp]:
    """Every point of either side: the baseline's grid, first event to last (both sides lie inside).
    A point covers the events at or before it, so the first point is the first one at or after the
    first event (3 Jan daily, 1 Feb monthly) and the last the first one at or after the last event."""
    if every == "1D":
        return list(pd.date_range(at(2), at(70), freq="D"))
    return list(pd.date_range("2024-02-01", "2024-04-01", freq="MS", tz="UTC"))


@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("every", ["1D", "1M"])
def test_compare_aggregate_pivoted_by_side_is_each_sides_total_at_every_point(store, name, every):
    """Regression: each side was totalled on its own grid, so the pivot had NaN at the points only
    the other side had (before the scenario's first event, after its last)."""
    edit, kept = SCENARIOS[name]
    step = "1MS" if every == "1M" else every
    got = edit(Scenario(store, name=name)).compare_aggregate(FOLD, every=step)
    wide = got.pivot_table(index="as_of", columns="scenario", values=["balance", "n", "streams"])
    points = shared_points(every)
    assert wide.index.tolist() == points
    assert not wide.isna().any().any()
    for col, i in (("balance", 0), ("n", 1), ("streams", 2)):
        base = [totals_by_hand(ROWS, p)[i] for p in points]
        scen = [totals_by_hand(kept, p)[i] for p in points]
        assert wide[(col, "baseline")].tolist() == base, col
        assert wide[(col, name)].tolist() == scen, col
        diff = wide[(col, name)] - wide[(col, "baseline")]
        assert diff.tolist() == [s - b for s, b in zip(scen, base)], col


@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("every", ["1D", "1M"])
def test_compare_snapshots_totals_per_point_by_side(store, name, every):
    """The snapshot series of both sides cover the same points: after a side's last event its
    streams' states carry forward (a state at each point), so the per-point sum is its total there.
    Before a side's first stream exists it has no rows (there is no stream to give a row), so the
    pivot is NaN there and ``fill_value=0`` gives the total of no streams."""
    edit, kept = SCENARIOS[name]
    step = "1MS" if every == "1M" else every
    snaps = edit(Scenario(store, name=name)).compare_snapshots(FOLD, every=step)
    wide = snaps.pivot_table(index="as_of", columns="scenario", values="balance", aggfunc="sum", fill_value=0)
    points = shared_points(every)
    assert wide.index.tolist() == points
    base = [totals_by_hand(ROWS, p)[0] for p in points]
    scen = [totals_by_hand(kept, p)[0] for p in points]
    assert wide["baseline"].tolist() == base
    assert wide[name].tolist() == scen
    assert (wide[name] - wide["baseline"]).tolist() == [s - b for s, b in zip(scen, base)]
    # After the last event of a side the totals carry forward: no hole at the shared end.
    last = snaps[snaps.as_of == points[-1]]
    assert sorted(last.scenario.unique()) == sorted(["baseline", name])


def test_a_python_fold_gets_the_same_shared_grid(store):
    class Balance(ek.PyFold):
        def initial(self):
            return {"balance": 0}

        @ek.on("Deposited")
        def dep(self, s, e):
            s["balance"] += e.amount

        @ek.on("Withdrawn")
        def out(self, s, e):
            s["balance"] -= e.amount

    scn = Scenario(store, name="no March").drop(between=(MAR, None))
    py = scn.compare_aggregate(Balance(), every="1D")
    decl = scn.compare_aggregate(FOLD, every="1D", values={"balance": ("balance", "sum")})
    cols = ["scenario", "as_of", "streams", "balance"]
    pd.testing.assert_frame_equal(py[cols], decl[cols], check_dtype=False)
    assert len(py) == 2 * len(shared_points("1D"))


def test_explicit_start_and_end_are_kept(store):
    scn = Scenario(store, name="no January").drop(between=(None, FEB))
    got = scn.compare_aggregate(FOLD, every="1D", start=at(30), end=at(40), values={"balance": ("balance", "sum")})
    wide = got.pivot_table(index="as_of", columns="scenario", values="balance")
    assert wide.index.tolist() == [at(d) for d in range(30, 41)]
    assert wide["no January"].tolist() == [totals_by_hand(SCENARIOS["no January"][1], at(d))[0] for d in range(30, 41)]
