"""Names that differ only in case, on a case-insensitive file system (macOS, Windows).

Segment files live in a folder per stream type and a projection's parts in a folder per projection.
On a case-insensitive file system ``Account`` and ``account`` are one folder, spelled as it was first
made, so a listing spells some live files differently from the catalog. These tests make the listing
answer as such a file system would (Linux here is case-sensitive).
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

import eventkit as ek
from eventkit.store.file_store import LocalFolder


def _frame(stream_type: str, n: int = 60) -> pd.DataFrame:
    return pd.DataFrame({"stream_id": [f"{stream_type}-{i % 3}" for i in range(n)], "event_type": "Deposited",
                         "stream_type": stream_type, "amount": range(n)})


@pytest.fixture
def folded_listing(monkeypatch):
    """LocalFolder.listing as a case-insensitive file system answers: every folder spelled as first made."""
    real = LocalFolder.listing

    def listing(self, prefix, *, suffix=""):
        return [dataclasses.replace(f, path=f.path.replace("stream_type=account/", "stream_type=Account/"))
                for f in real(self, prefix, suffix=suffix)]
    monkeypatch.setattr(LocalFolder, "listing", listing)


def test_gc_keeps_the_live_files_of_stream_types_differing_only_in_case(tmp_path, folded_listing):
    store = ek.open_store(tmp_path / "s", bulk_threshold=1, grace_seconds=0)
    store.append_frame(_frame("Account"))
    store.append_frame(_frame("account"))
    before = store.read_all()
    listed = [f.path for f in store.files.listing("segments", suffix=".parquet")]
    assert len(listed) == 2 and all("stream_type=Account/" in p for p in listed)  # as macOS lists them
    assert store.gc() == []  # it deleted the "account" files: the catalog spells them otherwise
    pd.testing.assert_frame_equal(ek.open_store(tmp_path / "s").read_all(), before)


def test_verify_does_not_take_live_files_for_unlisted_ones(tmp_path, folded_listing):
    store = ek.open_store(tmp_path / "s", bulk_threshold=1)
    store.append_frame(_frame("Account"))
    store.append_frame(_frame("account"))
    report = store.verify()
    assert report.ok and not any("not in the catalog" in n for n in report.notes), report.notes


def test_a_projection_name_differing_only_in_case_from_another_is_refused(tmp_path):
    store = ek.open_store(tmp_path / "s")
    store.append_frame(_frame("Account", n=5))
    rows = lambda b: b[["stream_id", "event_type"]]  # noqa: E731
    store.project(rows, name="Billing").run_once()
    with pytest.raises(ek.InvalidInput, match="case-insensitive") as e:
        store.project(rows, name="billing")
    assert "'Billing'" in str(e.value)
    store.project(rows, name="Billing").run_once()  # the same name again is the same projection
    store.project(rows, name="billing2").run_once()
