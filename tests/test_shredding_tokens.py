"""ek2 tokens made many at a time (issue 13, item 5): whichever way a value is sealed (one AESCCM call for a
subject with few values, the numpy batch for one with many, hashed for equal pairs or not), its token is
``ek2:<key id>:<standard base64 of nonce + AES-256-CCM>`` that ``cryptography``'s AESCCM opens, in its row."""

from __future__ import annotations

import base64
import os

import numpy as np
import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from eventkit.store import shredding_tokens, shredding_writes
from eventkit.store.shredding_format import ccm_key
from eventkit.store.shredding_writes import seal


def opened(token: str, keys: dict[str, tuple[str, bytes]], subject: str) -> str:
    key_id, key = keys[subject]
    assert token[:4] == "ek2:" and token[4:20] == key_id and token[20] == ":"
    raw = base64.b64decode(token[21:], validate=True)
    assert base64.b64encode(raw).decode() == token[21:]  # canonical base64, "=" padding included
    return AESCCM(ccm_key(key), 16).decrypt(raw[:12], raw[12:], None).decode()


def mixed_values(rng: np.random.Generator, count: int) -> list[str]:
    """Texts of 0 to 70 bytes (whole 16-byte blocks among them), some with multi-byte characters."""
    out = []
    for i in range(count):
        n = int(rng.integers(0, 71))
        text = "".join(chr(int(c)) for c in rng.integers(97, 123, n))
        out.append(text if i % 7 else text[: n // 2] + "é€")
    return out + ["", "x" * 16, "y" * 32, "z" * 48]


@pytest.mark.parametrize("few", [1, shredding_tokens.FEW, 10**9])  # all batched, mixed, all one by one
@pytest.mark.parametrize("chunk", [5, 16_384])  # values sealed together by the batch path
def test_every_token_opens_with_aesccm_in_its_row(monkeypatch, few, chunk):
    rng = np.random.default_rng(few)
    values = mixed_values(rng, 400)
    # subjects in runs: some with one value, some with a few, some with many (the batch path)
    sizes = [1, 2, 7, 8, 9, 40, 3, 1, 150, 5]
    sizes.append(len(values) - sum(sizes))
    subjects = [f"s{i}" for i, k in enumerate(sizes) for _ in range(k)]
    keys = {s: (os.urandom(8).hex(), os.urandom(32)) for s in set(subjects)}
    monkeypatch.setattr(shredding_tokens, "FEW", few)
    monkeypatch.setattr(shredding_tokens, "_CHUNK", chunk)
    tokens = seal(pa.array(values, pa.string()), pa.array(subjects, pa.string()), keys, "name").to_pylist()
    assert [opened(t, keys, s) for t, s in zip(tokens, subjects)] == values
    assert len(set(tokens)) == len(set(zip(subjects, values)))  # equal pairs share a token, no others do


def test_nonces_are_fresh_for_every_value():
    keys = {"a": (os.urandom(8).hex(), os.urandom(32))}
    values = pa.array([f"v{i}" for i in range(300)], pa.string())
    tokens = seal(values, pa.array(["a"] * 300, pa.string()), keys, "f").to_pylist()
    nonces = {base64.b64decode(t[21:])[:12] for t in tokens}
    assert len(nonces) == 300


@pytest.mark.parametrize("in_stream_order", [True, False])
def test_values_nearly_all_different_skip_the_hash_and_still_read_back(monkeypatch, in_stream_order):
    """When a sample shows the values are nearly all different, equal pairs that are not next to each other
    are not looked for (each gets its own token, under its own nonce); every row still opens to its value,
    also when the rows are not grouped by subject."""
    monkeypatch.setattr(shredding_writes, "_PROBE", 256)
    n = 2_000
    rng = np.random.default_rng(3)
    subjects = np.repeat([f"c-{i:03d}" for i in range(100)], 20)
    values = np.array([f"note {i}" for i in range(n)], object)
    values[[5, 15]] = "the same"  # one subject's equal values, apart
    if not in_stream_order:
        order = rng.permutation(n)
        subjects, values = subjects[order], values[order]
    keys = {s: (os.urandom(8).hex(), os.urandom(32)) for s in set(subjects.tolist())}
    sealed = seal(pa.array(values.tolist(), pa.string()), pa.array(subjects.tolist(), pa.string()), keys, "note")
    tokens = sealed.to_pylist()
    assert [opened(t, keys, s) for t, s in zip(tokens, subjects.tolist())] == values.tolist()
    assert len(set(tokens)) == n


def test_a_subjects_equal_values_in_a_run_share_one_token_even_when_the_rest_differ(monkeypatch):
    monkeypatch.setattr(shredding_writes, "_PROBE", 256)
    values = [f"v{i}" for i in range(1_000)]
    values[10:13] = ["Ann"] * 3
    subjects = [f"s{i // 10}" for i in range(1_000)]  # rows 10-12: one subject
    keys = {s: (os.urandom(8).hex(), os.urandom(32)) for s in set(subjects)}
    sealed = seal(pa.array(values, pa.string()), pa.array(subjects, pa.string()), keys, "name")
    tokens = sealed.to_pylist()
    assert tokens[10] == tokens[11] == tokens[12] and len(set(tokens)) == 998
    assert len(sealed.dictionary) == 998  # encrypted once


@pytest.mark.parametrize("values", [[""] * 20, ["a" * 100_000, "b", "c" * 16, "é" * 40_001] * 3])
def test_empty_and_long_values_in_the_batch_path(monkeypatch, values):
    monkeypatch.setattr(shredding_tokens, "FEW", 1)
    keys = {"a": (os.urandom(8).hex(), os.urandom(32))}
    tokens = seal(pa.array(values, pa.string()), pa.array(["a"] * len(values), pa.string()), keys, "f").to_pylist()
    assert [opened(t, keys, "a") for t in tokens] == values


@pytest.mark.parametrize("every_row", [True, False])
def test_a_bulk_append_with_a_different_text_on_each_event_reads_back_and_forgets(tmp_path, monkeypatch, every_row):
    # Nearly all values different: the tokens come back one per row, not as a dictionary, and the segment is
    # written at a cheaper zstd level; the stored tokens, reads, SQL, verify and forget see no difference.
    import duckdb
    import pandas as pd

    import eventkit as ek

    monkeypatch.setattr(shredding_writes, "_PROBE", 64)
    monkeypatch.setattr(shredding_tokens, "_CHUNK", 50)
    n = 400
    kinds = ["Opened" if every_row or i % 3 else "Deposited" for i in range(n)]
    notes = [f"note {i} é" if k == "Opened" else None for i, k in enumerate(kinds)]
    df = pd.DataFrame({"stream_id": [f"a-{i % 7}" for i in range(n)], "stream_type": "account",
                       "event_type": kinds, "note": pd.array(notes, dtype="str")})
    from eventkit.store import maintenance

    kinds_sealed, levels = [], []
    real_seal, real_write = shredding_writes.seal, maintenance.write_segment

    def seal_seen(*args):
        out = real_seal(*args)
        kinds_sealed.append(type(out))
        return out

    monkeypatch.setattr(shredding_writes, "seal", seal_seen)
    monkeypatch.setattr(maintenance, "write_segment", lambda *a, **k: levels.append(k["compression_level"])
                        or real_write(*a, **k))
    store = ek.open_store(tmp_path / "s", bulk_threshold=20)
    store.declare_personal(event_type="Opened", fields=["note"])
    store.append_frame(df)
    assert kinds_sealed == [pa.ChunkedArray] and levels == [1]  # the paths this test is about
    files = [str(p) for p in (tmp_path / "s").rglob("*.parquet")]
    stored = duckdb.sql(f"SELECT stream_id, data.note FROM read_parquet({files}) ORDER BY position").fetchall()
    with store._catalog.read() as tx:
        keys = store._catalog.subject_keys(tx, [f"a-{i}" for i in range(7)])
    assert [None if t is None else opened(t, keys, sid) for sid, t in stored] == notes
    assert len({t for _, t in stored if t is not None}) == kinds.count("Opened")

    def notes_read() -> list:
        return [None if pd.isna(v) else v for v in store.read_all().sort_values("position")["note"]]

    assert notes_read() == notes
    assert store.sql("SELECT count(*) FROM events WHERE data.note LIKE 'note %'").fetchall()[0][0] == len(stored) - \
        notes.count(None)
    store.forget("a-3")
    lost = [i for i in range(n) if i % 7 == 3 and notes[i] is not None]
    assert store.read_all().sort_values("position")["erased"].tolist() == [i in lost for i in range(n)]
    assert notes_read() == [None if i in lost else v for i, v in enumerate(notes)]
    assert store.verify().ok
    store.close()


def test_nonces_of_a_large_batch_are_fresh_within_and_across_calls():
    """A chunk's nonces come from AES-CTR under a fresh random key (shredding_tokens.random_bytes): none repeats
    within a call or across calls, and the bytes are not constant or short."""
    calls = [shredding_tokens.random_bytes(12 * 16_384) for _ in range(3)]
    assert all(len(c) == 12 * 16_384 for c in calls)
    nonces = [c[i:i + 12] for c in calls for i in range(0, len(c), 12)]
    assert len(set(nonces)) == len(nonces)
    counts = np.bincount(np.frombuffer(calls[0], np.uint8), minlength=256)
    assert counts.min() > 0.8 * counts.mean()  # byte values about uniform
