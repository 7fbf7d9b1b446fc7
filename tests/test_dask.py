"""Folds on a Dask cluster (``scheduler=client``) give the local fold's answer exactly.

One in-process LocalCluster of two workers serves the whole session (starting one costs about a
second); one test starts a cluster of worker *processes* to prove every task argument pickles.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings

import eventkit as ek
from eventkit.fold.distributed import SnapshotPart, split, take_snapshot

from _budget import budget
from _foldhelpers import real_store
from test_fold_property import DECL, PropPy, cases

distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed (pip install 'eventkit[dask]')")


@pytest.fixture(scope="session")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    # ``complete`` compares each point with "now", taken once per call: not part of the fold.
    drop = [c for c in ("complete",) if c in want.columns]
    pd.testing.assert_frame_equal(got.drop(columns=drop), want.drop(columns=drop))


@pytest.mark.filterwarnings("ignore::eventkit.EventKitWarning")  # stores with no 'account' stream
@settings(max_examples=budget(10))
@given(case=cases())
def test_dask_folds_equal_local_folds(client, tmp_path_factory, case):
    """state, snapshots and changes, declarative and Python, on any storage mode and any cut."""
    df, as_of, known_at, mode = case
    store = real_store(df, tmp_path_factory.mktemp("s"), mode)
    try:
        cut = dict(as_of=as_of, known_at=known_at)
        _same(DECL.state(store, scheduler=client, **cut), DECL.state(store, **cut))
        _same(PropPy().state(store, scheduler=client, **cut), PropPy().state(store, workers=1, **cut))
        _same(DECL.snapshots(store, every="1D", scheduler=client, **cut), DECL.snapshots(store, every="1D", **cut))
        _same(DECL.changes(store, every="1D", scheduler=client, **cut), DECL.changes(store, every="1D", **cut))
        _same(PropPy().snapshots(store, every="1D", scheduler=client, **cut),
              PropPy().snapshots(store, every="1D", workers=1, **cut))
        if known_at is None or isinstance(known_at, int):
            _same(DECL.snapshots(store, every=3, scheduler=client, **cut), DECL.snapshots(store, every=3, **cut))
    finally:
        store.close()


def _bank_store(path, segments: int = 6):
    from eventkit.sample import bank_events

    store = ek.open_store(path, bulk_threshold=50)
    frame = bank_events(accounts=40, days=120, seed=5, events_per_account=8)
    step = len(frame) // segments + 1
    for i in range(0, len(frame), step):
        store.append_frame(frame.iloc[i:i + step])  # one segment each: streams span segments
    store.append("acct-00001", [ek.Event("Deposited", {"amount": 12.5})], stream_type="account")  # hot row
    return store


BANK = ek.Fold("account", stream_type="account", fields={
    "balance": ek.sum("amount", event_types=["Deposited", "InterestPaid"])
               - ek.sum("amount", event_types=["Withdrawn", "FeeCharged"]),
    "status": ek.last_event_type({"Opened": "open", "Frozen": "frozen", "Unfrozen": "open", "Closed": "closed"}),
    "opened": ek.first("occurred_at", event_types="Opened"),
    "largest": ek.max("amount"),
    "deposits": ek.count(event_types="Deposited"),
})


def test_a_stream_spread_over_segments_and_hot_log_folds_once(client, tmp_path):
    """Partials of one stream from several segment groups and the hot log combine to one row."""
    store = _bank_store(tmp_path / "s")
    snap = take_snapshot(store, known_at=None, stream_type="account", streams=None)
    parts = split(snap, 4)
    assert len(parts) == 5 and parts[-1].contents.hot.num_rows == 1  # 4 groups of files + the hot rows
    got = BANK.state(store, scheduler=client)
    want = BANK.state(store)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)
    assert got["stream_id"].is_unique and len(got) == 40
    _same(BANK.snapshots(store, every="1W", start="2025-01-01", scheduler=client),
          BANK.snapshots(store, every="1W", start="2025-01-01"))
    one = BANK.state(store, streams="acct-00001", as_of="2025-03-01", scheduler=client)
    pd.testing.assert_frame_equal(one, BANK.state(store, streams="acct-00001", as_of="2025-03-01"))


def test_upcasters_apply_on_the_workers(client, tmp_path):
    """The store's upcasters shape the events each task reads, as they do locally."""
    store = ek.open_store(tmp_path / "s", bulk_threshold=1)
    store.append("a", [ek.Event("Deposited", {"amt": 5})], stream_type="account")
    store.append("a", [ek.Event("Deposited", {"amount": 7})], stream_type="account")
    store.register_upcaster(ek.Upcaster("Deposited", rename={"amt": "amount"}))
    fold = ek.Fold("f", fields={"total": ek.sum("amount")})
    got = fold.state(store, scheduler=client)
    # Both events are schema version 1: the rename moves 5 into amount and empties the 7 (7 unupcast).
    assert got["total"].tolist() == [5]
    pd.testing.assert_frame_equal(got, fold.state(store))


def test_a_bad_scheduler_or_store_is_refused_up_front(client, tmp_path):
    """scheduler= takes a Dask client; a fold on Dask needs an event store (the file list)."""
    store = _bank_store(tmp_path / "s", segments=2)
    with pytest.raises(ek.InvalidFold, match="not a dask.distributed Client"):
        BANK.state(store, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ek.InvalidFold, match="not a dask.distributed Client"):
        PropPy().state(store, scheduler=object())
    with pytest.raises(ek.InvalidFold, match="is not in the store"):
        ek.Fold("f", fields={"x": ek.sum("nope")}).state(store, scheduler=client)
    from _foldhelpers import frame_store, make_events

    double = frame_store(make_events([dict(stream_id="a", event_type="E", amount=1, occurred_at="2024-01-01")]), tmp_path)
    with pytest.raises(ek.InvalidFold, match="event store"):
        ek.Fold("f", fields={"n": ek.count()}).state(double, scheduler=client)


@pytest.mark.slow
def test_worker_processes_receive_picklable_tasks(tmp_path):
    """With worker processes every task argument crosses a process boundary (cloudpickle)."""
    store = _bank_store(tmp_path / "s", segments=3)
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    try:
        with distributed.Client(cluster) as c:
            pd.testing.assert_frame_equal(BANK.state(store, scheduler=c), BANK.state(store),
                                          check_exact=False, rtol=1e-12)

            class Count(ek.PyFold):
                stream_type = "account"

                def initial(self):
                    return {"n": 0}

                @ek.on("*")
                def every(self, s, e):
                    s["n"] += 1

            pd.testing.assert_frame_equal(Count().state(store, scheduler=c), Count().state(store, workers=1))
    finally:
        cluster.close()


def test_snapshot_part_reads_its_slice_only(tmp_path):
    """A part's ``events`` view holds its own files' events under the snapshot's cut."""
    store = _bank_store(tmp_path / "s", segments=3)
    snap = take_snapshot(store, known_at=20, stream_type=None, streams=None)
    parts = split(snap, 8)
    assert all(isinstance(p, SnapshotPart) for p in parts)
    seen = []
    for p in parts:
        con = p.connect()
        seen += [r[0] for r in con.sql("SELECT position FROM events").fetchall()]
    assert sorted(seen) == list(range(1, 21))


def test_a_store_with_personal_fields_is_refused_before_any_work(client, tmp_path):
    """Workers cannot reveal personal fields (their keys stay with the catalog): a Dask fold of such a
    store is refused with a clear error naming the fields, not a DuckDB error from a worker, and a local
    fold still works."""
    store = ek.open_store(tmp_path / "s", bulk_threshold=1)
    store.declare_personal(stream_type="customer", fields=["name"])
    store.append_frame(pd.DataFrame({"stream_id": ["c-1", "c-2"], "stream_type": "customer",
                                     "event_type": "Registered", "name": ["Ann", "Bob"], "tier": [1, 2]}))
    fold = ek.Fold("customer", stream_type="customer", fields={"name": ek.last("name"), "tier": ek.last("tier")})
    with pytest.raises(ek.InvalidFold, match="personal fields.*name.*fold locally"):
        fold.state(store, scheduler=client)
    assert fold.state(store).set_index("stream_id").name.to_dict() == {"c-1": "Ann", "c-2": "Bob"}
    store.close()
