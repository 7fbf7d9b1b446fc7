"""Hostile analysis inputs: points in time at the edges of what the store keeps (years 1-9999)."""

from __future__ import annotations

import datetime as dt

import pytest

import eventkit as ek

UTC = dt.timezone.utc


@pytest.fixture
def store(tmp_path):
    s = ek.open_store(tmp_path / "store")
    s.append("a", [ek.Event("Dep", {"amount": 10}, occurred_at=dt.datetime(1900, 1, 1, tzinfo=UTC))],
             stream_type="acct")
    s.append("b", [ek.Event("Dep", {"amount": 5}, occurred_at=dt.datetime(9999, 12, 31, tzinfo=UTC))],
             stream_type="acct")
    yield s
    s.close()


FOLD = ek.Fold("acct", stream_type="acct", fields={"bal": ek.sum("amount")})


@pytest.mark.parametrize("as_of", ["2300-01-01", dt.datetime(2263, 1, 1, tzinfo=UTC), "1600-06-01"])
def test_state_as_of_outside_pandas_nanosecond_range_answers(store, as_of):
    # The store keeps years 1-9999; a fold asked about 2300 (or 1600) answered OverflowError
    # (pandas' nanosecond Timestamp, used to look for a saved state), not a state.
    got = FOLD.state(store, as_of=as_of)
    want = {"2300-01-01": {"a": 10}, "1600-06-01": {}}.get(as_of if isinstance(as_of, str) else "2300-01-01")
    assert dict(zip(got.stream_id, got.bal)) == want


@pytest.mark.parametrize("call, kw", [
    ("state", {"known_at": 2**63}), ("state", {"known_at": 2**70}),
    ("snapshots", {"every": 2**63}), ("snapshots", {"every": 1, "start": 2**63}),
    ("snapshots", {"every": 1, "start": -1}), ("changes", {"every": 2**64}),
])
def test_positions_past_64_bits_are_a_fold_error(store, call, kw):
    # Were OverflowError (SQLite), duckdb OutOfRangeException and BinderException.
    with pytest.raises(ek.InvalidFold, match="position|number of events"):
        getattr(FOLD, call)(store, **kw)


def test_the_largest_positions_still_fold(store):
    assert dict(zip(*FOLD.state(store, known_at=2**63 - 1)[["stream_id", "bal"]].T.values)) == {"a": 10, "b": 5}
    series = FOLD.snapshots(store, every=2**62, start=0)  # points 0 and 2**62 (not reached yet)
    assert series.as_of.tolist() == [2**62, 2**62] and not series.complete.any()
