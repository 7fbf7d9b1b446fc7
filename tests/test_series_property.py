"""Property: what an analyst naturally does with the default series equals doing it on a naive one.

For random small stores (backdated events included), grids, cuts and storage modes, the natural
operations on ``fold.snapshots()`` — group by time and sum / count / mean, merge a lookup then
group, group by a state column — and ``fold.aggregate(...)`` / ``ek.aggregate(...)`` give the
same numbers as the same operations on a dense series computed in plain Python: for each point,
fold each stream's events with ``occurred_at <= point`` in version order. Grid bounds and cuts
are drawn from the events' own times and one microsecond either side.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventkit as ek
import eventkit.fold.reducers as r

from _foldhelpers import make_events
from _series_stores import MODES, store_of

UTC = dt.timezone.utc
BASE = pd.Timestamp("2024-03-01", tz="UTC")
US = pd.Timedelta(microseconds=1)
STATUS = {"Opened": "open", "Frozen": "frozen", "Closed": "closed"}
TYPES = ["Opened", "Deposited", "Withdrawn", "Frozen", "Closed"]

FOLD = ek.Fold("acct", fields={
    "balance": r.sum("amount", event_types="Deposited") - r.sum("amount", event_types="Withdrawn"),
    "status": r.last_event_type(STATUS),
    "last_amount": r.last("amount"),
    "events": r.count(),
    "big": r.count(event_types="Deposited", where="amount >= 100") * 2 - r.sum("amount", where="amount < 0"),
})
REGION = {"s0": "north", "s1": "south", "s2": "north", "s3": "east"}


def naive_fold(events: list[dict]) -> dict[str, Any]:
    """The fold's fields over ``events``, by a plain loop in version order."""
    s: dict[str, Any] = {"balance": 0, "status": None, "last_amount": None, "events": 0, "big": 0}
    for e in sorted(events, key=lambda e: e["version"]):
        amount = None if pd.isna(e["amount"]) else int(e["amount"])
        if e["event_type"] == "Deposited":
            s["balance"] += amount or 0
        elif e["event_type"] == "Withdrawn":
            s["balance"] -= amount or 0
        if e["event_type"] in STATUS:
            s["status"] = STATUS[e["event_type"]]
        s["last_amount"] = amount
        s["events"] += 1
        if e["event_type"] == "Deposited" and amount is not None and amount >= 100:
            s["big"] += 2
        if amount is not None and amount < 0:
            s["big"] -= amount
    return s


def naive_points(times: list[pd.Timestamp], step: pd.Timedelta, start: Any, end: Any) -> list[pd.Timestamp]:
    """Grid points origin + k*step (origin: ``start``, else midnight 1970-01-01 UTC) from the
    first point at or after the first event (or ``start``) to ``end`` (else the first point at
    or after the last event)."""
    if not times:
        return []
    origin = start if start is not None else pd.Timestamp("1970-01-01", tz="UTC")

    def ceil_k(t: pd.Timestamp) -> int:
        return -((origin - t) // step)

    first = max(ceil_k(min(times)), 0) if start is not None else ceil_k(min(times))
    last = (end - origin) // step if end is not None else max(ceil_k(max(times)), first)
    return [origin + k * step for k in range(first, last + 1)]


def naive_dense(df: pd.DataFrame, step: pd.Timedelta, start: Any, end: Any, as_of: Any,
                known_at: Any) -> pd.DataFrame:
    events = df.to_dict("records")
    if known_at is not None:
        events = [e for e in events if e["position"] <= known_at]
    if as_of is not None:
        events = [e for e in events if e["occurred_at"] <= as_of]
        end = as_of if end is None else min(end, as_of)
    points = naive_points([e["occurred_at"] for e in events], step, start, end)
    rows = []
    for p in points:
        by_stream: dict[str, list[dict]] = {}
        for e in events:
            if e["occurred_at"] <= p:
                by_stream.setdefault(e["stream_id"], []).append(e)
        for sid, evs in sorted(by_stream.items()):
            rows.append({"as_of": p, "stream_id": sid, **naive_fold(evs)})
    return pd.DataFrame(rows, columns=["as_of", "stream_id", "balance", "status", "last_amount", "events", "big"])


def as_dict(series: pd.Series) -> dict:
    """A grouped result as {key: value} with NaN -> None, numbers as floats, keys normalised."""
    out = {}
    for k, v in series.items():
        k = tuple(None if (isinstance(x, float) and math.isnan(x)) or x is pd.NA else x
                  for x in (k if isinstance(k, tuple) else (k,)))
        k = tuple(pd.Timestamp(x).tz_convert("UTC") if isinstance(x, (pd.Timestamp, dt.datetime)) else x for x in k)
        out[k] = None if pd.isna(v) else float(v)
    return out


def assert_same(got: dict, want: dict) -> None:
    assert set(got) == set(want), (sorted(map(str, got)), sorted(map(str, want)))
    for k, w in want.items():
        g = got[k]
        assert (g is None and w is None) or (g is not None and w is not None and math.isclose(g, w, abs_tol=1e-9)), (k, g, w)


@st.composite
def stores(draw):
    n_streams = draw(st.integers(1, 4))
    rows = []
    for i in range(n_streams):
        for _ in range(draw(st.integers(1, 6))):
            # Few distinct times (exact midnights among them), so buckets hold several events.
            offset = draw(st.one_of(st.integers(0, 4 * 4).map(lambda q: pd.Timedelta(hours=6 * q)),
                                    st.integers(0, 5 * 24).map(lambda h: pd.Timedelta(hours=h))))
            rows.append(dict(stream_id=f"s{i}", event_type=draw(st.sampled_from(TYPES)),
                             occurred_at=str(BASE + offset),
                             amount=draw(st.one_of(st.none(), st.integers(-50, 500)))))
    rows[0]["amount"] = draw(st.integers(1, 500))  # the store learns the field's type from a value
    # Commit order is the drawn order shuffled: versions follow it, times do not (backdating).
    order = draw(st.permutations(range(len(rows))))
    df = make_events([rows[i] for i in order])
    df["amount"] = df["amount"].astype("Int64")
    return df


@st.composite
def grids(draw, df):
    times = sorted(set(df["occurred_at"]))
    near = st.sampled_from(times).flatmap(lambda t: st.sampled_from([t - US, t, t + US]))
    step = draw(st.sampled_from([pd.Timedelta(days=1), pd.Timedelta(hours=12), pd.Timedelta(hours=36)]))
    start = draw(st.one_of(st.none(), near))
    end = draw(st.one_of(st.none(), near))
    if start is not None and end is not None and end < start:
        start, end = end, start
    as_of = draw(st.one_of(st.none(), near))
    known_at = draw(st.one_of(st.none(), st.integers(0, len(df))))
    return step, start, end, as_of, known_at


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_natural_operations_on_the_default_series_equal_the_naive_dense_series(tmp_path_factory, data):
    df = data.draw(stores())
    step, start, end, as_of, known_at = data.draw(grids(df))
    mode = data.draw(st.sampled_from(MODES))
    store = store_of(df, mode, tmp_path_factory.mktemp("s") / "store", appends=data.draw(st.integers(1, 3)),
                     payload_types={"amount": "BIGINT"})
    kw = dict(every=step.to_pytimedelta(), start=start, end=end, as_of=as_of, known_at=known_at)
    want = naive_dense(df, step, start, end, as_of, known_at)
    s = FOLD.snapshots(store, **kw)

    # The rows themselves.
    got_rows = s[["as_of", "stream_id", "balance", "status", "last_amount", "events"]]
    assert len(got_rows) == len(want)
    if len(want):
        assert as_dict(got_rows.set_index(["as_of", "stream_id"])["balance"]) == \
            as_dict(want.set_index(["as_of", "stream_id"])["balance"])

    # What an analyst types first.
    for col, how in (("balance", "sum"), ("last_amount", "count"), ("balance", "mean"), ("last_amount", "sum")):
        assert_same(as_dict(getattr(s.groupby("as_of")[col], how)()),
                    as_dict(getattr(want.groupby("as_of")[col], how)()))
    # Merge a lookup, then group.
    lookup = pd.DataFrame({"stream_id": list(REGION), "region": list(REGION.values())})
    assert_same(as_dict(s.merge(lookup, on="stream_id").groupby(["as_of", "region"])["balance"].sum()),
                as_dict(want.merge(lookup, on="stream_id").groupby(["as_of", "region"])["balance"].sum()))
    # Group by a state column (a missing status is a group of its own).
    assert_same(as_dict(s.groupby(["as_of", "status"], dropna=False).size()),
                as_dict(want.groupby(["as_of", "status"], dropna=False).size()))

    # The totals: ek.aggregate on the series and fold.aggregate on the store.
    lists = {"balance": ("balance", "sum"), "avg": ("balance", "mean"), "amounts": ("last_amount", "count"),
              "amount_total": ("last_amount", "sum"), "events": ("events", "sum")}
    values = lists
    additive = {"balance": ("balance", "sum"), "big": ("big", "sum"), "avg_big": ("big", "mean"),
                "n": ("stream_id", "count")}
    for by, values in ((None, values), ("status", values), (None, additive)):  # plans 2, 2, 1
        keys = ["as_of"] + ([by] if by else [])
        grouped = want.groupby(keys, dropna=False)
        expected = {"streams": as_dict(grouped.size())}
        for name, (col, fn) in values.items():
            expected[name] = as_dict(grouped[col].sum(min_count=1) if fn == "sum" else getattr(grouped[col], fn)())
        for frame in (ek.aggregate(s, by=by, values=values), FOLD.aggregate(store, by=by, values=values, **kw)):
            assert list(frame.columns) == keys + ["streams", *values, "complete"]
            indexed = frame.set_index(keys)
            for name, w in expected.items():
                assert_same(as_dict(indexed[name]), w)
    if hasattr(store, "close"):
        store.close()


@pytest.mark.parametrize("mode", MODES)
def test_the_naive_reference_sees_backdating(mode, tmp_path):
    """The reference itself: a deposit recorded last but dated first counts from its own date."""
    df = make_events([dict(stream_id="s0", event_type="Opened", occurred_at="2024-03-02", amount=None),
                      dict(stream_id="s0", event_type="Deposited", occurred_at="2024-03-01T12:00", amount=5)])
    df["amount"] = df["amount"].astype("Int64")
    want = naive_dense(df, pd.Timedelta(days=1), None, None, None, None)
    assert want["as_of"].tolist() == [pd.Timestamp("2024-03-02", tz="UTC")] and want["balance"].tolist() == [5]
    store = store_of(df, mode, tmp_path / "s", payload_types={"amount": "BIGINT"})
    got = FOLD.aggregate(store, every="1D", values={"balance": "sum"})
    assert got["balance"].tolist() == [5] and got["as_of"].tolist() == want["as_of"].tolist()
