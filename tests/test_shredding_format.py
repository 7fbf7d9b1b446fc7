"""Crypto-shredding's stored format (issue 13, items 4-5): ek2 tokens are standard AES-256-CCM computed
many values at a time (checked byte for byte against ``cryptography``'s ``AESCCM``), each distinct
(subject, value) of one call encrypted once; stores written with the first format (ek1, AES-GCM per
value) still read, erase and verify."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

import eventkit as ek
from eventkit.store import ccm_batch
from eventkit.store.integrity import TamperedStore
from eventkit.store.ragged_bytes import b64decode, b64encode, starts_of
from eventkit.store.shredding import ccm_key

EK1_STORE = Path(__file__).parent / "data" / "ek1_store"


def flat(messages: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lengths = np.array([len(m) for m in messages], np.int64)
    return np.frombuffer(b"".join(messages) or b"\0", np.uint8), starts_of(lengths), lengths


def test_batch_ccm_is_aes_ccm_byte_for_byte_and_decrypts_back():
    """Every message of a batch under several keys equals AESCCM(key, 16).encrypt(nonce, message), and decrypts
    with its tag checked; lengths cover the empty message, whole blocks and several blocks."""
    rng = np.random.default_rng(7)
    keys = [os.urandom(32) for _ in range(4)]
    messages = [os.urandom(int(n)) for n in rng.integers(0, 90, 300)] + [b"", b"x" * 16, b"y" * 32, "é€".encode()]
    groups = np.sort(rng.integers(0, len(keys), len(messages)))
    nonces = np.frombuffer(os.urandom(12 * len(messages)), np.uint8).reshape(-1, 12)
    out, out_lengths = ccm_batch.encrypt([ccm_batch.ecb_encryptor(k) for k in keys], groups, nonces, *flat(messages))
    at = starts_of(out_lengths)
    for i, m in enumerate(messages):
        nonce = bytes(nonces[i])
        assert out[at[i]:at[i] + out_lengths[i]].tobytes() == nonce + AESCCM(keys[groups[i]], 16).encrypt(nonce, m, None)
    plain, lengths, ok = ccm_batch.decrypt([ccm_batch.ecb_encryptor(k) for k in keys], groups, out, at, out_lengths)
    assert ok.all() and plain.tobytes() == b"".join(messages) and lengths.tolist() == [len(m) for m in messages]
    out[at[5] + 14] ^= 1  # one bit of one ciphertext
    *_, ok = ccm_batch.decrypt([ccm_batch.ecb_encryptor(k) for k in keys], groups, out, at, out_lengths)
    assert ok.tolist() == [i != 5 for i in range(len(messages))]


@pytest.mark.parametrize("sizes", [[0], [1, 2, 3, 4, 5, 6], list(range(0, 50))])
def test_numpy_base64_is_standard_base64(sizes):
    messages = [os.urandom(n) for n in sizes]
    text, lengths = b64encode(*flat(messages)[::2])
    at = starts_of(lengths)
    assert [text[a:a + n].tobytes() for a, n in zip(at, lengths)] == [base64.b64encode(m) for m in messages]
    raw, raw_at, raw_lengths = b64decode(text, at, lengths)
    assert [raw[a:a + n].tobytes() for a, n in zip(raw_at, raw_lengths)] == messages


def tokens_in_segments(path: Path, field: str) -> list[str]:
    import duckdb

    files = [str(p) for p in path.rglob("*.parquet")]
    return [r[0] for r in duckdb.sql(f"SELECT data.{field} FROM read_parquet({files!r}, union_by_name = true) "
                                     f"WHERE data.{field} IS NOT NULL ORDER BY position").fetchall()]


def test_a_bulk_append_stores_ek2_tokens_that_aesccm_decrypts(tmp_path):
    """What the bulk path writes is the documented format: ek2:<key id>:<base64(nonce + AES-256-CCM)>, under the
    key derived from the subject's stored key; equal values of one subject share a token, no other pair does."""
    store = ek.open_store(tmp_path / "s", bulk_threshold=20)
    store.declare_personal(stream_type="customer", fields=["name"])
    frame = pd.DataFrame({"stream_id": ["c-1", "c-1", "c-2", "c-1", "c-2"], "stream_type": "customer",
                          "event_type": "Seen", "name": ["Ann", "Ann", "Ann", "Annie", "Ann"]})
    store.append_frame(frame.iloc[[0] * 1].assign(event_type="Registered"))  # a first (small) append: the hot log
    store.append_frame(pd.concat([frame] * 10, ignore_index=True))  # a bulk append: a segment
    with store._catalog.read() as tx:
        keys = {s: store._catalog.subject_keys(tx, [s])[s] for s in ("c-1", "c-2")}
    tokens = tokens_in_segments(tmp_path / "s", "name")
    assert len(tokens) == 50 and all(t.startswith("ek2:") for t in tokens)
    for token, (sid, name) in zip(tokens, zip(frame.stream_id.tolist() * 10, frame.name.tolist() * 10)):
        key_id, raw = token[4:20], base64.b64decode(token[21:])
        assert key_id == keys[sid][0]
        assert AESCCM(ccm_key(keys[sid][1]), 16).decrypt(raw[:12], raw[12:], None).decode() == name
    assert len(set(tokens)) == 3  # (c-1, Ann), (c-2, Ann), (c-1, Annie)
    assert store.read_all().name.tolist() == ["Ann"] + frame.name.tolist() * 10
    assert store.verify().ok


def test_the_same_value_in_two_appends_gets_two_tokens(tmp_path):
    """Equal values share a token only within one call: across appends a fresh nonce makes them differ."""
    store = ek.open_store(tmp_path / "s", bulk_threshold=5)
    store.declare_personal(stream_type="customer", fields=["name"])
    for _ in range(2):
        store.append_frame(pd.DataFrame({"stream_id": ["c-1"] * 10, "stream_type": "customer", "event_type": "Seen",
                                         "name": ["Ann"] * 10}))
    store.append("c-1", [ek.Event("Seen", {"name": "Ann"})] * 2, stream_type="customer")  # the hot log
    store.seal()
    assert len(set(tokens_in_segments(tmp_path / "s", "name"))) == 3
    assert store.read_stream("c-1").name.tolist() == ["Ann"] * 22


@pytest.mark.parametrize("events", [1, 300])  # read one by one, and many at a time
def test_an_edited_token_fails_the_read_loudly(tmp_path, events):
    """A changed character in a stored token is not read as other text or as NULL: the tag check fails the read."""
    path = tmp_path / "s"
    with ek.open_store(path, bulk_threshold=1000) as store:
        store.declare_personal(stream_type="customer", fields=["name"])
        store.append("c-1", [ek.Event("Seen", {"name": f"Ann Smith {i}"}) for i in range(events)],
                     stream_type="customer")
    with sqlite3.connect(path / "catalog.sqlite") as db:
        position, raw = db.execute("SELECT position, data FROM hot ORDER BY position DESC").fetchone()
        data = json.loads(raw)
        token = data["name"]
        data["name"] = token[:30] + ("A" if token[30] != "A" else "B") + token[31:]
        db.execute("UPDATE hot SET data = ? WHERE position = ?", (json.dumps(data), position))
    with ek.open_store(path) as store:
        with pytest.raises(Exception, match="does not check out"):
            store.read_all()


@pytest.fixture
def ek1_store(tmp_path) -> Path:
    path = tmp_path / "ek1"
    shutil.copytree(EK1_STORE, path)
    return path


def test_a_store_written_with_ek1_tokens_reads_erases_and_verifies(ek1_store):
    """tests/data/ek1_store was written by the first format (AES-GCM per value, segments and hot log, cust-3
    forgotten); it reads as written, takes new ek2 appends beside the old tokens, and forget erases both."""
    with ek.open_store(ek1_store, create=False) as store:
        assert store.verify().ok
        before = store.read_all().set_index("position")
        assert before.loc[1, "name"] == "Ann Smith" and before.loc[2, "email"] == "bob@example.com"
        assert before.loc[4, "address"] == "1 Main St" and before.loc[35, "name"] == "Bobby Jones"
        assert before.loc[3, "erased"] and pd.isna(before.loc[3, "name"]) and not before.loc[2, "erased"]
        assert store.sql("SELECT count(*) FROM events WHERE erased").fetchall() == [(11,)]
        store.append("cust-2", [ek.Event("Renamed", {"name": "Robert Jones"})], stream_type="customer")
        store.append_frame(pd.DataFrame({"stream_id": ["cust-2"] * 25, "stream_type": "customer",
                                         "event_type": "Moved", "name": [f"new {i}" for i in range(25)]}))
        after = store.read_stream("cust-2")
        assert after.name.tolist()[-27:] == ["Bobby Jones", "Robert Jones", *[f"new {i}" for i in range(25)]]
        assert store.forget("cust-2") == 1
        gone = store.read_stream("cust-2")
        assert gone.name.isna().all() and gone.email.isna().all() and gone.erased.all()
        assert store.read_stream("cust-1").name.notna().all()
        assert store.verify().ok
        with pytest.raises(TamperedStore):  # the chain still covers the ek1 file bytes: a changed one is found
            seg = next(ek1_store.rglob("*000000000005-*.parquet"))
            raw = bytearray(seg.read_bytes())
            raw[100] ^= 1
            seg.write_bytes(bytes(raw))
            store.verify()


def test_resending_an_ek1_event_is_still_a_no_op(ek1_store):
    with ek.open_store(ek1_store, create=False) as store:
        again = store.append("cust-1", [ek.Event("Registered", {"name": "Ann Smith", "email": "ann@example.com",
                                                                "tier": 1}, event_id="reg-1")], stream_type="customer")
        assert again.duplicate and again.first_position == 1
        with pytest.raises(ek.DuplicateEventId):
            store.append("cust-1", [ek.Event("Registered", {"name": "Ann S.", "email": "ann@example.com", "tier": 1},
                                             event_id="reg-1")], stream_type="customer")


def test_values_that_look_like_tokens_are_refused_in_bulk_and_single_appends(tmp_path):
    with ek.open_store(tmp_path / "s", bulk_threshold=5) as store:
        store.declare_personal(stream_type="customer", fields=["name"])
        for token in ("ek1:abc", "ek2:abc"):
            with pytest.raises(ek.InvalidInput, match="may not start with"):
                store.append("c", [ek.Event("Seen", {"name": token})], stream_type="customer")
            with pytest.raises(ek.InvalidInput, match="may not start with"):
                store.append_frame(pd.DataFrame({"stream_id": ["c"] * 10, "stream_type": "customer",
                                                 "event_type": "Seen", "name": ["x"] * 9 + [token]}))
        assert store.head == 0


def test_a_field_in_two_declarations_is_encrypted_once(tmp_path):
    """A field named by a stream-type and an event-type declaration is sealed under the stream type's subject,
    in bulk and single appends alike, and reads back as written."""
    with ek.open_store(tmp_path / "s", bulk_threshold=5) as store:
        store.declare_personal(stream_type="customer", fields=["name"])
        store.declare_personal(event_type="Seen", fields=["name"], subject="who")
        store.append("c-1", [ek.Event("Seen", {"name": "Ann", "who": "p-1"})], stream_type="customer")
        store.append_frame(pd.DataFrame({"stream_id": ["c-1"] * 10, "stream_type": "customer", "event_type": "Seen",
                                         "name": ["Ann"] * 10, "who": ["p-1"] * 10}))
        assert store.read_all().name.tolist() == ["Ann"] * 11
        store.forget("c-1")
        assert store.read_all().name.isna().all()


def test_reading_many_subjects_in_one_scan_is_exact(tmp_path):
    """A scan whose batches mix thousands of subjects (one AES run per subject per batch) returns each value."""
    n = 6000
    with ek.open_store(tmp_path / "s") as store:
        store.declare_personal(stream_type="person", fields=["name"])
        store.append_frame(pd.DataFrame({"stream_id": [f"p-{i % 3000}" for i in range(n)], "stream_type": "person",
                                         "event_type": "Seen", "name": [f"name {i} é" for i in range(n)]}))
        got = store.sql("SELECT data.name FROM events ORDER BY position").fetchall()
        assert [r[0] for r in got] == [f"name {i} é" for i in range(n)]
        store.forget("p-7")
        names = store.read_all().set_index("stream_id").name
        assert names.loc["p-7"].isna().all() and names.drop("p-7").notna().all()


def test_the_personal_columns_arrow_type_round_trips(tmp_path):
    """A frame whose personal column is pandas' categorical (an Arrow dictionary) is encrypted like text."""
    with ek.open_store(tmp_path / "s", bulk_threshold=20) as store:
        store.declare_personal(stream_type="person", fields=["name"])
        store.append_frame(pd.DataFrame({"stream_id": ["p-1", "p-2"] * 20, "stream_type": "person",
                                         "event_type": "Seen", "name": pd.Categorical(["Ann", "Bob"] * 20)}))
        assert store.read_all().name.tolist() == ["Ann", "Bob"] * 20
        assert not any("Ann" in t for t in tokens_in_segments(tmp_path / "s", "name"))


def test_the_ecb_block_primitive_is_aes_256():
    """The block primitive CCM is built from is AES-256 (FIPS-197 known answer)."""
    key = bytes(range(32))
    block = bytes.fromhex("00112233445566778899aabbccddeeff")
    expected = bytes.fromhex("8ea2b7ca516745bfeafc49904b496089")  # FIPS-197, appendix C.3
    assert ccm_batch.ecb_encryptor(key).update(block) == expected


def test_a_bulk_append_in_stream_order_shares_tokens_per_subject_and_value(tmp_path):
    """Rows grouped by subject (the fast path: runs instead of hashes) keep the rule: one token per distinct
    (subject, value) of the call, also when a subject's equal values are apart, and every value reads back."""
    from eventkit.store.shredding_writes import dictionary_by_runs, seal

    subjects = pa.array(["a"] * 4 + ["b"] * 3 + ["c"] * 5, pa.string())
    values = pa.array(["x", "x", "y", "x", "x", "x", "x", "z", "z", "y", "z", "x"], pa.string())
    encoded = dictionary_by_runs(subjects)
    assert encoded.dictionary.to_pylist() == ["a", "b", "c"] and encoded.indices.to_pylist() == [0] * 4 + [1] * 3 + [2] * 5
    assert dictionary_by_runs(pa.array(["b", "a", "b"] * 3)).to_pylist() == ["b", "a", "b"] * 3  # short runs: hashed
    keys = {s: (os.urandom(8).hex(), os.urandom(32)) for s in "abc"}
    tokens = seal(values, subjects, keys, "name").to_pylist()
    pairs = list(zip(subjects.to_pylist(), values.to_pylist()))
    assert len(set(tokens)) == len(set(pairs)) == 6
    assert all((tokens[i] == tokens[j]) == (pairs[i] == pairs[j]) for i in range(12) for j in range(12))
    for token, (sid, value) in zip(tokens, pairs):
        raw = base64.b64decode(token[21:])
        assert AESCCM(ccm_key(keys[sid][1]), 16).decrypt(raw[:12], raw[12:], None).decode() == value
