"""Reads: streams, the whole log, SQL over one consistent snapshot, transaction-time travel."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

import eventkit as ek


@pytest.fixture
def bank(store):
    store.append("a", [ek.Event("Opened", {"owner": "ann"}, occurred_at="2024-01-01T00:00:00Z"),
                       ek.Event("Deposited", {"amount": 100}, occurred_at="2024-01-02T00:00:00Z"),
                       ek.Event("Withdrawn", {"amount": 30}, occurred_at="2024-01-05T00:00:00Z")],
                 stream_type="account")
    store.append_frame(pd.DataFrame({
        "stream_id": ["b", "b"], "event_type": ["Opened", "Deposited"], "owner": ["bob", None],
        "amount": [None, 7.5], "occurred_at": pd.to_datetime(["2024-01-03", "2024-01-04"], utc=True),
    }), stream_type="account")
    store.append("order-1", ek.Event("Placed", {"total": 3}), stream_type="order")
    return store


def test_read_stream_version_order_and_ranges(bank):
    df = bank.read_stream("a")
    assert df["version"].tolist() == [1, 2, 3]
    assert df["event_type"].tolist() == ["Opened", "Deposited", "Withdrawn"]
    assert bank.read_stream("a", from_version=2)["version"].tolist() == [2, 3]
    assert bank.read_stream("a", to_version=2)["version"].tolist() == [1, 2]
    assert bank.read_stream("a", backwards=True)["version"].tolist() == [3, 2, 1]
    with pytest.warns(ek.EventKitWarning, match="no stream 'missing'"):
        assert bank.read_stream("missing").empty


def test_flat_payload_columns(bank):
    df = bank.read_stream("a")
    assert {"owner", "amount", "total"} <= set(df.columns)
    assert df["amount"].tolist()[1:] == [100, 30]
    assert list(df.columns[:8]) == ["position", "stream_id", "stream_type", "version", "event_type", "event_id",
                                     "occurred_at", "recorded_at"]


def test_arrow_output(bank):
    t = bank.read_all(output="arrow")
    assert isinstance(t, pa.Table) and t.num_rows == 6
    assert t.schema.field("occurred_at").type == pa.timestamp("us", tz="UTC")


def test_read_all_filters(bank):
    assert bank.read_all(event_types=["Opened"])["stream_id"].tolist() == ["a", "b"]
    assert bank.read_all(stream_types=["order"])["stream_id"].tolist() == ["order-1"]
    assert bank.read_all(from_position=3, to_position=4)["position"].tolist() == [3, 4]
    assert bank.read_all(stream_ids=["b"])["version"].tolist() == [1, 2]
    got = bank.read_all(occurred_between=("2024-01-02", dt.datetime(2024, 1, 4)))
    assert got["event_type"].tolist() == ["Deposited", "Opened"]
    assert bank.read_all(limit=2)["position"].tolist() == [1, 2]


def test_sql_payload_is_typed(bank):
    rel = bank.sql("SELECT stream_id, sum(data.amount) AS total FROM events WHERE stream_type = 'account' "
                   "GROUP BY 1 ORDER BY 1")
    assert rel.fetchall() == [("a", 130.0), ("b", 7.5)]
    types = dict(zip(*[bank.sql("SELECT data.amount, data.owner FROM events").columns,
                      bank.sql("SELECT data.amount, data.owner FROM events").types]))
    assert str(types["amount"]) == "DOUBLE" and str(types["owner"]) == "VARCHAR"


def test_sql_params_and_relation_outlives_call(bank):
    rel = bank.sql("SELECT count(*) FROM events WHERE stream_id = ?", params=["a"])
    assert rel.fetchall() == [(3,)]


def test_known_at_position_and_time(bank):
    assert bank.read_all(known_at=3)["position"].tolist() == [1, 2, 3]
    assert bank.sql("SELECT count(*) FROM events", known_at=0).fetchall() == [(0,)]
    cut = bank.read_all()["recorded_at"].iloc[3]  # the frame append's commit time
    assert bank.read_all(known_at=cut)["position"].tolist() == [1, 2, 3, 4, 5]
    assert bank.read_stream("b", known_at=4)["version"].tolist() == [1]


def test_snapshot_does_not_see_later_appends(store):
    """Invariant 6 (read side): a connection keeps the snapshot it was opened on."""
    store.append("s", ek.Event("A", {"n": 1}))
    con = store.connect()
    store.append("s", ek.Event("B", {"n": 2}))
    store.append_frame(pd.DataFrame({"stream_id": ["t"] * 3, "event_type": "C", "n": [3, 4, 5]}))
    assert con.sql("SELECT count(*) FROM events").fetchall() == [(1,)]
    assert store.sql("SELECT count(*) FROM events").fetchall() == [(5,)]


def test_new_field_visible_with_old_snapshot_cut(store):
    store.append("s", ek.Event("A", {"n": 1}))
    store.append("s", ek.Event("B", {"label": "x"}))
    assert store.sql("SELECT data.label FROM events", known_at=1).fetchall() == [(None,)]


def test_info_summarises(bank):
    info = bank.info()
    assert (info.events, info.streams) == (6, 3)
    assert dict(zip(info.event_types.event_type, info.event_types.events))["Opened"] == 2
    assert "Deposited" in str(info) and "6 in 3 streams" in str(info)


def test_empty_store_reads(fresh_store):
    assert fresh_store.read_all().empty
    assert fresh_store.sql("SELECT count(*) FROM events").fetchall() == [(0,)]
    assert fresh_store.info().events == 0


def _count_in_child(store, queue):
    queue.put(store.sql("SELECT count(*) FROM events").fetchall()[0][0])


def test_forked_child_reads_after_parent_read(fresh_store):
    """Regression: a child forked after the parent's reads must not hang on the inherited DuckDB."""
    import multiprocessing

    fresh_store.append("s", ek.Event("A", {"n": 1}))
    rel = fresh_store.sql("SELECT count(*) FROM events")
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_count_in_child, args=(fresh_store, queue))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0, "the forked reader hung or failed"
    assert queue.get(timeout=5) == 1
    assert rel.fetchall() == [(1,)]  # the parent's relation still works


def test_wide_payload_reads_back_exactly_with_duckdb_conversions(tmp_path):
    """Issue 7 item 18: reads of a payload with thousands of fields take a faster path (Arrow flattening
    and pyarrow conversion); it must give exactly what DuckDB's own conversion gives, nulls included."""
    import datetime as dt

    import duckdb

    from eventkit.store.read_frames import WIDE_FIELDS as _WIDE

    store = ek.open_store(tmp_path / "s")
    n = _WIDE + 50
    full = {f"i{k}": k for k in range(n // 5)}
    full |= {f"f{k}": k + 0.5 for k in range(n // 5)}
    full |= {f"s{k}": f"v{k}" for k in range(n // 5)}
    full |= {f"b{k}": bool(k % 2) for k in range(n // 5)}
    full |= {f"d{k}": dt.date(2024, 1, 1 + k % 28) for k in range(n // 10)}
    full |= {f"t{k}": dt.datetime(2024, 1, 1, k % 24, tzinfo=dt.timezone.utc) for k in range(n // 10)}
    sparse = {"i0": 7, "s1": "only"}
    store.append("w", [ek.Event("Wide", full), ek.Event("Sparse", sparse, metadata={"m": "1"}), ek.Event("Wide", full)])
    store.append("v", ek.Event("Sparse", {"b0": True}))
    assert len(store.fields) > _WIDE

    def reference(where="true", order="position"):
        snap = store.snapshot()
        con = snap.connect()
        payload = ", ".join(f'data."{f}" AS "{f}"' for f in snap.fields)
        return con.sql(f"SELECT position, stream_id, stream_type, version, event_type, event_id, occurred_at, "
                       f"recorded_at, metadata, {payload} FROM events WHERE {where} ORDER BY {order}").df()

    for sealed in (False, True):
        if sealed:
            store.seal()
        pd.testing.assert_frame_equal(store.read_all(), reference())
        back = store.read_stream("w", backwards=True)
        pd.testing.assert_frame_equal(back, reference("stream_id = 'w'", "position DESC"))
        assert back["i0"].tolist() == [0, 7, 0] and back["s1"].tolist() == ["v1", "only", "v1"]
        only_v = store.read_all(stream_ids=["v"])
        assert only_v["b0"].tolist() == [True] and only_v["s2"].tolist() == [None]
        pd.testing.assert_frame_equal(only_v, reference("stream_id = 'v'"))
        assert store.read_all(limit=2)["position"].tolist() == [1, 2]
        assert duckdb.__version__  # the reference above is DuckDB's own conversion


def test_a_close_from_another_thread_while_a_read_starts_its_instance_never_gives_none(monkeypatch):
    """The store's DuckDB instance is started on first use; a close() landing between the start and
    the return (another thread) left the read with None ("'NoneType' object has no attribute 'cursor'",
    seen once in CI in the eventsourcing recorder's concurrency test). The read keeps the instance it made."""
    import duckdb

    from eventkit.store import read_snapshot

    shared = read_snapshot.SharedDatabase()
    real = duckdb.connect

    class ClosesOnFirstUse:  # the instance, with a close() from another thread during its set-up
        def __init__(self, db):
            self.db = db

        def execute(self, *args):
            shared.close()  # what another thread's store.close() does at this moment
            return self.db.execute(*args)

        def __getattr__(self, name):
            return getattr(self.db, name)

    def connect_then_close(*args, **kwargs):
        return ClosesOnFirstUse(real(*args, **kwargs))

    monkeypatch.setattr(read_snapshot.duckdb, "connect", connect_then_close)
    db = shared.instance()
    assert db is not None and db.execute("SELECT 1").fetchall() == [(1,)]
    monkeypatch.setattr(read_snapshot.duckdb, "connect", real)
    with pytest.raises(ek.StoreError, match="closed"):
        shared.instance()
