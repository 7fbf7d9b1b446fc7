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
