"""Property: declarative fold == Python fold == a naive reference loop, for state and snapshots,
under random histories with backdated events and random as_of / known_at cuts."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventkit.fold.reducers as r
from eventkit.fold.declarative import Fold
from eventkit.trends import aggregate
from eventkit.fold.python_fold import PyFold, on

from _budget import budget
from _foldhelpers import (assert_rows_equal, frame_to_dict, make_events, real_store,
                          reference_state)

TYPES = ["Opened", "Deposited", "Withdrawn", "Renamed", "Closed"]
STATUS = {"Opened": "open", "Closed": "closed"}

DECL = Fold("prop", stream_type="account", fields={
    "balance": r.sum("amount", event_types="Deposited") - r.sum("amount", event_types="Withdrawn"),
    "deposits": r.count(event_types=["Deposited"]),
    "big": r.count(where="amount >= 50"),
    "lo": r.min("amount"),
    "hi": r.max("amount", event_types=["Deposited", "Withdrawn"]),
    "name_first": r.first("name"),
    "name_last": r.last("name"),
    "name_nn": r.last_non_null("name"),
    "status": r.last_event_type(STATUS),
    "opened": r.first("occurred_at", event_types="Opened"),
    "share": r.count(event_types="Deposited") / r.count(),
    "scaled": (r.sum("amount") * 2 + 1).fill_null(0),
})


def _nn(xs):
    return [x for x in xs if x is not None]


def _vals(evs, field, types=None):
    return [e[field] for e in evs if types is None or e["event_type"] in types]


REFERENCE = {
    "balance": lambda evs: sum(_nn(_vals(evs, "amount", ["Deposited"])))
                           - sum(_nn(_vals(evs, "amount", ["Withdrawn"]))),
    "deposits": lambda evs: len(_vals(evs, "amount", ["Deposited"])),
    "big": lambda evs: sum(1 for e in evs if e["amount"] is not None and e["amount"] >= 50),
    "lo": lambda evs: min(_nn(_vals(evs, "amount")), default=None),
    "hi": lambda evs: max(_nn(_vals(evs, "amount", ["Deposited", "Withdrawn"])), default=None),
    "name_first": lambda evs: evs[0]["name"],
    "name_last": lambda evs: evs[-1]["name"],
    "name_nn": lambda evs: (_nn(_vals(evs, "name")) or [None])[-1],
    "status": lambda evs: ([STATUS[e["event_type"]] for e in evs if e["event_type"] in STATUS] or [None])[-1],
    "opened": lambda evs: (_vals(evs, "occurred_at", ["Opened"]) or [None])[0],
    "share": lambda evs: len(_vals(evs, "amount", ["Deposited"])) / len(evs),
    "scaled": lambda evs: sum(_nn(_vals(evs, "amount"))) * 2 + 1,
}


class PropPy(PyFold):
    """The same fold as DECL, written as handlers."""

    stream_type = "account"

    def initial(self):
        return {"balance": 0, "deposits": 0, "big": 0, "lo": None, "hi": None, "name_first": None,
                "name_last": None, "name_nn": None, "status": None, "opened": None, "n": 0,
                "sum": 0, "_seen": False}

    @on("*")
    def every(self, s, e):
        a = e.amount
        if not s["_seen"]:
            s["name_first"], s["_seen"] = e.name, True
        s["name_last"] = e.name
        if e.name is not None:
            s["name_nn"] = e.name
        s["n"] += 1
        if a is not None:
            s["sum"] += a
            s["lo"] = a if s["lo"] is None else min(s["lo"], a)
            s["big"] += a >= 50
            if e.event_type in ("Deposited", "Withdrawn"):
                s["hi"] = a if s["hi"] is None else max(s["hi"], a)
                s["balance"] += a if e.event_type == "Deposited" else -a
        if e.event_type == "Deposited":
            s["deposits"] += 1
        if e.event_type in STATUS:
            s["status"] = STATUS[e.event_type]
        if e.event_type == "Opened" and s["opened"] is None:
            s["opened"] = e.occurred_at

    def result(self, s):
        out = {k: v for k, v in s.items() if k not in ("n", "sum", "_seen")}
        out["share"] = s["deposits"] / s["n"]
        out["scaled"] = s["sum"] * 2 + 1
        return out


DAY = pd.Timedelta("1D")
HOUR = pd.Timedelta("1h")
US = pd.Timedelta("1us")
BASE = pd.Timestamp("2024-01-01", tz="UTC")


@st.composite
def histories(draw):
    """Events in commit order on a clock that never goes back. occurred_at is the commit time or,
    for a backdated (late-arriving or corrected) event, up to 9 days before it; times fall on any
    minute, and several events may share a recorded_at (one append) or an occurred_at."""
    n = draw(st.integers(1, 18))
    rows, clock = [], BASE
    for _ in range(n):
        clock = clock + draw(st.sampled_from([pd.Timedelta(0), US, HOUR, DAY])) * draw(st.integers(0, 30))
        backdated = draw(st.integers(0, 9 * 24 * 60)) * pd.Timedelta("1min") if draw(st.booleans()) else pd.Timedelta(0)
        sid = draw(st.sampled_from(["a", "b", "c", "d"]))
        rows.append(dict(
            stream_id=sid, stream_type="other" if sid == "d" else "account",
            event_type=draw(st.sampled_from(TYPES)),
            occurred_at=str(clock - backdated), recorded_at=str(clock),
            amount=draw(st.one_of(st.none(), st.integers(-20, 100))),
            name=draw(st.sampled_from([None, "x", "y"])),
        ))
    df = make_events(rows)
    # Typed columns even when every value is missing, so every store knows the payload schema.
    return df.astype({"amount": "Int64", "name": "string"})


def _near(draw, times: pd.Series) -> pd.Timestamp:
    """A cut where it matters: an event's own time, or one microsecond either side of it."""
    return draw(st.sampled_from(sorted(set(times)))) + draw(st.sampled_from([-US, pd.Timedelta(0), US]))


@st.composite
def cases(draw):
    """A history and the as_of / known_at cuts to fold it at, drawn from its own event times."""
    df = draw(histories())
    as_of = draw(st.one_of(st.none(), st.just("event")))
    as_of = _near(draw, df["occurred_at"]) if as_of else None
    kind = draw(st.sampled_from(["none", "position", "time"]))
    known_at = (None if kind == "none" else draw(st.integers(0, len(df) + 1)) if kind == "position"
                else _near(draw, df["recorded_at"]))
    mode = draw(st.sampled_from(["hot", "segments", "sealed", "compacted"]))
    return df, as_of, known_at, mode


def _daily_points(df, as_of, known_at):
    """The grid the snapshots should cover: midnights from the first to the last event (ceil)."""
    ref_df = df
    if isinstance(known_at, int):
        ref_df = ref_df[ref_df["position"] <= known_at]
    elif known_at is not None:
        ref_df = ref_df[ref_df["recorded_at"] <= known_at]
    ref_df = ref_df[ref_df["stream_type"] == "account"]
    if as_of is not None:
        ref_df = ref_df[ref_df["occurred_at"] <= as_of]
    if ref_df.empty:
        return []
    first, last = ref_df["occurred_at"].min().ceil("D"), ref_df["occurred_at"].max().ceil("D")
    if as_of is not None:  # as_of acts as the grid's end: fill forward up to it
        last = as_of.floor("D")
    return list(pd.date_range(first, last, freq="D"))


@pytest.mark.filterwarnings("ignore::eventkit.EventKitWarning")  # stores with no 'account' stream
@settings(max_examples=budget(60))
@given(case=cases())
def test_state_declarative_python_and_reference_agree(tmp_path_factory, case):
    """State on a real store in any storage mode, cut on and one microsecond around event times."""
    df, as_of, known_at, mode = case
    store = real_store(df, tmp_path_factory.mktemp("s"), mode)
    try:
        _check(store, df, as_of, known_at, snapshots=False)
    finally:
        store.close()


@settings(max_examples=budget(20))
@given(case=cases())
def test_snapshots_declarative_python_and_reference_agree(tmp_path_factory, case):
    """Snapshot series (dense, changes, position grid) on a real store, cut around event times."""
    df, as_of, known_at, mode = case
    store = real_store(df, tmp_path_factory.mktemp("s"), mode)
    try:
        _check(store, df, as_of, known_at)
    finally:
        store.close()


def _check(store, df, as_of, known_at, snapshots=True):
    k = known_at
    want = reference_state(df, REFERENCE, as_of=as_of, known_at=known_at, stream_type="account")
    assert_rows_equal(frame_to_dict(DECL.state(store, as_of=as_of, known_at=k)), want)
    assert_rows_equal(frame_to_dict(PropPy().state(store, as_of=as_of, known_at=k, workers=1)), want)
    if not snapshots:
        return

    # Every snapshot row equals the reference state as of its point (bounds inclusive).
    points = _daily_points(df, as_of, known_at)
    for snaps in (DECL.snapshots(store, every="1D", as_of=as_of, known_at=k),
                  PropPy().snapshots(store, every="1D", as_of=as_of, known_at=k, workers=1)):
        assert sorted(set(snaps["as_of"])) == points
        for at, group in snaps.groupby("as_of"):
            ref = reference_state(df, REFERENCE, as_of=at, known_at=known_at, stream_type="account")
            assert_rows_equal(frame_to_dict(group.drop(columns=["as_of", "complete"])), ref)

    # The change log is the dense series' rows at the points where a stream had events: both
    # kinds give the same rows, and filled forward it is the dense series.
    dense = DECL.snapshots(store, every="1D", as_of=as_of, known_at=k)
    changes = DECL.changes(store, every="1D", as_of=as_of, known_at=k)
    py_changes = PropPy().changes(store, every="1D", as_of=as_of, known_at=k, workers=1)
    keys = ["changed_at", "stream_id"]
    assert changes[keys].values.tolist() == py_changes[keys].values.tolist()
    got = changes.merge(dense.rename(columns={"as_of": "changed_at"})[keys], on=keys, how="left", indicator=True)
    assert (got["_merge"] == "both").all()
    for at, group in changes.groupby("changed_at"):
        assert_rows_equal(frame_to_dict(group.drop(columns="changed_at")),
                          frame_to_dict(py_changes[py_changes["changed_at"] == at].drop(columns="changed_at")))
    totals = {"n": ("stream_id", "count"), "events": ("version", "sum")}
    got = DECL.aggregate(store, every="1D", as_of=as_of, known_at=k, values={"n": ("stream_id", "count")})
    assert got["n"].tolist() == aggregate(dense, values=totals)["n"].tolist()

    # A position grid: the row at p is the state over events with position <= p.
    if k is None or isinstance(k, int):
        for snaps in (DECL.snapshots(store, every=3, known_at=k),
                      PropPy().snapshots(store, every=3, known_at=k, workers=1)):
            for at, group in snaps.groupby("as_of"):
                cut = at if k is None else min(at, k)
                ref = reference_state(df, REFERENCE, known_at=int(cut), stream_type="account")
                assert_rows_equal(frame_to_dict(group.drop(columns=["as_of", "complete"])), ref)
