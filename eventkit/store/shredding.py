"""Crypto-shredding: personal payload fields stored encrypted under per-subject keys; forgetting a
subject destroys its keys.

A declaration (``store.declare_personal``) names the fields of one stream type or one event type that
are personal, and the subject they belong to: an envelope column (``stream_id``) or a payload field
(``customer_id``). An append encrypts each such field's text under the subject's key (made on first
use, kept in the catalog) and stores a token in its place:

- ``ek2:<key id>:<base64 of nonce + ciphertext + tag>``: AES-256-CCM (NIST SP 800-38C; 12-byte random
  nonce per value, 16-byte tag), under a key derived from the subject's key (:func:`ccm_key`). Written
  and read thousands of values at a time by :mod:`.ccm_batch`, byte for byte what
  ``cryptography``'s ``AESCCM`` makes. Every append since this format writes it.
- ``ek1:<key id>:<base64 of nonce + ciphertext + tag>``: AES-256-GCM per value under the subject's key,
  the first format; stores holding it still read, value by value.

Every read (``read_*``, ``sql``, folds, exports, reports) goes through the ``events`` view, which turns
tokens back into text (a token whose tag does not check out fails the read: the store was edited), and
into NULL once the key is destroyed, with the column ``erased`` true on each event that lost a field.
The hash chain and file hashes cover the tokens, so an erasure changes no byte of history: ``verify``
still passes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from eventkit.common.errors import InvalidInput
from eventkit.common.sql import quote_ident
from eventkit.store import ccm_batch
from eventkit.store.ragged_bytes import (b64decode, b64encode_rows, fixed_width_strings, starts_of, string_array,
                                         string_buffers)

TOKEN = "ek1:"  # the first format: AES-256-GCM per value, one library call each (still read)
TOKEN2 = "ek2:"  # the current format: AES-256-CCM, written and read many values at a time (see ccm_batch)
TOKENS = (TOKEN, TOKEN2)
_KEY_ID = 16  # characters of a key id; a token is "ekN:" + key id + ":" + base64


def is_token_sql(expr: str) -> str:
    """SQL that is true when the text ``expr`` is an encrypted token of any format."""
    return " OR ".join(f"starts_with({expr}, '{t}')" for t in TOKENS)


def _aead(key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def ccm_key(key: bytes) -> bytes:
    """ek2's AES-256 key, derived from the subject's stored key with the one-step KDF of NIST SP 800-56C
    (SHA-256): a subject whose older events hold ek1 tokens then never has one key used in two modes."""
    return hashlib.sha256(b"\x00\x00\x00\x01" + key + b"eventkit ek2 AES-256-CCM").digest()
@dataclass
class Declarations:
    """The store's personal-field declarations: (fields, subject) per stream type and per event type."""

    by_stream_type: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)
    by_event_type: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[str, str, str, str]]) -> Declarations:
        out = cls()
        for scope, name, fields, subject in rows:
            target = out.by_stream_type if scope == "stream_type" else out.by_event_type
            target[name] = (tuple(json.loads(fields)), subject)
        return out

    def __bool__(self) -> bool:
        return bool(self.by_stream_type or self.by_event_type)

    @property
    def fields(self) -> list[str]:
        names = {f for fs, _ in [*self.by_stream_type.values(), *self.by_event_type.values()] for f in fs}
        return sorted(names)

    def rules(self, stream_type: str, event_type: str) -> list[tuple[tuple[str, ...], str]]:
        return [r for r in (self.by_stream_type.get(stream_type), self.by_event_type.get(event_type)) if r]


def check_declaration(stream_type: Any, event_type: Any, fields: Any, subject: Any) -> tuple[str, str, list[str], str]:
    """Validate ``declare_personal``'s arguments; returns (scope, name, fields, subject)."""
    if (stream_type is None) == (event_type is None):
        raise InvalidInput("declare_personal needs exactly one of stream_type= or event_type=")
    if isinstance(fields, str) or not fields or not all(isinstance(f, str) and f for f in fields):
        raise InvalidInput("fields must be a non-empty list of payload field names", values=[fields])
    if not isinstance(subject, str) or not subject:
        raise InvalidInput("subject must be 'stream_id' or the name of a payload field", values=[subject])
    if subject in fields:
        raise InvalidInput(f"the subject field {subject!r} cannot itself be personal (it must stay readable to "
                           "find whose data to forget)", values=[subject])
    scope, name = ("stream_type", stream_type) if stream_type is not None else ("event_type", event_type)
    return scope, str(name), list(dict.fromkeys(fields)), subject


class KeyRing:
    """Encryption and the read side's key cache, one per store object.

    Keys are read from the catalog when first needed and cached; the cache is dropped whenever the
    catalog's erasure counter moves (an erasure in any process), so no read decrypts with a key
    destroyed before its snapshot was taken.
    """

    def __init__(self, catalog: Any) -> None:
        self._catalog = catalog
        self._keys: dict[str, bytes | None] = {}  # key_id -> key, or None once erased (or unknown)
        self._gcm: dict[str, Any] = {}  # key_id -> AESGCM (ek1)
        self._ecb: dict[str, Any] = {}  # key_id -> AES-ECB encryptor under ccm_key (ek2)
        self._erased_seen = -1
        self._lock = threading.Lock()
        self._cipher_lock = threading.Lock()  # DuckDB may call the UDFs from several threads; an encryptor is not shared
        self._registered: set[int] = set()

    def sync(self, erased_counter: int) -> None:
        if erased_counter != self._erased_seen:
            with self._lock:
                self._keys, self._gcm, self._ecb = {}, {}, {}
                self._erased_seen = erased_counter

    def _lookup(self, key_ids: set[str], tx: Any = None) -> None:
        missing = [k for k in key_ids if k not in self._keys]
        if not missing:
            return
        if tx is not None:  # inside the caller's transaction
            keys = self._catalog.keys_by_id(tx, missing)
        else:
            with self._catalog.read() as tx:
                keys = self._catalog.keys_by_id(tx, missing)
        with self._lock:
            for key_id in missing:
                self._keys[key_id] = keys.get(key_id)

    def _ecb_for(self, key_id: str) -> Any:
        enc = self._ecb.get(key_id)
        if enc is None:
            enc = self._ecb[key_id] = ccm_batch.ecb_encryptor(ccm_key(self._keys[key_id]))  # type: ignore[arg-type]
        return enc

    def reveal(self, tokens: pa.Array) -> pa.Array:
        """Tokens to text; NULL where the key was destroyed; text that is no token unchanged.

        Raises:
            TamperedStore: a token whose authentication tag does not match its ciphertext.
        """
        tokens = _strings(tokens)
        out = tokens
        for prefix, reveal in ((TOKEN, self._reveal_ek1), (TOKEN2, self._reveal_ek2)):
            mask = pc.fill_null(pc.starts_with(tokens, prefix), False)
            if pc.any(mask).as_py():
                out = pc.replace_with_mask(out, mask, reveal(tokens.filter(mask)))
        return out

    def _reveal_ek1(self, tokens: pa.Array) -> pa.Array:
        values = tokens.to_pylist()
        self._lookup({v[4:4 + _KEY_ID] for v in values})
        out = []
        for v in values:
            key_id = v[4:4 + _KEY_ID]
            if self._keys.get(key_id) is None:
                out.append(None)
                continue
            cipher = self._gcm.get(key_id) or self._gcm.setdefault(key_id, _aead(self._keys[key_id]))  # type: ignore[arg-type]
            raw = base64.b64decode(v[5 + _KEY_ID:])
            out.append(cipher.decrypt(raw[:12], raw[12:], None).decode())
        return pa.array(out, pa.string())

    def _reveal_ek2(self, tokens: pa.Array) -> pa.Array:
        key_ids = pc.utf8_slice_codeunits(tokens, 4, 4 + _KEY_ID).dictionary_encode()
        names = key_ids.dictionary.to_pylist()
        codes = key_ids.indices.to_numpy(zero_copy_only=False)
        self._lookup(set(names))
        live = np.array([self._keys.get(k) is not None for k in names], bool)
        rows = np.flatnonzero(live[codes])
        pick = np.full(len(tokens), -1, np.int64)
        if not len(rows):
            return pa.nulls(len(tokens), pa.string())
        order = rows[np.argsort(codes[rows], kind="stable")]
        data, starts, lengths = string_buffers(tokens)
        try:
            raw, raw_starts, raw_lengths = b64decode(data, starts[order] + 5 + _KEY_ID, lengths[order] - 5 - _KEY_ID)
            with self._cipher_lock:
                encryptors = [self._ecb_for(k) if live[i] else None for i, k in enumerate(names)]
                plain, plain_lengths, ok = ccm_batch.decrypt(encryptors, codes[order], raw, raw_starts, raw_lengths)
        except ValueError as e:
            ok, plain, plain_lengths, problem = None, None, None, str(e)
        if ok is None or not ok.all():
            from eventkit.store.integrity import TamperedStore

            bad = [] if ok is None else tokens.take(pa.array(order[~ok][:3])).to_pylist()
            raise TamperedStore(
                "a personal field's encrypted value does not check out against its key "
                f"({problem if ok is None else 'authentication tag mismatch'}): the store was edited; run "
                f"`eventkit verify` to find where. Tokens: {[b[:40] + '...' for b in bad]}")
        pick[order] = np.arange(len(order))
        return string_array(plain, plain_lengths).take(pa.array(pick, mask=pick < 0))

    def erased(self, tokens: pa.Array) -> pa.Array:
        """True where a value is a token whose key was destroyed."""
        tokens = _strings(tokens)
        is_token = pc.fill_null(pc.or_(pc.starts_with(tokens, TOKEN), pc.starts_with(tokens, TOKEN2)), False)
        if not pc.any(is_token).as_py():
            return pa.array(np.zeros(len(tokens), bool))
        key_ids = pc.utf8_slice_codeunits(pc.if_else(is_token, tokens, None), 4, 4 + _KEY_ID).dictionary_encode()
        names = key_ids.dictionary.to_pylist()
        self._lookup(set(names))
        dead = np.array([self._keys.get(k) is None for k in names] + [False], bool)
        codes = pc.fill_null(key_ids.indices, len(names)).to_numpy(zero_copy_only=False)
        return pa.array(dead[codes])

    def reveal_like(self, stored: Any, new: dict[str, Any], tx: Any = None) -> Any:
        """A stored payload (dict or JSON text) with tokens decrypted, for comparing with a re-sent ``new``;
        a field whose key was destroyed takes ``new``'s value (the original cannot be compared any more)."""
        data = json.loads(stored) if isinstance(stored, str) else stored
        if not isinstance(data, dict):
            return stored
        out = dict(data)
        for k, v in data.items():
            if isinstance(v, str) and v.startswith(TOKENS):
                self._lookup({v[4:4 + _KEY_ID]}, tx)
                revealed = self.reveal(pa.array([v], pa.string()))[0].as_py()
                out[k] = new.get(k) if revealed is None else revealed
        return out

    def register(self, db: Any) -> None:
        """Make ``ek_reveal`` and ``ek_erased`` callable in DuckDB instance ``db`` (once per instance)."""
        if id(db) in self._registered:
            return
        for name, fn, out in (("ek_reveal", self.reveal, "VARCHAR"), ("ek_erased", self.erased, "BOOLEAN")):
            try:
                db.create_function(name, fn, ["VARCHAR"], out, type="arrow", null_handling="special",
                                   side_effects=False)
            except Exception as e:  # noqa: BLE001 - registered already by an earlier store object on this instance
                if "already exists" not in str(e):
                    raise
        self._registered.add(id(db))


def _flat(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    return values


def _strings(values: Any) -> pa.Array:
    values = _flat(values)
    return values if values.type == pa.string() else values.cast(pa.string())


def reveal_wrapper(declared: Declarations, fields: dict[str, str]) -> Any:
    """A function turning the ``events`` SQL into one that reveals personal fields and adds ``erased``."""
    personal = [f for f in declared.fields if fields.get(f) == "VARCHAR"]

    def wrap(sql: str) -> str:
        if not personal:
            return f"SELECT *, false AS erased FROM ({sql})"
        updates = ", ".join(f"{quote_ident(f)} := ek_reveal(data.{quote_ident(f)})" for f in personal)
        flags = " OR ".join(f"coalesce(ek_erased(data.{quote_ident(f)}), false)" for f in personal)
        return f"SELECT * REPLACE (struct_update(data, {updates}) AS data), ({flags}) AS erased FROM ({sql})"

    return wrap


# -- the write side ----------------------------------------------------------------------------

def _keys(catalog: Any, tx: Any, subjects: set[str]) -> dict[str, tuple[str, bytes]]:
    """subject -> (key_id, key) for each subject, making keys for new subjects."""
    have = catalog.subject_keys(tx, sorted(subjects))
    missing = sorted(subjects - set(have))
    if missing:
        ids, material = os.urandom(_KEY_ID // 2 * len(missing)).hex(), os.urandom(32 * len(missing))
        new = [(ids[_KEY_ID * i:_KEY_ID * (i + 1)], s, material[32 * i:32 * (i + 1)]) for i, s in enumerate(missing)]
        catalog.add_subject_keys(tx, new)
        have.update({s: (key_id, key) for key_id, s, key in new})
    return have


def _refuse_tokens(values: pa.Array, name: str) -> None:
    is_token = pc.fill_null(pc.or_(pc.starts_with(values, TOKEN), pc.starts_with(values, TOKEN2)), False)
    if pc.any(is_token).as_py():
        raise InvalidInput(f"personal field {name!r} may not start with {TOKEN!r} or {TOKEN2!r} (the form of an "
                           "encrypted value)", column=name, values=values.filter(is_token).to_pylist()[:3])


def seal(values: pa.Array, subjects: pa.Array, keys: dict[str, tuple[str, bytes]], name: str) -> pa.DictionaryArray:
    """ek2 tokens of ``values`` (text, no nulls), each under its subject's key (``keys``: subject -> (key id, key)).

    Each distinct (subject, value) pair is encrypted once, under a fresh random nonce, and its rows share
    the token: repeated values (a customer's name on each of their events) cost one encryption and
    compress in the segment file as well as the plain text did. What that shows is which of one
    subject's values in one call are equal, never what they are (see the README's note on the format).

    Returns:
        A dictionary array: row i's token is ``dictionary[indices[i]]``.

    Raises:
        InvalidInput: a value that already looks like a token, or one longer than 16 MiB.
    """
    values = _strings(values)
    by_subject = _strings(subjects).dictionary_encode()
    by_value = values.dictionary_encode()
    width = max(len(by_value.dictionary), 1)
    pair = (by_subject.indices.to_numpy(zero_copy_only=False).astype(np.int64) * width
            + by_value.indices.to_numpy(zero_copy_only=False))
    first, distinct = pd.factorize(pair, sort=True)  # sorted: each subject's pairs in one run (a few AES calls each)
    _refuse_tokens(by_value.dictionary, name)
    tokens, where = _seal_runs(by_value.dictionary.take(pa.array(distinct % width)), distinct // width,
                               by_subject.dictionary.to_pylist(), keys, name)
    return pa.DictionaryArray.from_arrays(pa.array(where[first].astype(np.int32)), tokens)


def _seal_runs(values: pa.Array, codes: np.ndarray, names: list[str], keys: dict[str, tuple[str, bytes]],
               name: str) -> tuple[pa.Array, np.ndarray]:
    """Tokens of ``values``; value i belongs to subject ``names[codes[i]]``, ``codes`` non-decreasing.

    Returns:
        (tokens, where): value i's token is ``tokens[where[i]]``. The byte work is done per value length, on
        2-D arrays (every token of one length is as long): no per-byte index arrays.
    """
    n = len(values)
    _, _, lengths = string_buffers(values)
    if n and int(lengths.max()) > ccm_batch.MAX_LENGTH:
        raise InvalidInput(f"personal field {name!r} holds values of at most {ccm_batch.MAX_LENGTH:,} bytes",
                           column=name, values=[f"{int(lengths.max()):,} bytes"])
    nonces = np.frombuffer(os.urandom(ccm_batch.NONCE * n), np.uint8).reshape(n, ccm_batch.NONCE)
    encryptors: list[Any] = [None] * len(names)
    for c in np.unique(codes).tolist():
        encryptors[c] = ccm_batch.ecb_encryptor(ccm_key(keys[names[c]][1]))
    blocks = (lengths + 15) // 16
    first_block = starts_of(blocks)
    by_length = np.argsort(lengths, kind="stable")
    cuts = np.flatnonzero(np.diff(lengths[by_length])) + 1
    buckets = [(int(lengths[rows[0]]), rows) for rows in np.split(by_length, cuts) if len(rows)]

    def block_index(rows: np.ndarray, m: int) -> np.ndarray:
        return (first_block[rows][:, None] + np.arange(m)).reshape(-1)

    plain = np.zeros((int(blocks.sum()), 16), np.uint8)
    for length, rows in buckets:
        m = (length + 15) // 16
        if m:
            part = np.zeros((len(rows), 16 * m), np.uint8)
            part[:, :length] = _fixed_bytes(values.take(pa.array(rows)), length)
            plain[block_index(rows, m)] = part.reshape(-1, 16)
    cipher, tags = ccm_batch.encrypt_blocks(encryptors, codes, nonces, plain, lengths)
    key_ids = np.frombuffer("".join(keys[s][0] if s in keys else "?" * _KEY_ID for s in names).encode(),
                            np.uint8).reshape(-1, _KEY_ID)
    head = 5 + _KEY_ID
    where = np.empty(n, np.int64)
    parts, done = [], 0
    for length, rows in buckets:
        m = (length + 15) // 16
        size = ccm_batch.NONCE + length + ccm_batch.TAG
        raw = np.zeros((len(rows), (size + 2) // 3 * 3), np.uint8)
        raw[:, :ccm_batch.NONCE] = nonces[rows]
        if m:
            raw[:, ccm_batch.NONCE:ccm_batch.NONCE + length] = cipher[block_index(rows, m)].reshape(len(rows), -1)[:, :length]
        raw[:, ccm_batch.NONCE + length:size] = tags[rows]
        text = b64encode_rows(raw, size)
        token = np.empty((len(rows), head + text.shape[1]), np.uint8)
        token[:, :4] = np.frombuffer(TOKEN2.encode(), np.uint8)
        token[:, 4:4 + _KEY_ID] = key_ids[codes[rows]]
        token[:, 4 + _KEY_ID] = ord(":")
        token[:, head:] = text
        parts.append(fixed_width_strings(token))
        where[rows] = done + np.arange(len(rows))
        done += len(rows)
    tokens = pa.concat_arrays(parts) if parts else pa.array([], pa.string())
    return tokens, where


def _fixed_bytes(values: pa.Array, length: int) -> np.ndarray:
    """The bytes of string values that all have ``length`` bytes, as a 2-D array (one row each)."""
    data, starts, _ = string_buffers(values)
    first = int(starts[0]) if len(starts) else 0
    return data[first:first + len(values) * length].reshape(len(values), length)


def _subject_of(subject: str, stream_id: str, data: dict[str, Any], stream_type: str, event_type: str) -> str:
    if subject == "stream_id":
        return stream_id
    value = data.get(subject)
    if value is None:
        raise InvalidInput(f"a {stream_type}/{event_type} event has personal fields but no subject field {subject!r} "
                           f"(stream {stream_id!r}): give it, so the data can be forgotten later",
                           column=subject, values=[stream_id])
    return str(value)


def _text_only(name: str, value: Any) -> InvalidInput:
    return InvalidInput(f"personal field {name!r} holds text only (it is stored encrypted); got {value!r}: store it as "
                        "a string, or do not declare it personal", column=name, values=[value])


def encrypt_hot_rows(catalog: Any, tx: Any, declared: Declarations, rows: list[tuple]) -> list[tuple]:
    """Hot-log rows (as inserted) with their personal fields encrypted."""
    work: list[tuple[int, dict[str, Any]]] = []
    cells: list[tuple[int, str, str, str]] = []  # (index in work, field, value, subject)
    for i, r in enumerate(rows):
        rules = declared.rules(r[2], r[4])
        if rules and r[8]:
            data = json.loads(r[8])
            hits = [(fs, subj) for fs, subj in rules if any(data.get(f) is not None for f in fs)]
            done: set[str] = set()  # a field two declarations name: the stream type's wins, as in bulk appends
            for fs, subj in hits:
                subject = _subject_of(subj, r[1], data, r[2], r[4])
                for f in fs:
                    if data.get(f) is not None and f not in done:
                        done.add(f)
                        if not isinstance(data[f], str):
                            raise _text_only(f, data[f])
                        cells.append((len(work), f, data[f], subject))
            if hits:
                work.append((i, data))
    if not cells:
        return rows
    keys = _keys(catalog, tx, {c[3] for c in cells})
    tokens = []
    for f in dict.fromkeys(c[1] for c in cells):  # one call per field name (the error names the field)
        mine = [c for c in cells if c[1] == f]
        sealed = seal(pa.array([c[2] for c in mine], pa.string()), pa.array([c[3] for c in mine], pa.string()), keys, f)
        tokens.extend(zip(mine, sealed.to_pylist()))
    for (w, f, _, _), token in tokens:
        work[w][1][f] = token
    out = list(rows)
    for i, data in work:
        r = out[i]
        out[i] = (*r[:8], json.dumps(data, ensure_ascii=False), *r[9:])
    return out


def encrypt_table(catalog: Any, tx: Any, declared: Declarations, table: pa.Table, stream_types: pa.Array) -> pa.Table:
    """A bulk append's rows (envelope + flat payload columns) with personal fields encrypted.

    Args:
        stream_types: Each row's resolved stream type.
    """
    event_types = table.column("event_type")
    sealed: dict[str, pa.Array] = {}  # field -> rows encrypted already (a field two declarations name)
    for scope, rules in (("stream_type", declared.by_stream_type), ("event_type", declared.by_event_type)):
        column = stream_types if scope == "stream_type" else event_types
        for name, (fs, subject) in rules.items():
            present = [f for f in fs if f in table.column_names]
            if not present:
                continue
            in_scope = pc.fill_null(pc.equal(column, name), False)
            if not pc.any(in_scope).as_py():
                continue
            if subject != "stream_id" and subject not in table.column_names:
                raise InvalidInput(f"{scope} {name!r} has personal fields {present} but the frame has no subject "
                                   f"column {subject!r}", column=subject)
            for f in present:
                col = table.column(f)
                text = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
                if not (pa.types.is_string(text) or pa.types.is_large_string(text) or pa.types.is_null(text)
                        or col.null_count == len(col)):
                    raise InvalidInput(f"personal field {f!r} holds text only (it is stored encrypted); the frame's "
                                       f"column is {col.type}: store it as strings, or do not declare it personal",
                                       column=f)
                hit = _flat(pc.and_(in_scope, pc.is_valid(col)))
                if f in sealed:
                    hit = pc.and_(hit, pc.invert(sealed[f]))
                rows = pc.indices_nonzero(hit)
                if not len(rows):
                    continue
                sealed[f] = hit if f not in sealed else pc.or_(sealed[f], hit)
                every = len(rows) == len(col)
                subjects = _flat(table.column(subject))
                subjects = subjects if every else subjects.filter(hit)
                if subjects.null_count:
                    raise InvalidInput(f"{scope} {name!r}: rows with personal fields need a subject {subject!r}",
                                       column=subject)
                kind = subjects.type.value_type if pa.types.is_dictionary(subjects.type) else subjects.type
                if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
                    subjects = pa.array([str(s) for s in subjects.to_pylist()], pa.string())  # as the hot path does
                subjects = _strings(subjects)
                keys = _keys(catalog, tx, set(pc.unique(subjects).to_pylist()))
                tokens = seal(_flat(col) if every else _flat(col).filter(hit), subjects, keys, f)
                if col.null_count == len(col) - len(rows) and not pa.types.is_dictionary(col.type):
                    # no other row holds the field: the column stays a dictionary (repeated tokens stored once)
                    index = np.full(len(col), -1, np.int32)
                    index[rows.to_numpy()] = tokens.indices.to_numpy(zero_copy_only=False)
                    column = pa.DictionaryArray.from_arrays(pa.array(index, mask=index < 0), tokens.dictionary)
                else:
                    column = pc.replace_with_mask(_strings(col), hit, tokens.cast(pa.string()))
                table = table.set_column(table.column_names.index(f), f, column)
    return table


def forget(store: Any, subject: str) -> int:
    """Destroy ``subject``'s keys and log the erasure as a link; returns how many keys were destroyed."""
    from eventkit.store.chain_links import add_link
    from eventkit.store.envelope import micros_now

    if not isinstance(subject, str) or not subject:
        raise InvalidInput("forget needs the subject as text (e.g. the stream id)", values=[subject])
    with store._catalog.write() as tx:
        destroyed, known = store._catalog.erase_subject(tx, subject)
        if not known:
            raise InvalidInput(f"no personal data of subject {subject!r} is stored (no key was ever made for it); "
                               "check the subject, and that its fields were declared with store.declare_personal",
                               values=[subject])
        if destroyed:
            head = store._catalog.meta_int(tx, "head")
            add_link(store._catalog, tx, "erase", head, head, micros_now(), {"subject": subject, "keys": destroyed})
    return destroyed
