"""Recovery from a process killed at each named step of a write (eventkit/_crashpoints.py).

A child process runs one operation with ``EVENTKIT_CRASH_AT`` set to a point's name and is seen to
die there by SIGKILL (its exit status). The parent then reopens the store and checks what the
README promises: every acknowledged event is present exactly once, nothing of an unacknowledged
append shows unless all of it does, files the crash left unrecorded are cleaned up, and seal,
compaction and appends run again.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import eventkit as ek

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = dict(grace_seconds=0, bulk_threshold=50, seal_threshold=10**9)

# What the child runs, by operation; ``store`` is the reopened store.
OPERATIONS = {
    "bulk": "store.append_frame(pd.DataFrame({'stream_id': [f'b-{i % 7}' for i in range(60)], "
            "'event_type': 'Bulk', 'n': range(60), 'event_id': [f'bulk-{i}' for i in range(60)]}))",
    "seal": "store.seal()",
    "compact": "store.compact(target_events=10**6)",
}
POINTS = [
    ("bulk", "bulk.before_commit", False),
    ("bulk", "bulk.after_commit", True),
    ("seal", "seal.after_write", False),
    ("seal", "seal.before_commit", False),
    ("seal", "seal.after_commit", True),
    ("compact", "compact.after_write", False),
    ("compact", "compact.after_commit", True),
]


def _seed(path: Path) -> pd.DataFrame:
    """A store with three sealed segments (so compaction has work) and hot-log events (so seal has)."""
    with ek.open_store(path, **OPTIONS) as store:
        for part in range(3):
            for i in range(5):
                store.append(f"acct-{i}", [ek.Event("Deposited", {"n": part * 100 + i, "note": "x" * i})],
                             stream_type="account")
            store.seal()
        for i in range(8):
            store.append(f"acct-{i % 3}", [ek.Event("Withdrawn", {"n": 1000 + i})], stream_type="account")
        return store.read_all()


def _run_child(path: Path, operation: str, point: str | None) -> subprocess.CompletedProcess:
    code = textwrap.dedent(f"""
        import pandas as pd
        import eventkit as ek
        store = ek.open_store({str(path)!r}, **{OPTIONS!r})
        {OPERATIONS[operation]}
        print("finished")
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("EVENTKIT_CRASH_AT", None)
    if point is not None:
        env["EVENTKIT_CRASH_AT"] = point
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def _files(path: Path) -> tuple[set[str], set[str]]:
    """(segment files on disk, segment files the catalog lists as live)."""
    on_disk = {p.relative_to(path).as_posix() for p in (path / "segments").rglob("*.parquet")}
    con = sqlite3.connect(path / "catalog.sqlite")
    try:
        live = {r[0] for r in con.execute("SELECT path FROM segments WHERE retired_at IS NULL")}
    finally:
        con.close()
    return on_disk, live


def _same_events(got: pd.DataFrame, want: pd.DataFrame) -> None:
    cols = ["position", "stream_id", "version", "event_type", "event_id", "n"]
    pd.testing.assert_frame_equal(got[cols].reset_index(drop=True), want[cols].reset_index(drop=True),
                                  check_dtype=False)


@pytest.mark.slow
@pytest.mark.parametrize("operation,point,committed", POINTS, ids=[p for _, p, _ in POINTS])
def test_killed_at_crash_point_recovers(tmp_path, operation, point, committed):
    """Killed at a named step: the old state or the new one, never both, never neither; clean-up and retries work."""
    path = tmp_path / "store"
    before = _seed(path)
    files_before, _ = _files(path)

    child = _run_child(path, operation, point)
    assert child.returncode == -signal.SIGKILL, (child.returncode, child.stdout, child.stderr)
    assert "finished" not in child.stdout

    with ek.open_store(path, **OPTIONS) as store:
        after = store.read_all()
        assert after["position"].tolist() == list(range(1, len(after) + 1))
        assert not after["event_id"].duplicated().any()
        if operation == "bulk":
            if committed:  # all 60 events of the killed append, at the next positions
                assert len(after) == len(before) + 60
                assert sorted(after["event_id"].iloc[len(before):]) == sorted(f"bulk-{i}" for i in range(60))
            else:  # none of them
                assert len(after) == len(before)
            _same_events(after.iloc[: len(before)], before)
        else:  # seal and compaction move events, never change them
            _same_events(after, before)
        info = store.info()
        if operation == "seal":
            assert info.hot_events == (0 if committed else 8)
        on_disk, live = _files(path)
        assert live <= on_disk, "a live segment file is missing"
        leftovers = on_disk - live
        if not committed and operation != "compact" or point == "compact.after_write":
            assert leftovers and not (leftovers & files_before), "the crash left no unrecorded file to clean"

        # The same operations run again; unrecorded and retired files go (grace_seconds=0).
        if operation == "bulk":
            frame = pd.DataFrame({"stream_id": [f"b-{i % 7}" for i in range(60)], "event_type": "Bulk",
                                  "n": range(60), "event_id": [f"bulk-{i}" for i in range(60)]})
            result = store.append_frame(frame)
            assert result.duplicate == committed
        store.seal()
        store.compact(target_events=10**6)
        final = store.read_all()
        on_disk, live = _files(path)
        assert on_disk == live, f"files left over: {sorted(on_disk - live)}"
        assert store.info().hot_events == 0
    want = before if operation != "bulk" else final
    _same_events(final.iloc[: len(before)], before)
    assert len(final) == len(want) == (len(before) + 60 if operation == "bulk" else len(before))
    assert final["position"].tolist() == list(range(1, len(final) + 1))


def test_crash_point_is_inert_without_the_variable(tmp_path):
    """The same child operations finish normally when no crash point is named."""
    path = tmp_path / "store"
    _seed(path)
    for operation in ("bulk", "seal", "compact"):
        child = _run_child(path, operation, None)
        assert child.returncode == 0 and "finished" in child.stdout, child.stderr
    on_disk, live = _files(path)
    assert on_disk == live
