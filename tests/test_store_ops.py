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
