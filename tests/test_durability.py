"""durability="full" does what the README promises; "normal" does not pay for it.

Promise (README, Guarantees): "normal" is SQLite WAL with synchronous=NORMAL; "full" also fsyncs
each commit (the WAL, after the commit, shared with concurrent commits: tests/test_wal_sync.py) and each new segment file (and the folder holding it, or a
power cut could lose the file's name). A spy on os.fsync / os.fdatasync records which paths
eventkit syncs for a bulk append, a seal and a compaction.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import eventkit as ek

SQLITE_SYNCHRONOUS = {1: "NORMAL", 2: "FULL"}


@pytest.fixture
def synced(monkeypatch) -> list[str]:
    """Every path fsynced (or fdatasynced) from Python while the test runs, in order."""
    calls: list[str] = []
    for name in ("fsync", "fdatasync"):
        real = getattr(os, name)

        def spy(fd, real=real):
            calls.append(os.readlink(f"/proc/self/fd/{fd}"))
            return real(fd)

        monkeypatch.setattr(os, name, spy)
    return calls


def _frame(n: int, prefix: str, stream_type: str | None = None) -> pd.DataFrame:
    df = pd.DataFrame({"stream_id": [f"{prefix}-{i % 5}" for i in range(n)], "event_type": "Tick", "i": range(n)})
    if stream_type:
        df["stream_type"] = stream_type
    return df


def _segments(path: Path) -> set[str]:
    return {str(p) for p in (path / "segments").rglob("*.parquet")}


@pytest.mark.parametrize("durability", ["normal", "full"])
def test_catalog_synchronous_mode(tmp_path, durability):
    """The catalog is in WAL mode with synchronous=NORMAL on every open; under "full" each commit is then
    synced by eventkit, outside the write lock (tests/test_wal_sync.py), or by SQLite (synchronous=FULL)
    where that cannot be used."""
    from eventkit.store import wal_sync

    expected = "NORMAL" if durability == "normal" or wal_sync.SUPPORTED else "FULL"
    for _ in range(2):  # created, then reopened
        with ek.open_store(tmp_path / "s", durability=durability) as store:
            conn = store._catalog.conn
            assert conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
            assert SQLITE_SYNCHRONOUS[conn.execute("PRAGMA synchronous").fetchone()[0]] == expected
            assert (store._catalog._wal_sync is not None) == (durability == "full" and wal_sync.SUPPORTED)
            store.append("a", [ek.Event("Tick", {"i": 1})])
            assert SQLITE_SYNCHRONOUS[conn.execute("PRAGMA synchronous").fetchone()[0]] == expected


def test_default_durability_is_normal(tmp_path):
    with ek.open_store(tmp_path / "s") as store:
        assert store.durability == "normal"
        assert store._catalog.conn.execute("PRAGMA synchronous").fetchone()[0] == 1


def test_unknown_durability_is_refused(tmp_path):
    with pytest.raises(ek.EventKitError, match="durability"):
        ek.open_store(tmp_path / "s", durability="fsync")


def _expect_file_and_folders(calls: list[str], new_files: set[str], root: Path) -> None:
    """Each new segment file was synced, then its folder, and every folder created for it in its parent."""
    assert new_files, "the operation wrote no segment"
    for f in new_files:
        assert f in calls, f"{f} was not fsynced"
        after = calls[calls.index(f) + 1:]
        assert str(Path(f).parent) in after, f"the folder of {f} was not fsynced after it"


def test_full_fsyncs_bulk_append_segments_and_their_folders(tmp_path, synced):
    path = tmp_path / "s"
    with ek.open_store(path, durability="full", bulk_threshold=10) as store:
        store.append_frame(_frame(40, "a", "account"))
        first = _segments(path)
        _expect_file_and_folders(synced, first, path)
        # The stream_type folder and segments/ were created by this append: their entries in
        # their parents must be durable too.
        assert str(path / "segments") in synced and str(path) in synced
        synced.clear()
        store.append_frame(pd.concat([_frame(20, "b", "account"), _frame(20, "c", "customer")]))
        second = _segments(path) - first
        assert len(second) == 2  # one file per stream type
        _expect_file_and_folders(synced, second, path)
        assert str(path / "segments") in synced  # the new customer folder's entry


def test_full_fsyncs_sealed_and_compacted_segments(tmp_path, synced):
    path = tmp_path / "s"
    with ek.open_store(path, durability="full", bulk_threshold=10**9, grace_seconds=0) as store:
        for part in range(3):
            for i in range(4):
                store.append(f"a-{i}", [ek.Event("Tick", {"i": i})], stream_type="account")
            synced.clear()
            before = _segments(path)
            assert store.seal() == 4
            _expect_file_and_folders(synced, _segments(path) - before, path)
        synced.clear()
        before = _segments(path)
        result = store.compact(target_events=100)
        assert result.new_segments == 1 and result.merged_segments == 3
        _expect_file_and_folders(synced, _segments(path) - before, path)


def test_normal_does_not_fsync_segment_files(tmp_path, synced):
    """The documented difference: under "normal" no segment file or folder is fsynced."""
    path = tmp_path / "s"
    with ek.open_store(path, bulk_threshold=10, grace_seconds=0) as store:
        synced.clear()  # creating a store makes its catalog durable whatever the mode
        store.append_frame(_frame(40, "a", "account"))
        store.append("x", [ek.Event("Tick", {"i": 1})], stream_type="account")
        store.seal()
        store.compact(target_events=1000)
        assert len(_segments(path)) == 1
    assert synced == []


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_full_syncs_every_commit_at_the_system_call_level(tmp_path):
    """Under "full" each of 50 sequential appends is synced (counted with strace); "normal" does not."""
    counts = {}
    for durability in ("normal", "full"):
        out = tmp_path / f"strace-{durability}.txt"
        code = (f"import eventkit as ek\ns = ek.open_store({str(tmp_path / durability)!r}, durability={durability!r})\n"
                "for i in range(50):\n    s.append('a', [ek.Event('T', {'i': i})])\ns.close()\n")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        proc = subprocess.run(["strace", "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", str(out),
                               sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 and "ptrace" in proc.stderr:
            pytest.skip("strace cannot trace here: " + proc.stderr.strip()[:200])
        assert proc.returncode == 0, proc.stderr
        counts[durability] = sum(int(line.split()[3]) for line in out.read_text().splitlines()
                                 if line.split() and line.split()[-1] in ("fsync", "fdatasync"))
    assert counts["full"] >= 50, counts
    assert counts["normal"] < 25, counts
