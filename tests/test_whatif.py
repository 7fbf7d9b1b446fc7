"""What-if scenarios: edits as DuckDB views over the store, folded like the store itself.

The equivalences (no edit == baseline, drop == a store built without, add == a store built with)
are property tests; change, shift, replace_stream and the ordering rules are hand-worked.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import store_fingerprint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventkit as ek
from eventkit.whatif import NoMatch, Scenario

FOLD = ek.Fold("acct", fields={
    "balance": ek.sum("amount", event_types="Deposited") - ek.sum("amount", event_types="Withdrawn")
               - ek.sum("amount", event_types="FeeCharged"),
    "n": ek.count(),
    "deposits": ek.count(event_types="Deposited"),
    "last_amount": ek.last("amount"),
    "first_amount": ek.first("amount"),
    "hi": ek.max("amount"),
    "opened": ek.first("occurred_at"),
})
FIELDS = list(FOLD.fields)
T0 = pd.Timestamp("2024-01-01", tz="UTC")


def day(d: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=d)


def rows_frame(rows: list[tuple]) -> pd.DataFrame:
    """(stream, type, amount, day) tuples as an append_frame frame, in the given order."""
    return pd.DataFrame({
        "stream_id": [r[0] for r in rows], "event_type": [r[1] for r in rows],
        "amount": pd.array([r[2] for r in rows], dtype="Int64"),
        "occurred_at": [day(r[3]) for r in rows], "stream_type": "account"})


def build(path: Path, rows: list[tuple], **options) -> ek.Store:
    s = ek.open_store(path, **options)
    if rows:
        s.append_frame(rows_frame(rows))
    return s


HISTORY = [  # (stream, type, amount, day) in commit order
    ("a", "Opened", None, 0), ("a", "Deposited", 100, 1), ("b", "Opened", None, 1),
    ("a", "FeeCharged", 5, 2), ("b", "Deposited", 40, 3), ("a", "Withdrawn", 30, 4),
    ("c", "Opened", None, 4), ("b", "FeeCharged", 5, 5), ("a", "Deposited", 20, 6),
]


@pytest.fixture
def hist(store):
    for sid, etype, amount, d in HISTORY:  # one append each: hot rows, segments or sealed
        # The Opened events carry no payload at all: a segment of payload-less events must read
        # back with the store's typed fields like any other.
        payload = {} if amount is None else {"amount": amount}
        store.append(sid, [ek.Event(etype, payload, occurred_at=day(d))],
                     stream_type="account")
    return store


def fields_of(state: pd.DataFrame, *extra: str) -> pd.DataFrame:
    return state[["stream_id", *FIELDS, *extra]].reset_index(drop=True)


# -- no edit == baseline -------------------------------------------------------------------------

def test_no_edit_equals_baseline_exactly(hist):
    scn = Scenario(hist, name="nothing")
    pd.testing.assert_frame_equal(FOLD.state(scn), FOLD.state(hist))
    pd.testing.assert_frame_equal(FOLD.snapshots(scn, every="1D"), FOLD.snapshots(hist, every="1D"))
    cut = Scenario(hist, as_of=day(3), known_at=5)
    pd.testing.assert_frame_equal(FOLD.state(cut), FOLD.state(hist, as_of=day(3), known_at=5))
    pd.testing.assert_frame_equal(FOLD.state(scn, known_at=6), FOLD.state(hist, known_at=6))
    base = hist.connect().sql("SELECT * FROM events LIMIT 0")
    mine = scn.connect().sql("SELECT * FROM events LIMIT 0")
    assert (mine.columns, [str(t) for t in mine.types]) == (base.columns, [str(t) for t in base.types])
    assert scn.changes().empty and scn.compare(FOLD).empty


def test_python_fold_runs_on_a_scenario(hist):
    class Balance(ek.PyFold):
        def initial(self):
            return {"balance": 0}

        @ek.on("Deposited")
        def dep(self, s, e):
            s["balance"] += e.amount

    scn = Scenario(hist).drop(event_types="Deposited", where="amount > 50")
    one = Balance().state(scn, workers=1)
    assert dict(zip(one.stream_id, one.balance)) == {"a": 20, "b": 40, "c": 0}
    pd.testing.assert_frame_equal(Balance().state(scn, workers=2), one)


def test_scenario_is_pinned_at_the_head_when_made(fresh_store):
    fresh_store.append_frame(rows_frame(HISTORY))
    scn = Scenario(fresh_store).drop(event_types="FeeCharged")
    before = FOLD.state(scn)
    fresh_store.append("a", ek.Event("Deposited", {"amount": 1}), stream_type="account")
    pd.testing.assert_frame_equal(FOLD.state(scn), before)


# -- drop ----------------------------------------------------------------------------------------

def test_drop_by_type_stream_time_and_where(hist):
    scn = Scenario(hist)
    assert FOLD.state(scn.drop(event_types="FeeCharged")).balance.tolist()[:2] == [90, 40]
    assert FOLD.state(scn.drop(streams=["a", "c"])).stream_id.tolist() == ["b"]
    assert FOLD.state(scn.drop(between=(day(4), None))).set_index("stream_id").n.to_dict() == {"a": 3, "b": 2}
    got = FOLD.state(scn.drop(where="amount >= 40")).set_index("stream_id")
    assert got.loc["a", "balance"] == -15 and got.loc["b", "deposits"] == 0


EVENT = st.tuples(st.sampled_from(["s0", "s1", "s2"]), st.sampled_from(["Deposited", "Withdrawn", "FeeCharged"]),
                  st.integers(1, 100), st.integers(0, 20))
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.filterwarnings("ignore::eventkit.whatif.NoMatch")  # random selectors may miss
@SETTINGS
@given(rows=st.lists(EVENT, min_size=1, max_size=25), drop_types=st.sets(st.sampled_from(["Deposited", "Withdrawn", "FeeCharged"])),
       threshold=st.none() | st.integers(1, 100), drop_stream=st.none() | st.sampled_from(["s0", "s1"]))
def test_drop_equals_a_store_built_without(rows, drop_types, threshold, drop_stream):
    rows = sorted(rows, key=lambda r: r[3])
    scn_kw = {}
    if drop_types:
        scn_kw["event_types"] = sorted(drop_types)
    if threshold is not None:
        scn_kw["where"] = f"amount > {threshold}"
    if drop_stream is not None:
        scn_kw["streams"] = drop_stream
    if not scn_kw:
        scn_kw["event_types"] = "Nothing"  # an unknown event type is fine: it drops nothing

    def dropped(r):
        return ((not drop_types or r[1] in drop_types) and (threshold is None or r[2] > threshold)
                and (drop_stream is None or r[0] == drop_stream) and scn_kw.get("event_types") != "Nothing")

    with (tempfile.TemporaryDirectory() as d, build(Path(d) / "a", rows) as full,
          build(Path(d) / "b", [r for r in rows if not dropped(r)]) as kept):
        scn = Scenario(full).drop(**scn_kw)
        if kept.head == 0:  # everything dropped; an empty store has no fields to fold
            assert FOLD.state(scn).empty
            return
        pd.testing.assert_frame_equal(fields_of(FOLD.state(scn)), fields_of(FOLD.state(kept)))
        snaps = ["as_of", "stream_id", *FIELDS]
        pd.testing.assert_frame_equal(FOLD.snapshots(scn, every="3D")[snaps], FOLD.snapshots(kept, every="3D")[snaps])


# -- add -----------------------------------------------------------------------------------------

@SETTINGS
@given(rows=st.lists(EVENT, min_size=0, max_size=20),
       added=st.lists(st.tuples(st.sampled_from(["s0", "s1", "new"]), st.sampled_from(["Deposited", "Withdrawn"]),
                                st.integers(1, 100), st.integers(0, 20)), min_size=1, max_size=6))
def test_add_equals_a_store_built_with(rows, added):
    """Hypothetical events fold by occurred_at, after the stream's events of the same time."""
    rows = sorted(rows, key=lambda r: r[3])
    merged = [r for _, _, _, r in sorted([(r[3], 0, i, r) for i, r in enumerate(rows)]
                                         + [(r[3], 1, i, r) for i, r in enumerate(added)])]
    with (tempfile.TemporaryDirectory() as d, build(Path(d) / "a", rows) as base,
          build(Path(d) / "b", merged) as whole):
        scn = Scenario(base).add(rows_frame(added))
        pd.testing.assert_frame_equal(fields_of(FOLD.state(scn), "version"), fields_of(FOLD.state(whole), "version"))
        snaps = ["as_of", "stream_id", *FIELDS, "version"]
        pd.testing.assert_frame_equal(FOLD.snapshots(scn, every="2D")[snaps], FOLD.snapshots(whole, every="2D")[snaps])
        ev = scn.read_all()
        assert ev.position.is_unique
        assert all(g.sort_values("version").position.is_monotonic_increasing for _, g in ev.groupby("stream_id"))


def test_add_places_by_time_among_backdated_events(fresh_store):
    # v1 day 1, v2 day 5, v3 day 3 (recorded late, backdated): fold order stays v1, v2, v3.
    fresh_store.append_frame(rows_frame([("a", "Deposited", 1, 1), ("a", "Deposited", 2, 5), ("a", "Deposited", 3, 3)]))
    scn = Scenario(fresh_store).add(rows_frame([("a", "Deposited", 40, 4), ("a", "Deposited", 50, 0)]))
    ev = scn.read_all().sort_values("version")
    # 50 (day 0) precedes every event; 40 (day 4) folds after v3 (day 3), the last event by then.
    assert ev.amount.tolist() == [50, 1, 2, 3, 40]
    assert ev.version.tolist() == [1, 2, 3, 4, 5]
    assert sorted(ev.position) == ev.position.tolist()
    assert ev.recorded_at.isna().tolist() == [True, False, False, False, True]


def test_add_with_explicit_version_takes_that_slot(hist):
    frame = rows_frame([("a", "Deposited", 7, 9)]).assign(version=2)
    ev = Scenario(hist).add(frame).read_all()
    a = ev[ev.stream_id == "a"].sort_values("version")
    assert a.event_type.tolist() == ["Opened", "Deposited", "Deposited", "FeeCharged", "Withdrawn", "Deposited"]
    assert a.amount.tolist()[1:3] == [7, 100]


def test_add_new_fields_and_widened_types(hist):
    frame = rows_frame([("d", "Deposited", 1, 2)]).assign(amount=[2.5], note=["hypothetical"])
    scn = Scenario(hist).add(frame)
    assert scn.fields["amount"] == "DOUBLE" and scn.fields["note"] == "VARCHAR"
    ev = scn.read_all()
    assert ev.set_index("stream_id").loc["d", "note"] == "hypothetical"
    assert ev.stream_type.unique().tolist() == ["account"]
    assert FOLD.state(scn).set_index("stream_id").loc["a", "balance"] == 85.0


# -- change, shift, replace_stream ---------------------------------------------------------------

def test_change_sets_fields_from_expressions(hist):
    scn = Scenario(hist).change(set={"amount": "amount * 1.1"}, event_types=["Deposited"])
    got = FOLD.state(scn).set_index("stream_id")
    assert got.loc["a", "balance"] == pytest.approx(97.0) and got.loc["b", "balance"] == pytest.approx(39.0)
    assert scn.fields["amount"] == "DOUBLE"
    same_time = Scenario(hist).change(set={"amount": "amount + 1"}, where="amount < 10")
    assert FOLD.state(same_time).set_index("stream_id").loc["b", "hi"] == 40
    assert sorted(same_time.changes().amount) == [6, 6]


def test_shift_moves_events_in_time_and_fold_order(hist):
    scn = Scenario(hist).shift(by="3D", streams="a", event_types="Deposited", where="amount = 100")
    ev = scn.read_all()
    a = ev[ev.stream_id == "a"].sort_values("version")
    # Deposited 100 moves from day 1 to day 4: it now folds after FeeCharged (2) and Withdrawn (4).
    assert a.event_type.tolist() == ["Opened", "FeeCharged", "Withdrawn", "Deposited", "Deposited"]
    assert a[a.amount == 100].occurred_at.iloc[0] == day(4)
    assert FOLD.state(scn, as_of=day(3)).set_index("stream_id").loc["a", "balance"] == -5
    assert FOLD.state(hist, as_of=day(3)).set_index("stream_id").loc["a", "balance"] == 95
    back = Scenario(hist).shift(by=dt.timedelta(hours=-36), event_types="Opened", streams="c")
    assert FOLD.state(back).set_index("stream_id").loc["c", "opened"] == day(2.5)
    audit = scn.changes()
    assert audit.change.tolist() == ["shifted"] and audit.occurred_at_before.iloc[0] == day(1)


def test_replace_stream(hist):
    new = rows_frame([("b", "Deposited", 7, 8), ("b", "Opened", None, 0)]).drop(columns="stream_id")
    scn = Scenario(hist).replace_stream("b", new)
    b = scn.read_all().query("stream_id == 'b'").sort_values("version")
    assert b.event_type.tolist() == ["Opened", "Deposited"] and b.version.tolist() == [1, 2]
    assert FOLD.state(scn).set_index("stream_id").loc["b", "balance"] == 7
    audit = scn.changes()
    assert sorted(audit.change) == ["added", "added", "dropped", "dropped", "dropped"]
    assert set(audit.op) == {"replace_stream('b', 2 events)"}
    gone = Scenario(hist).replace_stream("c", pd.DataFrame())
    assert "c" not in FOLD.state(gone).stream_id.tolist()


def test_edits_apply_in_order_and_scenarios_are_immutable(hist):
    base = Scenario(hist)
    up = base.change(set={"amount": "amount * 10"}, event_types="FeeCharged")
    dropped_after = up.drop(where="amount > 40")  # sees the changed fees (50) and drops them
    dropped_before = base.drop(where="amount > 40").change(set={"amount": "amount * 10"}, event_types="FeeCharged")
    assert base.edits == [] and len(up.edits) == 1
    assert FOLD.state(dropped_after).set_index("stream_id").loc["b", "n"] == 2
    assert FOLD.state(dropped_before).set_index("stream_id").loc["b", "n"] == 3


# -- compare, snapshots, audit -------------------------------------------------------------------

def test_compare_lists_only_streams_that_differ(hist):
    scn = (Scenario(hist, name="no fees").drop(event_types="FeeCharged", streams="a")
           .add(rows_frame([("z", "Deposited", 9, 1)])))
    cmp = scn.compare(FOLD)
    assert cmp.stream_id.tolist() == ["a", "z"]
    assert cmp.columns[:4].tolist() == ["stream_id", "balance_baseline", "balance_scenario", "balance_diff"]
    assert "opened_diff" not in cmp.columns and "opened_scenario" in cmp.columns
    a = cmp.set_index("stream_id").loc["a"]
    assert (a.balance_baseline, a.balance_scenario, a.balance_diff) == (85, 90, 5)
    assert pd.isna(cmp.set_index("stream_id").loc["z", "balance_baseline"])


SIGN = {"Deposited": 1, "Withdrawn": -1, "FeeCharged": -1}


def balances_by_hand(rows: list[tuple], at: pd.Timestamp) -> dict[str, float]:
    """Each stream's balance from the (stream, type, amount, day) rows that happened by ``at``:
    plain Python, independent of folds, snapshots and scenarios."""
    out: dict[str, float] = {}
    for sid, etype, amount, d in rows:
        if day(d) <= at:
            out[sid] = out.get(sid, 0) + SIGN.get(etype, 0) * (amount or 0)
    return out


def edited_by_hand(rows: list[tuple]) -> list[tuple]:
    """The scenario of test_overlay_and_compare_...: no fees, a bonus for c, b's deposits halved."""
    out = [r for r in rows if r[1] != "FeeCharged"]
    out = [(sid, t, a // 2 if (sid, t) == ("b", "Deposited") else a, d) for sid, t, a, d in out]
    return out + [("c", "Deposited", 50, 2.5)]


def test_overlay_and_compare_give_the_totals_computed_by_hand_at_every_point(hist):
    scn = (Scenario(hist, name="edited").drop(event_types="FeeCharged")
           .change(set={"amount": "amount // 2"}, streams="b", event_types="Deposited")
           .add(rows_frame([("c", "Deposited", 50, 2.5)])))
    points = [day(d) for d in range(7)]  # daily from the first event (day 0) to the last (day 6)
    base = [sum(balances_by_hand(HISTORY, t).values()) for t in points]
    edit = [sum(balances_by_hand(edited_by_hand(HISTORY), t).values()) for t in points]
    assert base == [0, 100, 95, 135, 105, 100, 120] and edit[-1] == 90 + 20 + 50  # a, b, c

    # The chart: both lines and the difference panel, at every point.
    fig = scn.overlay(FOLD, y="balance", every="1D")
    top, low = fig.axes
    assert [pd.Timestamp(t) for t in top.lines[0].get_xdata()] == [t.tz_localize(None) for t in points]
    assert top.lines[0].get_ydata().tolist() == base
    assert top.lines[1].get_ydata().tolist() == edit
    assert low.lines[0].get_ydata().tolist() == [e - b for e, b in zip(edit, base)]

    # The long frame, totalled the way an analyst would: group by time and scenario and sum.
    snaps = scn.compare_snapshots(FOLD, every="1D")
    assert snaps.columns[:3].tolist() == ["scenario", "as_of", "stream_id"]
    natural = snaps.groupby(["scenario", "as_of"])["balance"].sum()
    assert natural["baseline"].tolist() == base and natural["edited"].tolist() == edit
    totals = ek.aggregate(snaps, by="scenario", values={"balance": ("balance", "sum")})
    for name, expected in (("baseline", base), ("edited", edit)):
        assert totals[totals.scenario == name].sort_values("as_of")["balance"].tolist() == expected
    # Every stream is in both halves at every point from its first event on (dense), per stream.
    for name, rows in (("baseline", HISTORY), ("edited", edited_by_hand(HISTORY))):
        half = snaps[snaps.scenario == name]
        for t in points:
            at_t = half[half.as_of == t]
            assert dict(zip(at_t.stream_id, at_t.balance)) == balances_by_hand(rows, t), (name, t)

    # compare(): both halves per stream, against the hand computation at the end.
    cmp = scn.compare(FOLD).set_index("stream_id")
    end = points[-1]
    b, e = balances_by_hand(HISTORY, end), balances_by_hand(edited_by_hand(HISTORY), end)
    assert {k for k in b if b[k] != e[k]} == set(cmp.index)
    assert cmp["balance_baseline"].to_dict() == {k: b[k] for k in cmp.index}
    assert cmp["balance_scenario"].to_dict() == {k: e[k] for k in cmp.index}


def test_changes_audit(hist):
    scn = (Scenario(hist).drop(event_types="FeeCharged").change(set={"amount": "0"}, streams="b", event_types="Deposited")
           .add(rows_frame([("a", "Deposited", 1, 3)])))
    audit = scn.changes()
    # The added event folds third in stream a, so it takes a's third position (6).
    assert audit.change.tolist() == ["dropped", "changed", "added", "dropped"]
    assert audit.position.tolist() == [4, 5, 6, 8]
    assert audit.op.iloc[0] == "drop(event_types='FeeCharged')"
    assert audit.amount.tolist() == [5, 0, 1, 5]


# -- materialize, never writing ------------------------------------------------------------------

def test_materialize_round_trip_and_refusal(hist, tmp_path):
    added = rows_frame([("a", "Deposited", 1, 3)]).assign(metadata=[{"why": "what-if"}])
    scn = Scenario(hist).drop(event_types="FeeCharged").add(added).shift(by="1h", streams="b")
    with scn.materialize(tmp_path / "copy") as copy:
        pd.testing.assert_frame_equal(fields_of(FOLD.state(copy), "version"), fields_of(FOLD.state(scn), "version"))
        mine, theirs = scn.read_all(), copy.read_all()
        assert len(theirs) == len(mine)
        cols = ["stream_id", "version", "event_type", "event_id", "occurred_at", "amount"]
        key = ["stream_id", "version"]
        pd.testing.assert_frame_equal(theirs[cols].sort_values(key).reset_index(drop=True),
                                      mine[cols].sort_values(key).reset_index(drop=True))
        assert {"why": "what-if"} in theirs.metadata.tolist()
    with pytest.raises(ek.StoreError, match="already holds"):
        scn.materialize(tmp_path / "copy")
    with pytest.raises(ek.StoreError):
        scn.materialize(hist.path)


def test_a_scenario_never_writes_to_the_store(hist, tmp_path):
    hist.close()
    before = store_fingerprint(hist.path)
    store = ek.open_store(hist.path)
    scn = (Scenario(store).drop(event_types="FeeCharged").add(rows_frame([("a", "Deposited", 1, 3)]))
           .change(set={"amount": "amount + 1"}).shift(by="1D", streams="b").replace_stream("c", pd.DataFrame()))
    FOLD.state(scn), FOLD.snapshots(scn, every="1D"), scn.compare(FOLD), scn.changes()
    scn.materialize(tmp_path / "elsewhere").close()
    store.close()
    assert store_fingerprint(hist.path) == before


# -- bad input -----------------------------------------------------------------------------------

BAD = {
    "where names a missing field": (lambda s: s.drop(where="amout > 100"), ek.InvalidInput, "amout"),
    "where refers to data.<field>": (lambda s: s.drop(where="data.amount > 1"), ek.InvalidInput, "named directly"),
    "where is not a condition": (lambda s: s.drop(where="amount + 1"), ek.InvalidInput, "not a condition"),
    "where is an aggregate": (lambda s: s.drop(where="amount > avg(amount)"), ek.InvalidInput, "where="),
    "set names a missing field": (lambda s: s.change(set={"amout": "1"}), ek.InvalidInput, "amout"),
    "set expression names a missing field": (lambda s: s.change(set={"amount": "fee * 2"}), ek.InvalidInput, "fee"),
    "set an envelope column": (lambda s: s.change(set={"occurred_at": "now()"}), ek.InvalidInput, "shift"),
    "set a type the field cannot hold": (lambda s: s.change(set={"amount": "'ten'"}), ek.SchemaConflict, "amount"),
    "bad by": (lambda s: s.shift(by="soon"), ek.InvalidInput, "by="),
    "calendar by": (lambda s: s.shift(by="1MS"), ek.InvalidInput, "fixed duration"),
    "int by": (lambda s: s.shift(by=7), ek.InvalidInput, "by="),
    "drop nothing named": (lambda s: s.drop(), ek.InvalidInput, "at least one"),
    "bad between": (lambda s: s.drop(between=("yesterday", None)), ek.InvalidInput, "between"),
    "added frame without event_type": (lambda s: s.add(pd.DataFrame({"stream_id": ["a"], "occurred_at": [T0]})),
                                       ek.InvalidInput, "event_type"),
    "added frame without occurred_at": (lambda s: s.add(pd.DataFrame({"stream_id": ["a"], "event_type": ["X"]})),
                                        ek.InvalidInput, "occurred_at"),
    "added payload of another type": (lambda s: s.add(rows_frame([("a", "X", 1, 1)]).assign(amount=["ten"])),
                                      ek.SchemaConflict, "amount"),
    "added stream of another type": (lambda s: s.add(rows_frame([("a", "X", 1, 1)]).assign(stream_type="loan")),
                                     ek.InvalidInput, "stream_type"),
    "replace_stream frame for another stream": (lambda s: s.replace_stream("a", rows_frame([("b", "X", 1, 1)])),
                                                ek.InvalidInput, "other streams"),
    "bad as_of": (lambda s: Scenario(s.store, as_of="someday"), ek.InvalidFold, "as_of"),
    "name baseline": (lambda s: Scenario(s.store, name="baseline"), ek.InvalidInput, "name"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_is_a_clear_error(fresh_store, case):
    fresh_store.append_frame(rows_frame(HISTORY))
    make, error, words = BAD[case]
    scn = Scenario(fresh_store)
    with pytest.raises(error, match=words):
        make(scn)


def test_a_selector_naming_a_missing_stream_or_type_warns_with_the_closest_name(fresh_store):
    fresh_store.append_frame(rows_frame(HISTORY))
    scn = Scenario(fresh_store, name="typo")
    with pytest.warns(NoMatch, match=r"'FeeCharge' \(closest: 'FeeCharged'\)"):
        dropped = scn.drop(event_types="FeeCharge")
    with pytest.warns(NoMatch, match=r"stream_id 'aa' \(closest: 'a'\)"):
        changed = dropped.change(set={"amount": "1"}, streams=["a", "aa"])
    with pytest.warns(NoMatch, match="'nobody'"):
        scn.shift(by="1D", streams="nobody")
    # The edits still apply to what does exist; the missing names match nothing.
    pd.testing.assert_frame_equal(FOLD.state(dropped), FOLD.state(fresh_store))
    assert FOLD.state(changed).set_index("stream_id").loc["a", "hi"] == 1
    # Streams and event types that the scenario itself added are not missing.
    added = scn.add(rows_frame([("z", "Bonus", 5, 3)]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        added.drop(streams="z").drop(event_types=["Bonus", "Deposited"])


# -- lazy: views over the snapshot, not copies ---------------------------------------------------

def test_a_drop_scenario_streams_from_the_segments(tmp_path):
    """Regression guard for "a scenario must not copy the store into memory".

    With spilling off and a memory limit far below the events' size, materialising the scenario's
    events fails, yet a fold over it runs: the view streams from the Parquet segments.
    """
    n = 400_000
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({
        "stream_id": [f"acct-{i % 2000:05d}" for i in range(n)],
        "event_type": np.where(rng.random(n) < 0.2, "FeeCharged", "Deposited"),
        "occurred_at": T0 + pd.to_timedelta(np.arange(n), unit="s"),
        "amount": rng.integers(1, 1000, n), "memo": [f"memo text number {i} " * 3 for i in range(n)]})
    with ek.open_store(tmp_path / "big") as big:
        big.append_frame(frame, stream_type="account")
        scn = Scenario(big).drop(event_types="FeeCharged")
        started = time.perf_counter()
        con = scn.connect()
        assert time.perf_counter() - started < 5.0  # views only: no scan happens here
        plan = "\n".join(r[1] for r in con.sql("EXPLAIN SELECT stream_id, sum(data.amount) FROM events GROUP BY 1").fetchall())
        assert "READ_PARQUET" in plan.upper() or "PARQUET_SCAN" in plan.upper()
        assert "WINDOW" not in plan.upper() and "CTE" not in plan.upper()
        con.execute("SET temp_directory = ''; SET memory_limit = '40MB'; SET threads = 2")
        with pytest.raises(Exception, match="(?i)memory"):
            con.execute("CREATE TEMP TABLE copied AS SELECT * FROM events")
        got = con.sql("SELECT count(*), sum(data.amount) FROM events").fetchall()[0]
        expected = frame[frame.event_type != "FeeCharged"]
        assert got == (len(expected), int(expected.amount.sum()))
        con.close()


def test_compare_aggregate_with_a_python_fold_equals_the_declarative_one(hist):
    class Balance(ek.PyFold):
        def initial(self):
            return {"balance": 0}

        @ek.on("Deposited")
        def dep(self, s, e):
            s["balance"] += e.amount

        @ek.on("Withdrawn", "FeeCharged")
        def out(self, s, e):
            s["balance"] -= e.amount

    scn = Scenario(hist, name="no fees").drop(event_types="FeeCharged")
    py = scn.compare_aggregate(Balance(), every="1D")
    decl = scn.compare_aggregate(FOLD, every="1D", values={"balance": ("balance", "sum")})
    assert py.columns.tolist()[:2] == ["scenario", "as_of"]
    for name, rows in (("baseline", HISTORY), ("no fees", [r for r in HISTORY if r[1] != "FeeCharged"])):
        expected = [sum(balances_by_hand(rows, day(d)).values()) for d in range(7)]
        assert py[py.scenario == name]["balance"].tolist() == expected
        assert decl[decl.scenario == name]["balance"].tolist() == expected


@pytest.mark.filterwarnings("ignore::eventkit.whatif.NoMatch")  # random selectors may miss
@SETTINGS
@given(rows=st.lists(EVENT, min_size=1, max_size=20),
       drop_types=st.sets(st.sampled_from(["Deposited", "Withdrawn", "FeeCharged"])),
       added=st.lists(st.tuples(st.sampled_from(["s0", "s1", "new"]), st.sampled_from(["Deposited", "Withdrawn"]),
                                st.integers(1, 100), st.integers(0, 20)), min_size=1, max_size=5))
def test_scenario_totals_at_every_point_equal_a_computation_by_hand(rows, drop_types, added):
    rows = sorted(rows, key=lambda r: r[3])
    edited = [(sid, t, a * 2 if sid == "s0" else a, d) for sid, t, a, d in rows if t not in drop_types] + added
    with tempfile.TemporaryDirectory() as d, build(Path(d) / "a", rows) as store:
        scn = Scenario(store, name="edited")
        if drop_types:
            scn = scn.drop(event_types=sorted(drop_types))
        scn = scn.change(set={"amount": "amount * 2"}, streams="s0").add(rows_frame(added))
        totals = scn.compare_aggregate(FOLD, every="1D", values={"balance": ("balance", "sum")})
        snaps = scn.compare_snapshots(FOLD, every="1D")
    # One grid for both sides: every day from the first event of either side to the last of
    # either. A side's total by hand is 0 before its first event and its last one after its last.
    days = range(min(r[3] for r in rows + edited), max(r[3] for r in rows + edited) + 1)
    # The natural pivot of the series: a side with no stream yet at a point has no row there (0).
    natural = snaps.pivot_table(index="as_of", columns="scenario", values="balance", aggfunc="sum", fill_value=0)
    assert natural.index.tolist() == [day(k) for k in days]
    for name, side in (("baseline", rows), ("edited", edited)):
        expected = [sum(balances_by_hand(side, day(k)).values()) for k in days]
        got = totals[totals.scenario == name]
        assert got["as_of"].tolist() == [day(k) for k in days]
        assert got["balance"].tolist() == expected, name
        assert natural[name].tolist() == expected, name
        assert got["streams"].tolist() == [len(balances_by_hand(side, day(k))) for k in days]


def test_overlay_when_the_scenario_reaches_past_the_baseline(hist):
    # The added deposit on day 9 extends the scenario's grid past the baseline's last point (day 6):
    # the baseline keeps its last total there (no event changes it), the difference is the deposit.
    scn = Scenario(hist, name="later").add(rows_frame([("c", "Deposited", 7, 9)]))
    fig = scn.overlay(FOLD, y="balance", every="1D")
    base, edit = (line.get_ydata().tolist() for line in fig.axes[0].lines)
    assert base == [0, 100, 95, 135, 105, 100, 120, 120, 120, 120]
    assert edit == base[:9] + [127] and fig.axes[1].lines[0].get_ydata().tolist() == [0] * 9 + [7]
