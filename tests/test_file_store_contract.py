"""The file store contract: what every place that holds a store's data files must do.

Every test takes the ``files`` fixture, parametrised over :data:`FILE_STORE_KINDS`: a second
implementation (object storage) is added there and runs this suite unchanged, the way the
eventsourcing library reuses its recorder test cases for every backend. Today: the local folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import eventkit as ek
from eventkit.store.file_store import FileStore, LocalFolder, open_file_store


def _write_bytes(data: bytes):
    def write(local: str) -> None:
        with open(local, "wb") as fh:
            fh.write(data)

    return write


#: Every file store implementation, by name; ``make_files`` makes an empty one of each.
FILE_STORE_KINDS = ["local"]


def make_files(kind: str, tmp_path: Path) -> FileStore:
    if kind == "local":
        return LocalFolder(tmp_path / "store")
    raise ValueError(kind)


@pytest.fixture(params=FILE_STORE_KINDS)
def files(request, tmp_path: Path) -> FileStore:
    return make_files(request.param, tmp_path)


def test_is_a_file_store(files: FileStore) -> None:
    assert isinstance(files, FileStore)

def test_a_written_file_reads_back_exactly(files: FileStore) -> None:
    data = bytes(range(256)) * 10
    stored = files.write_once("segments/a/x.bin", _write_bytes(data))
    assert stored.path == "segments/a/x.bin" and stored.size == len(data)
    assert files.read_bytes("segments/a/x.bin") == data
    assert files.exists("segments/a/x.bin")

def test_written_once_a_second_write_is_refused_and_the_first_kept(files: FileStore) -> None:
    files.write_once("f/x.bin", _write_bytes(b"first"))
    with pytest.raises(ek.StoreError, match="written once"):
        files.write_once("f/x.bin", _write_bytes(b"second"))
    assert files.read_bytes("f/x.bin") == b"first"
    assert [f.path for f in files.listing("f")] == ["f/x.bin"]

def test_a_failed_write_leaves_no_file(files: FileStore) -> None:
    def half(local: str) -> None:
        with open(local, "wb") as fh:
            fh.write(b"half a file")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        files.write_once("f/broken.bin", half)
    assert not files.exists("f/broken.bin")
    assert files.listing("f") == []

def test_durable_write_reads_back(files: FileStore) -> None:
    files.write_once("deep/er/x.bin", _write_bytes(b"abc"), fsync=True)
    assert files.read_bytes("deep/er/x.bin") == b"abc"

def test_listing_is_recursive_sorted_and_filtered(files: FileStore) -> None:
    for name in ("s/b/2.parquet", "s/a/1.parquet", "s/a/notes.txt", "other/3.parquet"):
        files.write_once(name, _write_bytes(name.encode()))
    listed = files.listing("s", suffix=".parquet")
    assert [f.path for f in listed] == ["s/a/1.parquet", "s/b/2.parquet"]
    assert [f.size for f in listed] == [len(b"s/a/1.parquet"), len(b"s/b/2.parquet")]
    assert all(f.modified > 0 for f in listed)
    assert files.listing("missing") == []

def test_delete_removes_and_a_missing_file_is_no_error(files: FileStore) -> None:
    files.write_once("d/x.bin", _write_bytes(b"x"))
    assert files.delete("d/x.bin") is True
    assert not files.exists("d/x.bin")
    assert files.delete("d/x.bin") is False
    with pytest.raises(FileNotFoundError):
        files.read_bytes("d/x.bin")
    files.write_once("d/x.bin", _write_bytes(b"again"))  # a deleted name may be written anew
    assert files.read_bytes("d/x.bin") == b"again"

def test_duckdb_reads_a_parquet_file_by_its_url(files: FileStore) -> None:
    table = pa.table({"position": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", None]})
    files.write_once("segments/t.parquet", lambda local: pq.write_table(table, local))
    con = duckdb.connect()
    got = con.sql(f"SELECT * FROM read_parquet('{files.url('segments/t.parquet')}') ORDER BY position")
    assert got.to_arrow_table().equals(table)

@pytest.mark.parametrize("bad", ["", "/etc/passwd", "../outside.bin", "a/../../outside.bin"])
def test_paths_stay_inside_the_store(files: FileStore, bad: str) -> None:
    with pytest.raises(ek.StoreError, match="relative"):
        files.write_once(bad, _write_bytes(b"x"))


def test_replace_writes_whole_and_overwrites(files: FileStore) -> None:
    """For derived files (the segment manifest): written whole, replacing what was there."""
    first = files.replace("segments/_live.json", b'{"files": []}')
    assert first.path == "segments/_live.json" and first.size == len(b'{"files": []}')
    files.replace("segments/_live.json", b'{"files": ["a"]}', fsync=True)
    assert files.read_bytes("segments/_live.json") == b'{"files": ["a"]}'
    assert [f.path for f in files.listing("segments", suffix=".json")] == ["segments/_live.json"]


def test_open_file_store_gives_the_folder(tmp_path: Path) -> None:
    files = open_file_store(tmp_path / "s")
    assert isinstance(files, FileStore)
    files.write_once("x/y.bin", _write_bytes(b"y"))
    assert (tmp_path / "s" / "x" / "y.bin").read_bytes() == b"y"


def test_a_store_keeps_segments_and_fold_states_in_its_file_store(tmp_path: Path) -> None:
    """The store's segment and fold-state files are the ones its file store lists."""
    import pandas as pd

    store = ek.open_store(tmp_path / "s", seal_threshold=1)
    store.append_frame(pd.DataFrame({"stream_id": ["a", "b"], "event_type": "E", "n": [1, 2]}))
    store.seal()
    fold = ek.Fold("f", fields={"n": ek.sum("n")})
    fold.save_snapshot(store)
    segments = [f.path for f in store.files.listing("segments", suffix=".parquet")]
    assert segments and all(store.files.exists(p) for p in segments)
    assert store.fold_states()["path"].tolist() == [f.path for f in store.files.listing("fold_states")]
    assert fold.state(store)["n"].tolist() == [1, 2]
    ids = store.project(lambda b: b[["event_id", "stream_id"]], name="ids")
    ids.run_once()
    assert ids.files == [store.files.url(f.path) for f in store.files.listing("projections/ids", suffix=".parquet")]
    assert len(ids.files) == 1 and ids.df()["stream_id"].tolist() == ["a", "b"]
    manifest = json.loads(store.files.read_bytes("segments/_live.json"))
    assert manifest["files"] == segments
