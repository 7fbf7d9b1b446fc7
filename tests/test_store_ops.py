"""Operational safety of the store: failing seals, closing, damaged files, grace period (issue 7)."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import eventkit as ek


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
