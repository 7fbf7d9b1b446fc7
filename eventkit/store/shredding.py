"""Crypto-shredding: personal payload fields stored encrypted under per-subject keys; forgetting a
subject destroys its keys.

A declaration (``store.declare_personal``) names the fields of one stream type or one event type that
are personal, and the subject they belong to: an envelope column (``stream_id``) or a payload field
(``customer_id``). An append encrypts each such field's text with AES-GCM under the subject's key
(made on first use, kept in the catalog) and stores the token ``ek1:<key id>:<base64 nonce+ciphertext>``
in its place. Every read (``read_*``, ``sql``, folds, exports, reports) goes through the ``events``
view, which turns tokens back into text, and into NULL once the key is destroyed, with the column
``erased`` true on each event that lost a field. The hash chain and file hashes cover the tokens,
so an erasure changes no byte of history: ``verify`` still passes.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

from eventkit.common.errors import InvalidInput
from eventkit.common.sql import quote_ident

TOKEN = "ek1:"


def _aead(key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


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
        self._ciphers: dict[str, Any] = {}  # key_id -> AESGCM, or None once erased
        self._erased_seen = -1
        self._lock = threading.Lock()
        self._registered: set[int] = set()

    def sync(self, erased_counter: int) -> None:
        if erased_counter != self._erased_seen:
            with self._lock:
                self._ciphers = {}
                self._erased_seen = erased_counter

    def _lookup(self, key_ids: set[str], tx: Any = None) -> None:
        missing = [k for k in key_ids if k not in self._ciphers]
        if not missing:
            return
        if tx is not None:  # inside the caller's transaction
            keys = self._catalog.keys_by_id(tx, missing)
        else:
            with self._catalog.read() as tx:
                keys = self._catalog.keys_by_id(tx, missing)
        with self._lock:
            for key_id in missing:
                key = keys.get(key_id)
                self._ciphers[key_id] = None if key is None else _aead(key)

    def reveal(self, tokens: pa.Array) -> pa.Array:
        """Tokens to text; NULL where the key was destroyed; text that is no token unchanged."""
        values = tokens.to_pylist()
        self._lookup({v[4:20] for v in values if v is not None and v.startswith(TOKEN)})
        out = []
        for v in values:
            if v is None or not v.startswith(TOKEN):
                out.append(v)
                continue
            cipher = self._ciphers.get(v[4:20])
            if cipher is None:
                out.append(None)
                continue
            raw = base64.b64decode(v[21:])
            out.append(cipher.decrypt(raw[:12], raw[12:], None).decode())
        return pa.array(out, pa.string())

    def erased(self, tokens: pa.Array) -> pa.Array:
        values = tokens.to_pylist()
        self._lookup({v[4:20] for v in values if v is not None and v.startswith(TOKEN)})
        return pa.array([v is not None and v.startswith(TOKEN) and self._ciphers.get(v[4:20]) is None
                         for v in values], pa.bool_())

    def reveal_like(self, stored: Any, new: dict[str, Any], tx: Any = None) -> Any:
        """A stored payload (dict or JSON text) with tokens decrypted, for comparing with a re-sent ``new``;
        a field whose key was destroyed takes ``new``'s value (the original cannot be compared any more)."""
        data = json.loads(stored) if isinstance(stored, str) else stored
        if not isinstance(data, dict):
            return stored
        out = dict(data)
        for k, v in data.items():
            if isinstance(v, str) and v.startswith(TOKEN):
                self._lookup({v[4:20]}, tx)
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

def _keys(catalog: Any, tx: Any, subjects: set[str]) -> dict[str, tuple[str, Any]]:
    """subject -> (key_id, AESGCM) for each subject, making keys for new subjects."""
    have = catalog.subject_keys(tx, sorted(subjects))
    new = []
    for s in subjects - set(have):
        key_id, key = uuid.uuid4().hex[:16], os.urandom(32)
        new.append((key_id, s, key))
        have[s] = (key_id, key)
    if new:
        catalog.add_subject_keys(tx, new)
    return {s: (kid, _aead(key)) for s, (kid, key) in have.items()}


def _seal_value(value: Any, key_id: str, cipher: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"personal field {name!r} holds text only (it is stored encrypted); got {value!r}: store "
                           "it as a string, or do not declare it personal", column=name, values=[value])
    if value.startswith(TOKEN):
        raise InvalidInput(f"personal field {name!r} may not start with {TOKEN!r}", column=name, values=[value])
    nonce = os.urandom(12)
    return f"{TOKEN}{key_id}:" + base64.b64encode(nonce + cipher.encrypt(nonce, value.encode(), None)).decode()


def _subject_of(subject: str, stream_id: str, data: dict[str, Any], stream_type: str, event_type: str) -> str:
    if subject == "stream_id":
        return stream_id
    value = data.get(subject)
    if value is None:
        raise InvalidInput(f"a {stream_type}/{event_type} event has personal fields but no subject field {subject!r} "
                           f"(stream {stream_id!r}): give it, so the data can be forgotten later",
                           column=subject, values=[stream_id])
    return str(value)


def encrypt_hot_rows(catalog: Any, tx: Any, declared: Declarations, rows: list[tuple]) -> list[tuple]:
    """Hot-log rows (as inserted) with their personal fields encrypted."""
    work = []
    for i, r in enumerate(rows):
        rules = declared.rules(r[2], r[4])
        if rules and r[8]:
            data = json.loads(r[8])
            hits = [(fs, subj) for fs, subj in rules if any(data.get(f) is not None for f in fs)]
            if hits:
                work.append((i, data, [(fs, _subject_of(subj, r[1], data, r[2], r[4])) for fs, subj in hits]))
    if not work:
        return rows
    keys = _keys(catalog, tx, {s for _, _, hits in work for _, s in hits})
    out = list(rows)
    for i, data, hits in work:
        for fs, subject in hits:
            key_id, cipher = keys[subject]
            for f in fs:
                if data.get(f) is not None:
                    data[f] = _seal_value(data[f], key_id, cipher, f)
        r = out[i]
        out[i] = (*r[:8], json.dumps(data, ensure_ascii=False), *r[9:])
    return out


def encrypt_table(catalog: Any, tx: Any, declared: Declarations, table: pa.Table, stream_types: pa.Array) -> pa.Table:
    """A bulk append's rows (envelope + flat payload columns) with personal fields encrypted.

    Args:
        stream_types: Each row's resolved stream type.
    """
    event_types = table.column("event_type")
    for scope, rules in (("stream_type", declared.by_stream_type), ("event_type", declared.by_event_type)):
        column = stream_types if scope == "stream_type" else event_types
        for name, (fs, subject) in rules.items():
            present = [f for f in fs if f in table.column_names]
            if not present:
                continue
            mask = pa.compute.equal(column, name)
            rows = pa.compute.indices_nonzero(pa.compute.fill_null(mask, False)).to_numpy()
            if not len(rows):
                continue
            take = pa.array(rows)
            if subject == "stream_id" or subject in table.column_names:
                subjects = table.column(subject).take(take).to_pylist()
            else:
                raise InvalidInput(f"{scope} {name!r} has personal fields {present} but the frame has no subject "
                                   f"column {subject!r}", column=subject)
            if any(s is None for s in subjects):
                raise InvalidInput(f"{scope} {name!r}: rows with personal fields need a subject {subject!r}",
                                   column=subject)
            keys = _keys(catalog, tx, {str(s) for s in subjects})
            for f in present:
                col = table.column(f)
                if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_null(col.type)
                        or col.null_count == len(col)):
                    raise InvalidInput(f"personal field {f!r} holds text only (it is stored encrypted); the frame's "
                                       f"column is {col.type}: store it as strings, or do not declare it personal",
                                       column=f)
                values = col.take(take).to_pylist()
                sealed = [None if v is None else _seal_value(v, *keys[str(s)], f) for v, s in zip(values, subjects)]
                full = col.to_pylist()
                for r, v in zip(rows, sealed):
                    full[r] = v
                table = table.set_column(table.column_names.index(f), f, pa.array(full, pa.string()))
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
