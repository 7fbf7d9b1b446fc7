"""Folds on a Dask cluster against hostile values: the answer is the local fold's, or the local fold's
refusal (NaN and infinities, ints at the edge of 64 bits, stream ids unicode orders differently)."""

from __future__ import annotations

import pandas as pd
import pytest

import eventkit as ek
from eventkit.fold.python_fold import PyFold, on

distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed (pip install 'eventkit[dask]')")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


IDS = ["ü-1", "银行", "a\u200bb", "Z", "z", "e\u0301", "é", "x" * 300, "🏦"]
FLOATS = [float("nan"), float("inf"), -float("inf"), 1e308, -0.0, 5e-324, 2.5]
INTS = [2**40, -(2**40), 3, 0, 1, 7, -5]


def _store(path, ints=INTS):
    store = ek.open_store(path, bulk_threshold=3)
    rows = [{"stream_id": sid, "stream_type": "t", "event_type": "AB"[j % 2], "x": FLOATS[(i + j) % len(FLOATS)],
             "k": ints[(i * 3 + j) % len(ints)], "txt": f"{sid}-{j}\x00"} for i, sid in enumerate(IDS) for j in range(4)]
    frame = pd.DataFrame(rows)
    for start in (0, 15, 30):  # three segments, streams spanning them, and a hot row
        store.append_frame(frame.iloc[start:start + 15])
    store.append("银行", ek.Event("A", {"x": float("nan"), "k": ints[0], "txt": "hot"}), stream_type="t")
    return store


FOLD = ek.Fold("f", stream_type="t", fields={
    "sx": ek.sum("x"), "mx": ek.max("x"), "mn": ek.min("x"), "fx": ek.first("x"), "lx": ek.last("x"),
    "sk": ek.sum("k"), "mk": ek.max("k"), "lk": ek.last("k"), "ft": ek.first("txt"), "lt": ek.last_non_null("txt"),
    "n": ek.count(event_types="A"), "le": ek.last_event_type({"A": "a", "B": "b"}),
})


def test_hostile_values_fold_on_dask_as_locally(client, tmp_path):
    store = _store(tmp_path / "s")
    pd.testing.assert_frame_equal(FOLD.state(store, scheduler=client), FOLD.state(store))
    for kind in ("snapshots", "changes"):
        got = getattr(FOLD, kind)(store, every=3, scheduler=client).drop(columns=["complete"], errors="ignore")
        want = getattr(FOLD, kind)(store, every=3).drop(columns=["complete"], errors="ignore")
        pd.testing.assert_frame_equal(got, want)


@pytest.mark.parametrize("kind", ["state", "snapshots", "changes"])
def test_an_integer_total_past_64_bits_is_refused_on_dask_as_locally(client, tmp_path, kind):
    """Locally a sum past 2**63 is an InvalidFold naming it; on Dask it was a bare duckdb
    ConversionException ('Failed to cast decimal value ... to type INT64')."""
    store = _store(tmp_path / "s", ints=[2**62, 2**62, 2**62, 1, 1, 1, 1])
    args = {} if kind == "state" else {"every": 3}
    with pytest.raises(ek.InvalidFold, match="64-bit"):
        getattr(FOLD, kind)(store, **args)
    with pytest.raises(ek.InvalidFold, match="64-bit"):
        getattr(FOLD, kind)(store, scheduler=client, **args)



class Totals(PyFold):
    """A Python fold over the same hostile values: handlers run on the workers, one stream share each."""

    stream_type = "t"

    def initial(self):
        return {"n": 0, "sx": 0.0, "sk": 0, "first_txt": None, "last_x": None}

    @on("*")
    def every(self, s, e):
        s["n"] += 1
        s["sx"] += 0.0 if e.x is None else e.x  # NaN is stored as missing
        s["sk"] += e.k
        s["first_txt"] = s["first_txt"] or e.txt
        s["last_x"] = e.x


def test_a_python_fold_over_hostile_values_on_dask_as_locally(client, tmp_path):
    store = _store(tmp_path / "s", ints=[2**62, 2**62, 2**62, 1, 1, 1, 1])  # Python ints do not overflow
    pd.testing.assert_frame_equal(Totals().state(store, scheduler=client), Totals().state(store, workers=1))
