"""Reading personal values back many at a time (issue 13, item 5): base64 of many tokens decoded in one call,
and the key ring's cache of revealed values used only while it pays; whichever way a call goes, every value
reads back exactly (text, NULL once erased, non-token text unchanged) and an edited token fails loudly."""

from __future__ import annotations

import base64
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import eventkit as ek
from eventkit.store import shredding, shredding_cache
from eventkit.store.ragged_bytes import b64decode_tails


@pytest.mark.parametrize("sizes", [[0], [1, 2, 3, 4, 5, 6], list(range(0, 50)), [28, 29, 30] * 700])
def test_base64_tails_of_many_values_decode_like_base64(sizes):
    messages = [os.urandom(n) for n in sizes]
    prefixes = [f"ek2:{i:016x}:" for i in range(len(messages))]
    texts = pa.array([p + base64.b64encode(m).decode() for p, m in zip(prefixes, messages)], pa.string())
    for array in (texts, texts.slice(1)):  # also an array that starts inside its buffers
        flat, starts, lengths = b64decode_tails(array, 21)
        got = [flat[a:a + n].tobytes() for a, n in zip(starts, lengths)]
        assert got == messages[len(messages) - len(array):]


@pytest.mark.parametrize("bad", ["QUFB!UFB", "QUF", "QUFBé==="])
def test_base64_tails_refuse_text_that_is_not_base64(bad):
    with pytest.raises(ValueError):
        b64decode_tails(pa.array(["ek2:0000000000000000:QUFB", "ek2:0000000000000000:" + bad]), 21)


@pytest.fixture
def store(tmp_path):
    """1,200 events of 40 customers: a different note on each event and the customer's name on each."""
    n = 1200
    s = ek.open_store(tmp_path / "s", bulk_threshold=20)
    s.declare_personal(stream_type="customer", fields=["note", "name"])
    s.append_frame(pd.DataFrame({"stream_id": [f"c-{i % 40}" for i in range(n)], "stream_type": "customer",
                                 "event_type": "Seen", "note": [f"note {i} é" for i in range(n)],
                                 "name": [f"Name {i % 40}" for i in range(n)]}))
    s.append("c-0", [ek.Event("Seen", {"note": "plain", "name": None})], stream_type="customer")  # hot log
    yield s
    s.close()


def expected(erased: set[str]) -> pd.DataFrame:
    n = 1200
    out = pd.DataFrame({"stream_id": [f"c-{i % 40}" for i in range(n)] + ["c-0"],
                        "note": [f"note {i} é" for i in range(n)] + ["plain"],
                        "name": [f"Name {i % 40}" for i in range(n)] + [None]})
    gone = out.stream_id.isin(erased)
    out.loc[gone, ["note", "name"]] = None
    return out


@pytest.mark.parametrize("mode", ["cache", "batch", "mixed"])
def test_values_read_back_exactly_with_or_without_the_cache(store, monkeypatch, mode):
    """The cache used on every call, never (past its warm-up with no hits), or one call in three: same answers,
    before and after a subject is forgotten; SQL sees the same values as read_all."""
    monkeypatch.setattr(shredding, "_FEW", 4)  # batches of the numpy path even in a small scan
    if mode != "cache":
        monkeypatch.setattr(shredding_cache, "MIN_HIT_RATE", 10**12)  # never pays by its rate
        monkeypatch.setattr(shredding_cache, "RECHECK", 10**9 if mode == "batch" else 3)
    for erased in (set(), {"c-3"}):
        if erased:
            store.forget("c-3")
        for _ in range(2):  # the second read finds the first's values in the cache, when used
            got = store.read_all()[["stream_id", "note", "name"]].reset_index(drop=True)
            pd.testing.assert_frame_equal(got.astype(object), expected(erased).astype(object))
            notes = [r[0] for r in store.sql("SELECT data.note FROM events ORDER BY position").fetchall()]
            assert notes == [None if pd.isna(v) else v for v in expected(erased).note]


def test_the_cache_stops_being_used_when_it_stops_hitting():
    """A few calls of misses and the cache is skipped (but for one call in RECHECK); a scan whose values are all
    in the cache uses it every time; one that then moves to new values stops within a few calls."""
    cache = shredding_cache.RevealCache()
    used = []
    for call in range(200):
        if cache.pays():
            used.append(call)
            values = [f"t{call}-{i}" for i in range(10)]  # never seen again
            cache.lookup(values)
            cache.add(values, values)
    assert len(used) < 20 and used[:7] == list(range(7))
    again = shredding_cache.RevealCache()
    again.add(["a"], ["text"])
    for _ in range(100):
        assert again.pays()
        assert again.lookup(["a"]) == ["text"]
    skipped = 0
    for call in range(100):
        if again.pays():
            again.lookup([f"new {call}"])
        else:
            skipped += 1
    assert skipped > 80


@pytest.mark.parametrize("cached", [True, False])
def test_an_edited_token_fails_the_batch_read(tmp_path, monkeypatch, cached):
    """A changed character in one of many stored tokens fails the read, through the cache or not."""
    import json
    import sqlite3

    if not cached:
        monkeypatch.setattr(shredding_cache, "MIN_HIT_RATE", 10**12)
        monkeypatch.setattr(shredding_cache, "RECHECK", 10**9)
    path = tmp_path / "s"
    with ek.open_store(path, bulk_threshold=10**6) as s:
        s.declare_personal(stream_type="customer", fields=["name"])
        s.append("c-1", [ek.Event("Seen", {"name": f"Ann Smith {i}"}) for i in range(300)], stream_type="customer")
    with sqlite3.connect(path / "catalog.sqlite") as db:
        position, raw = db.execute("SELECT position, data FROM hot ORDER BY position LIMIT 1 OFFSET 150").fetchone()
        data = json.loads(raw)
        token = data["name"]
        data["name"] = token[:30] + ("A" if token[30] != "A" else "B") + token[31:]
        db.execute("UPDATE hot SET data = ? WHERE position = ?", (json.dumps(data), position))
    with ek.open_store(path) as s:
        with pytest.raises(Exception, match="does not check out"):  # TamperedStore, inside DuckDB's error
            s.read_all()


def test_values_of_every_size_read_back_through_the_batch_path(tmp_path, monkeypatch):
    """Empty values, values at and around block boundaries, and values of more than 255 blocks (the counter
    field's second byte) decrypt exactly many at a time."""
    from eventkit.store import shredding_tokens

    monkeypatch.setattr(shredding, "_FEW", 1)
    monkeypatch.setattr(shredding_tokens, "FEW", 1)
    sizes = [0, 1, 15, 16, 17, 31, 32, 33, 4095, 4096, 4097, 70_000]
    texts = [("é" if n % 2 else "a") * (n // 2 if n % 2 else n) for n in sizes] * 3
    with ek.open_store(tmp_path / "s", bulk_threshold=10) as s:
        s.declare_personal(stream_type="customer", fields=["note"])
        s.append_frame(pd.DataFrame({"stream_id": ["c-1"] * len(texts), "stream_type": "customer",
                                     "event_type": "Seen", "note": texts}))
        assert s.read_all().note.tolist() == texts
        assert [r[0] for r in s.sql("SELECT data.note FROM events ORDER BY position").fetchall()] == texts
