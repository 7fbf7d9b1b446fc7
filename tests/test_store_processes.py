"""Several OS processes on one store, and writers killed with SIGKILL mid-append (invariants 2-6)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import eventkit as ek

WRITER = str(Path(__file__).with_name("_writer.py"))
READER = str(Path(__file__).with_name("_reader.py"))
pytestmark = pytest.mark.slow


def start_writer(store: Path, log: Path, seed: int, appends: int, shared: int = 0,
                 catalog: str | None = None) -> subprocess.Popen:
    args = [sys.executable, WRITER, str(store), str(log), str(seed), str(appends)]
    if shared:
        args += ["--shared-streams", str(shared)]
    return subprocess.Popen(args, stderr=subprocess.PIPE, env=catalog_env(catalog))


def catalog_env(catalog: str | None) -> dict[str, str]:
    """The environment that gives tests/_writer.py and _reader.py the store's catalog."""
    env = dict(os.environ)
    env.pop("EVENTKIT_TEST_CATALOG", None)
    if catalog:
        env["EVENTKIT_TEST_CATALOG"] = catalog
    return env


def acknowledged(*logs: Path) -> dict[str, str]:
    acks = {}
    for log in logs:
        if log.exists():
            for line in log.read_text().splitlines():
                parts = line.split()
                if len(parts) == 2:  # a line cut by the kill is not an acknowledgement
                    acks[parts[1]] = parts[0]
    return acks


def check_store(path: Path, acks: dict[str, str], catalog: str | None = None) -> int:
    """Every invariant a reader can check; returns the number of events."""
    store = ek.open_store(path, catalog=catalog)
    df = store.sql(
        "SELECT position, stream_id, version, event_id, recorded_at, data.batch AS batch, data.size AS size "
        "FROM events ORDER BY position").df()
    store.close()
    assert df["position"].tolist() == list(range(1, len(df) + 1)), "positions must be 1..n without gaps"
    assert df["recorded_at"].is_monotonic_increasing
    assert not df.duplicated(["stream_id", "version"]).any(), "(stream_id, version) must be unique"
    assert df["event_id"].is_unique
    for _, g in df.groupby("stream_id"):
        assert g["version"].is_monotonic_increasing
    sizes = df.groupby("batch").agg(n=("position", "size"), size=("size", "first"))
    partial = sizes[sizes.n != sizes["size"]]
    assert partial.empty, f"partial appends visible: {partial.head()}"
    missing = set(acks) - set(df["event_id"])
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:3]}"
    return len(df)


def test_concurrent_writers_lose_and_duplicate_nothing(tmp_path, catalog):
    """Three writers race; two readers check every read while they write (tests/_reader.py)."""
    store = tmp_path / "store"
    ek.open_store(store, catalog=catalog).close()
    stop = tmp_path / "stop"
    readers = [subprocess.Popen([sys.executable, READER, str(store), str(stop)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=catalog_env(catalog)) for _ in range(2)]
    logs = [tmp_path / f"ack-{i}.log" for i in range(3)]
    procs = [start_writer(store, log, seed, 700, shared=5, catalog=catalog) for seed, log in enumerate(logs)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()[-2000:]
    stop.touch()
    for r in readers:
        out, err = r.communicate(timeout=120)
        assert r.returncode == 0, (out + err)[-2000:]
        stats = dict(zip(out.split()[::2], map(int, out.split()[1::2])))
        # The reader really read during the writes: it saw the store at many different sizes.
        assert stats["reads"] >= 20 and stats["distinct_counts"] >= 10, out
        assert stats["expired"] <= stats["reads"] // 10, out
    acks = acknowledged(*logs)
    n = check_store(store, acks, catalog)
    assert n == len(acks), "every event in the store was acknowledged to exactly one writer"
    s = ek.open_store(store, catalog=catalog)
    bumps = s.sql("SELECT stream_id, count(*), max(version), bool_and(data.seen = version - 1) "
                  "FROM events WHERE event_type = 'Bumped' GROUP BY 1").fetchall()
    # Exactly one writer wins each expected version: every Bumped event saw the version before it.
    assert bumps and all(count == top and ok for _, count, top, ok in bumps)


def test_writer_killed_at_random_points_loses_nothing_acknowledged(tmp_path, catalog):
    store = tmp_path / "store"
    ek.open_store(store, catalog=catalog).close()
    rng = random.Random(7)
    logs = []
    for round_ in range(8):
        log = tmp_path / f"ack-{round_}.log"
        logs.append(log)
        proc = start_writer(store, log, 100 + round_, 100_000, catalog=catalog)
        time.sleep(rng.uniform(0.8, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, "the writer should still have been running"
        check_store(store, acknowledged(*logs), catalog)
    s = ek.open_store(store, catalog=catalog)
    s.seal()
    s.compact()
    assert check_store(store, acknowledged(*logs), catalog) >= len(acknowledged(*logs))
