"""A fold reading one payload field scans only that field of the segments (issue 12, item 6).

Any UNION in the ``events`` view (the typed empty relation, the hot rows) stops DuckDB pushing
``data.<field>`` into the Parquet scan, so the whole payload struct was read for every fold: about
a fifth of a declarative fold's CPU on the bank sample. A store whose segment files alone carry its
schema is now scanned without it; every other read keeps the typed relation and gives the same
events.
"""

from __future__ import annotations

import pandas as pd

import eventkit as ek


def _scan_projection(store) -> str:
    con = store.snapshot().connect()
    plan = con.sql("EXPLAIN SELECT sum(data.amount) FROM events").fetchall()[0][1]
    scan = plan[plan.index("READ_PARQUET"):]
    return scan[scan.index("Projections:"):].split("\n", 1)[0]


def _frame(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"stream_id": [f"s{i % 3}" for i in range(start, start + n)],
                         "event_type": "Deposited", "amount": [float(i) for i in range(n)],
                         "note": ["x"] * n, "occurred_at": pd.Timestamp("2025-01-01", tz="UTC")})


def test_a_sealed_store_pushes_payload_fields_into_the_scan(tmp_path):
    """Only data.amount is read from the files for sum(data.amount)."""
    store = ek.open_store(tmp_path / "s", bulk_threshold=1)
    store.append_frame(_frame(10))
    assert "data.amount" in _scan_projection(store)
    assert store.sql("SELECT sum(data.amount) FROM events").fetchall()[0][0] == 45.0


def test_reads_that_need_the_typed_relation_keep_it(tmp_path):
    """Hot rows, or files lacking a field of the store, still read every field with its type."""
    store = ek.open_store(tmp_path / "s", bulk_threshold=5)
    store.append_frame(_frame(10))                                      # a segment: amount, note
    store.append("s9", [ek.Event("Renamed", {"name": "z"})], stream_type="other")  # hot: name
    snap = store.snapshot()
    con = snap.prepare()
    assert not snap.files_carry_schema(con)
    got = store.sql("SELECT data.name, data.amount FROM events ORDER BY position").fetchall()
    assert got[-1] == ("z", None) and got[0] == (None, 0.0)
    store.seal()
    snap = store.snapshot()
    assert snap.files_carry_schema(snap.prepare())
    # A bulk segment of another stream type holding only 'name': a read pruned to the first
    # type scans files without 'name', and still sees the field (NULL).
    store.append_frame(pd.DataFrame({"stream_id": "t1", "stream_type": "other", "event_type": "Renamed",
                                     "name": list("abcdef"), "occurred_at": pd.Timestamp("2025-01-02", tz="UTC")}))
    snap = store.snapshot()
    assert snap.files_carry_schema(snap.prepare())
    pruned = store.snapshot(stream_types=[store.read_stream("s0")["stream_type"].iloc[0]])
    assert not pruned.files_carry_schema(pruned.prepare())
    rel = pruned.connect().sql("SELECT data FROM events")
    assert {n for n, _ in rel.types[0].children} == {"amount", "note", "name"}


def _view_sql(store) -> str:
    con = store.snapshot().connect()
    return con.sql("SELECT sql FROM duckdb_views() WHERE view_name = 'events'").fetchall()[0][0]


def test_files_of_one_schema_are_scanned_without_union_by_name(tmp_path):
    """Binding ``union_by_name`` reads every file's footer at every query on the view (about 2.5 ms
    a file; a fold binds its view four or five times): files that share the store's schema, column
    for column, need only one. Files that differ keep it, and read the same events either way."""
    store = ek.open_store(tmp_path / "s", bulk_threshold=1)
    store.append_frame(_frame(10))
    store.append_frame(_frame(10, 10))
    assert len(store.snapshot().files) == 2
    assert "union_by_name = false" in _view_sql(store) and "_ek_empty" not in _view_sql(store)
    assert store.sql("SELECT count(*), sum(data.amount) FROM events").fetchall() == [(20, 90.0)]
    later = _frame(4, 20).assign(rate=[0.5, 1.5, 2.5, 3.5])   # a new field: the older files lack it
    store.append_frame(later)
    assert "union_by_name = true" in _view_sql(store)
    got = store.sql("SELECT count(*), sum(data.amount), sum(data.rate), count(data.rate) FROM events").fetchall()
    assert got == [(24, 96.0, 8.0, 4)]



def test_every_read_shares_the_instance_parquet_metadata_cache(tmp_path):
    """A plain ``SET parquet_metadata_cache`` on the store's DuckDB instance was local to its root
    connection: the cursors every read runs on parsed each segment's footer again at every bind."""
    store = ek.open_store(tmp_path / "s", bulk_threshold=1)
    store.append_frame(_frame(10))
    for con in (store.snapshot().connect(), store.snapshot().connect()):
        assert con.sql("SELECT current_setting('parquet_metadata_cache')").fetchall() == [(True,)]
