"""Operational safety of the store: failing seals, closing, damaged files, grace period (issue 7)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

import eventkit as ek
from conftest import store_fingerprint


def test_failed_auto_seal_does_not_report_a_committed_append_as_failed(tmp_path):
    """Item 3: the append is committed, the seal is deferred with a warning, a retry is not needed."""
    store = ek.open_store(tmp_path / "s", seal_threshold=2)
    store.append("a", ek.Event("E", {"n": 0}))
    (store.path / "segments").write_text("not a folder")  # every seal now fails on a real OS error
    with pytest.warns(ek.SealDeferredWarning, match="do not re-send"):
        result = store.append("a", ek.Event("E", {"n": 1}))
    assert result.version == 2
    with pytest.warns(ek.SealDeferredWarning):
        store.append_frame(pd.DataFrame({"stream_id": ["a"], "event_type": "E", "n": [2]}))
    assert store.read_stream("a")["n"].tolist() == [0, 1, 2]
    assert store.info().hot_events == 3
    (store.path / "segments").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.append("a", ek.Event("E", {"n": 3}))  # the next append past the threshold seals
    assert store.info().hot_events == 0
    assert store.read_stream("a")["n"].tolist() == [0, 1, 2, 3]


def test_close_with_reads_in_flight_is_safe_and_later_calls_raise_store_error(tmp_path):
    """Item 11: close() while other threads read: running reads finish, the catalog is closed,
    every later call raises StoreError (never a raw sqlite3 / DuckDB error)."""
    import threading

    import numpy as np

    store = ek.open_store(tmp_path / "s")
    n = 200_000
    store.append_frame(pd.DataFrame({"stream_id": np.arange(n).astype(str), "event_type": "E", "n": np.arange(n)}))
    started, outcomes = threading.Barrier(5), []

    def reader() -> None:
        started.wait()
        try:
            for _ in range(50):
                outcomes.append(len(store.read_all(limit=n)))
        except ek.StoreError as e:
            outcomes.append(e)
        except Exception as e:  # noqa: BLE001 - the test reports any other error
            outcomes.append(("raw", type(e).__name__, str(e)))

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    store.close()
    for t in threads:
        t.join()
    assert not [o for o in outcomes if isinstance(o, tuple)], outcomes
    assert all(o == n for o in outcomes if isinstance(o, int))
    assert sum(isinstance(o, ek.StoreError) for o in outcomes) == 4  # each reader stopped cleanly
    for call in (lambda: store.head, lambda: store.read_all(), lambda: store.sql("SELECT 1"),
                 lambda: store.append("a", ek.Event("E")), store.seal, store.compact, store.info,
                 lambda: store.read_stream("1"), lambda: store.fields):
        with pytest.raises(ek.StoreError, match="closed"):
            call()
    store.close()  # closing twice is harmless
    assert ek.open_store(tmp_path / "s").head == n


def _three_segments(path):
    store = ek.open_store(path, bulk_threshold=1)
    for sid in ("a", "b", "c"):
        store.append_frame(pd.DataFrame({"stream_id": [sid, sid], "event_type": "E", "n": [1, 2]}))
    seg_of_b = store.path / store._catalog.conn.execute(
        "SELECT s.path FROM segments s JOIN stream_segments x USING (segment_id) WHERE x.stream_id = 'b'").fetchone()[0]
    return store, seg_of_b


DAMAGES = {
    "missing": lambda p: p.unlink(),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "not parquet": lambda p: p.write_text("stream_id,event_type\nb,E\n"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_segment_gives_store_error_naming_the_file(tmp_path, damage):
    """Item 12: a missing, truncated or non-Parquet segment is a StoreError naming the file."""
    store, seg = _three_segments(tmp_path / "s")
    DAMAGES[damage](seg)
    for read in (store.read_all, lambda: store.read_stream("b"), lambda: store.sql("SELECT count(*) FROM events"),
                 lambda: ek.Fold("default", fields={"n": ek.sum("n")}).state(store), lambda: store.compact()):
        with pytest.raises(ek.StoreError, match="damaged") as info:
            read()
        assert seg.name in str(info.value)
    assert store.read_stream("a")["n"].tolist() == [1, 2]  # other streams' segments still read
    facts = store.info()
    assert list(facts.damaged) == [str(seg)]
    assert facts.event_types.events.sum() == 4 and facts.events == 6
    assert "DAMAGED" in str(facts) and seg.name in str(facts)


@pytest.mark.parametrize("damage", DAMAGES)
def test_cli_on_a_damaged_segment_prints_one_error_line(tmp_path, damage):
    """Item 12: `eventkit info` still describes the rest; info, read, compact end with one Error: line."""
    from click.testing import CliRunner

    from eventkit.cli import cli

    store, seg = _three_segments(tmp_path / "s")
    store.close()
    DAMAGES[damage](seg)
    runner = CliRunner()
    for args in (["info"], ["read", "b"], ["compact", "--no-progress"]):
        result = runner.invoke(cli, [args[0], str(tmp_path / "s"), *args[1:]])
        assert result.exit_code == 1, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output and seg.name in result.output
        assert result.output.count("Error:") == 1
    info = runner.invoke(cli, ["info", str(tmp_path / "s")])
    assert "event types" in info.output and "stream types default (3)" in info.output


def test_grace_period_is_a_property_of_the_store(tmp_path):
    """Item 17: the grace period lives in the catalog; every store object and process obeys it."""
    reader = ek.open_store(tmp_path / "s", bulk_threshold=1, grace_seconds=3600)
    for i in range(3):
        reader.append_frame(pd.DataFrame({"stream_id": ["a"], "event_type": "E", "n": [i]}))
    maintenance = ek.open_store(tmp_path / "s")  # no grace given: the store's own
    assert maintenance.grace_seconds == 3600
    con = reader.connect()
    maintenance.compact()
    assert con.sql("SELECT sum(data.n) FROM events").fetchall() == [(3,)]  # files kept for the reader
    maintenance.grace_seconds = 0
    assert reader.grace_seconds == 0 and ek.open_store(tmp_path / "s").grace_seconds == 0
    with pytest.raises(ek.InvalidInput):
        maintenance.grace_seconds = -1


def test_reader_past_the_grace_period_gets_a_clear_error(tmp_path):
    """Item 17: a snapshot whose files were removed after the grace period says so (StoreError)."""
    store = ek.open_store(tmp_path / "s", bulk_threshold=1, grace_seconds=0)
    for i in range(3):
        store.append_frame(pd.DataFrame({"stream_id": ["a"], "event_type": "E", "n": [i]}))
    snap = store.snapshot()
    store.compact()  # grace 0: the snapshot's files are gone at once
    with pytest.raises(ek.StoreError, match="snapshot has expired.*grace period of 0 s"):
        snap.connect()
    assert store.read_all()["n"].tolist() == [0, 1, 2]


@pytest.mark.slow
@pytest.mark.parametrize("existing_parent", [False, True])
def test_processes_creating_one_store_at_the_same_moment_all_succeed(tmp_path, existing_parent):
    """Item 7: 3 processes open a new store at once (repeated): all succeed, and there is one store."""
    import multiprocessing

    import _racer

    # fork: the racers start in milliseconds, so they really meet at the barrier
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    for attempt in range(5):
        path = tmp_path / f"try{attempt}" / "store"
        if existing_parent:
            path.mkdir(parents=True)
        barrier, results = ctx.Barrier(3), ctx.Queue()
        procs = [ctx.Process(target=_racer.open_and_append, args=(str(path), barrier, results)) for _ in range(3)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=120)
        assert [o[0] for o in outcomes] == ["ok"] * 3, outcomes
        assert len({o[1] for o in outcomes}) == 1  # one catalog: the same store identity for all
        store = ek.open_store(path)
        assert store.head == 3 and len(store.read_all()) == 3
        store.close()
        assert sorted(p.name for p in path.iterdir() if not p.name.startswith("catalog.sqlite")) == []


def _store_for_reading(path):
    store = ek.open_store(path, bulk_threshold=3)
    store.append("a", ek.Event("E", {"n": 1}))  # hot log
    store.append_frame(pd.DataFrame({"stream_id": ["b"] * 3, "event_type": "E", "n": [2, 3, 4]}))  # a segment
    store.close()


def _check_read_only_outcome(out: dict) -> None:
    assert out["read_all"] == [1, 2, 3, 4] and out["read_stream"] == [2, 3, 4]
    assert out["sql"] == 4 and out["info_events"] == 4 and out["fold"] == [1, 9]
    for write in ("append", "seal", "compact"):
        assert out[write].startswith("StoreError: ") and "read-only" in out[write], out


def _run_reader(path) -> dict:
    import json
    import subprocess
    import sys

    script = str(Path(__file__).with_name("_readonly_reader.py"))
    done = subprocess.run([sys.executable, script, str(path)], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("how", ["chmod", "bind mount"])
def test_read_only_folder_can_be_read_and_refuses_writes(tmp_path, how):
    """Item 8: a store this process cannot write opens for reading; a write is a clear StoreError.

    chmod binds only a non-root user; as root the folder is bind-mounted read-only instead.
    """
    import os
    import stat
    import subprocess

    path = tmp_path / "store"
    _store_for_reading(path)
    before = store_fingerprint(path)
    if how == "chmod":
        if os.geteuid() == 0:
            pytest.skip("permissions do not bind root (the bind-mount case covers it)")
        for p in [path, *path.rglob("*")]:
            os.chmod(p, p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        try:
            _check_read_only_outcome(_run_reader(path))
        finally:
            for p in [path, *path.rglob("*")]:
                os.chmod(p, p.stat().st_mode | stat.S_IWUSR)
    else:
        view = tmp_path / "view"
        view.mkdir()
        if subprocess.run(["mount", "--bind", "-o", "ro", str(path), str(view)], capture_output=True).returncode:
            pytest.skip("bind mounts are not permitted here (needs root)")
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], capture_output=True, check=True)
            _check_read_only_outcome(_run_reader(view))
        finally:
            if subprocess.run(["umount", str(view)], capture_output=True).returncode:
                subprocess.run(["umount", "-l", str(view)], capture_output=True)
    assert store_fingerprint(path) == before


class _Tmpfs:
    """A tmpfs mounted for one test (root only; the test is skipped where mounting is not permitted)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.mounted = False

    @staticmethod
    def _run(*args: str):
        import subprocess

        return subprocess.run(args, capture_output=True, text=True)

    def mount(self, size: str) -> None:
        self.path.mkdir(exist_ok=True)
        if self._run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(self.path)).returncode:
            pytest.skip("mounting a tmpfs is not permitted here (needs root)")
        self.mounted = True

    def remount_read_only(self) -> None:
        done = self._run("mount", "-o", "remount,ro", str(self.path))
        assert done.returncode == 0, done.stderr

    def unmount(self) -> None:
        if self.mounted and self._run("umount", str(self.path)).returncode:
            self._run("umount", "-l", str(self.path))


@pytest.fixture
def tmpfs(tmp_path):
    m = _Tmpfs(tmp_path / "mnt")
    yield m
    m.unmount()


def test_store_on_a_read_only_mount_can_be_read(tmpfs):
    """Item 8: on a read-only file system (no -shm can be created) the store reads; writes refuse.

    Also a store left with a -wal file by a killed writer reads every acknowledged event.
    """
    import subprocess
    import sys

    tmpfs.mount("20m")
    _store_for_reading(tmpfs.path / "s")
    killed = tmpfs.path / "killed"
    code = ("import eventkit as ek, os; s = ek.open_store(%r); s.append('c', ek.Event('E', {'n': 9})); os._exit(0)"
            % str(killed))
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert (killed / "catalog.sqlite-wal").stat().st_size > 0
    tmpfs.remount_read_only()
    _check_read_only_outcome(_run_reader(tmpfs.path / "s"))
    store = ek.open_store(killed)
    assert store.read_all()["n"].tolist() == [9]
    store.close()
    from click.testing import CliRunner

    from eventkit.cli import cli

    result = CliRunner().invoke(cli, ["read", str(tmpfs.path / "s"), "b", "--format", "csv"])
    assert result.exit_code == 0 and result.output.count("\n") == 4
    result = CliRunner().invoke(cli, ["seal", str(tmpfs.path / "s")])
    assert result.exit_code == 1 and result.output.startswith("Error:") and "read-only" in result.output


def test_full_disk_gives_store_error_and_keeps_every_acknowledged_event(tmpfs):
    """Item 13: on a full disk every write path raises StoreError (one Error: line in the CLI), the
    store stays consistent, every acknowledged event survives, and writing resumes once space is freed."""
    import json
    import os

    from click.testing import CliRunner

    from eventkit.cli import cli

    tmpfs.mount("4m")
    store = ek.open_store(tmpfs.path / "s", seal_threshold=40, bulk_threshold=50)
    filler = tmpfs.path / "filler"
    filler.write_bytes(b"\0" * (3 * 1024 * 1024))
    acked: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    for i in range(5000):
        sid = f"s{i % 7}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ek.SealDeferredWarning)  # a deferred seal is fine here
                store.append(sid, ek.Event("E", {"n": i, "pad": os.urandom(1500).hex()}))
            acked.setdefault(sid, []).append(i)
        except ek.StoreError as e:
            errors.append(e)
            if len(errors) >= 3:
                break
    assert errors and "full" in str(errors[0])
    for write in (store.seal, lambda: store.append_frame(pd.DataFrame(
            {"stream_id": ["z"] * 400, "event_type": "E", "n": range(400), "pad": [os.urandom(3000).hex()] * 400}))):
        with pytest.raises(ek.StoreError):
            write()
    events = tmpfs.path.parent / "events.jsonl"  # on the ordinary disk
    store.close()
    events.write_text(json.dumps({"stream_id": "c", "event_type": "E", "data": {"pad": "x" * 300_000}}))
    result = CliRunner().invoke(cli, ["append", str(tmpfs.path / "s"), str(events)])
    assert result.exit_code == 1 and result.output.count("Error:") == 1 and "Traceback" not in result.output

    store = ek.open_store(tmpfs.path / "s")
    df = store.read_all()
    assert df["position"].tolist() == list(range(1, store.head + 1))
    for sid, ns in acked.items():
        got = df[df.stream_id == sid]
        assert got["n"].tolist() == ns and got["version"].tolist() == list(range(1, len(ns) + 1))
    filler.unlink()
    store.append("after", ek.Event("E", {"n": -1}))
    store.seal()
    assert store.read_stream("after")["n"].tolist() == [-1] and store.info().hot_events == 0
    store.close()


def test_creating_a_store_where_nothing_can_be_written_is_a_store_error(tmpfs):
    """Item 8: on a read-only file system a new store cannot be made: a StoreError, not an OSError."""
    tmpfs.mount("1m")
    tmpfs.remount_read_only()
    with pytest.raises(ek.StoreError, match="cannot create a store"):
        ek.open_store(tmpfs.path / "new")
