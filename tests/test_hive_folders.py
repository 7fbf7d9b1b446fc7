"""No read depends on the names of the folders above a store (issue 7, item 1).

DuckDB reads ``key=value`` folders anywhere in a path as hive partitions; a store under
``/lake/version=7/bank`` had ``version`` overridden on every sealed event, compaction wrote the
wrong values for good, and under ``position=5/`` every sealed event vanished after a compaction.
"""

from __future__ import annotations

import pandas as pd
import pytest

import eventkit as ek

FOLDERS = ["version=7", "position=5", "stream_id=x", "stream_type=zz", "event_type=Q", "event_id=e",
           "year=2024", "n=99"]


def _fill(store: ek.Store) -> None:
    for i in range(6):
        store.append(f"a{i % 3}", [ek.Event("E", {"n": i})], stream_type="acct")
        if i % 2:
            store.seal()
    store.append_frame(pd.DataFrame({"stream_id": ["b0", "b1", "b0"], "event_type": "F", "n": [10, 11, 12]}),
                       stream_type="acct")


def _expected() -> pd.DataFrame:
    rows = [(i + 1, f"a{i % 3}", "acct", i // 3 + 1, "E", i) for i in range(6)]
    rows += [(7, "b0", "acct", 1, "F", 10), (8, "b1", "acct", 1, "F", 11), (9, "b0", "acct", 2, "F", 12)]
    return pd.DataFrame(rows, columns=["position", "stream_id", "stream_type", "version", "event_type", "n"])


def _envelope(store: ek.Store) -> pd.DataFrame:
    df = store.read_all()[["position", "stream_id", "stream_type", "version", "event_type", "n"]]
    return df.astype({"position": "int64", "version": "int64", "n": "int64"}).reset_index(drop=True)


@pytest.mark.parametrize("folder", FOLDERS)
def test_hive_like_folder_above_the_store_changes_nothing(tmp_path, folder):
    """Append, seal, compact, read, fold and persisted fold states under a key=value folder."""
    store = ek.open_store(tmp_path / folder / "bank", bulk_threshold=2, grace_seconds=0)
    _fill(store)
    expected = _expected()
    pd.testing.assert_frame_equal(_envelope(store), expected, check_dtype=False)
    store.seal()
    assert store.info().segments >= 3
    result = store.compact()
    assert result.merged_segments >= 2
    pd.testing.assert_frame_equal(_envelope(store), expected, check_dtype=False)
    ids = store.read_all()["event_id"].tolist()
    assert len(set(ids)) == 9 and "e" not in ids
    assert store.read_stream("a1")["n"].tolist() == [1, 4]
    assert store.sql("SELECT count(*), sum(version), sum(data.n) FROM events").fetchall() == [(9, 13, 48)]

    fold = ek.Fold("acct", fields={"total": ek.sum("n"), "events": ek.count()})
    state = fold.state(store).set_index("stream_id")
    assert state["total"].to_dict() == {"a0": 3, "a1": 5, "a2": 7, "b0": 22, "b1": 11}
    fold.save_snapshot(store)
    store.append("a0", ek.Event("E", {"n": 100}))
    again = fold.state(store).set_index("stream_id")
    assert again.loc["a0", "total"] == 103 and again.loc["a0", "events"] == 3
    assert list(again.columns[:2]) == ["total", "events"]
    store.close()

    reopened = ek.open_store(tmp_path / folder / "bank")
    assert reopened.read_all()["n"].sum() == 148
    reopened.close()


@pytest.mark.parametrize("folder", ["year=2024", "stream_id=x", "position=5"])
def test_projection_under_a_hive_like_folder_reads_its_own_rows(tmp_path, folder):
    """A projection's Parquet files are read without columns taken from folder names."""
    store = ek.open_store(tmp_path / folder / "bank")
    for i in range(4):
        store.append(f"s{i}", ek.Event("E", {"n": i}))
    proj = store.project(lambda b: pd.DataFrame({"stream_id": b["stream_id"], "year": 1999, "position": b["n"]}),
                         name="p", key="stream_id", batch_size=1)
    proj.run_once()
    proj.compact()
    df = proj.df()
    assert list(df.columns) == ["stream_id", "year", "position"]
    assert df["year"].tolist() == [1999] * 4 and df["position"].tolist() == [0, 1, 2, 3]
    store.close()
