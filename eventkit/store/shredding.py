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
into NULL once the key is destroyed, with the column ``erased`` true on each event that lost a field
and ``erased_fields`` listing which (a field the event never had is not erased).
The hash chain and file hashes cover the tokens, so an erasure changes no byte of history: ``verify``
still passes.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from eventkit.common.errors import InvalidInput
from eventkit.common.sql import quote_ident
from eventkit.store import ccm_batch
from eventkit.store.ragged_bytes import b64decode_tails, string_array
from eventkit.store.shredding_cache import MISSING, RevealCache
from eventkit.store.shredding_format import (KEY_ID, TOKEN, TOKEN2, TOKENS, as_strings, ccm_key,  # noqa: F401
                                             is_token_sql)
from eventkit.store.shredding_writes import encrypt_hot_rows, encrypt_table  # noqa: F401  (the store's writers)


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
    from eventkit.store.envelope import check_field_name, check_name

    for f in fields:  # the rules of payload field names (identifiers, not an envelope column)
        check_field_name(f)
    if subject != "stream_id":  # any other subject is a payload field (position, event_type... are not one)
        check_field_name(subject)
    if stream_type is not None:  # a name no stream type can have would never apply
        check_name(stream_type, "stream_type")
    elif not isinstance(event_type, str) or not event_type:
        raise InvalidInput("event_type must be an event type's name (non-empty text)", values=[event_type])
    if subject in fields:
        raise InvalidInput(f"the subject field {subject!r} cannot itself be personal (it must stay readable to "
                           "find whose data to forget)", values=[subject])
    scope, name = ("stream_type", stream_type) if stream_type is not None else ("event_type", event_type)
    return scope, str(name), list(dict.fromkeys(fields)), subject


_FEW = 128  # up to this many values in a call, the read side decrypts them one by one (less fixed cost)


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
        self._ecb: dict[str, Any] = {}  # key_id -> AES-ECB encryptor under ccm_key (ek2, many values a call)
        self._ccm: dict[str, Any] = {}  # key_id -> AESCCM under ccm_key (ek2, a few values a call)
        self._revealed = RevealCache()  # token -> text, dropped with the keys on an erasure
        self._erased_seen = -1
        self._lock = threading.Lock()
        self._cipher_lock = threading.Lock()  # DuckDB may call the UDFs from several threads; an encryptor is not shared
        self._registered: set[int] = set()

    def sync(self, erased_counter: int) -> None:
        if erased_counter != self._erased_seen:
            with self._lock:
                self._keys, self._gcm, self._ecb, self._ccm, self._revealed = {}, {}, {}, {}, RevealCache()
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
        encoded = as_strings(tokens).dictionary_encode()  # a value repeated in the call is decrypted once
        distinct = encoded.dictionary
        is_token = pc.fill_null(pc.or_(pc.starts_with(distinct, TOKEN), pc.starts_with(distinct, TOKEN2)), False)
        count = pc.sum(is_token).as_py() or 0
        if not count:
            return distinct.take(encoded.indices)
        found = self._reveal_cached(distinct if count == len(distinct) else distinct.filter(is_token))
        out = found if count == len(distinct) else pc.replace_with_mask(distinct, is_token, found)
        return out.take(encoded.indices)

    def _reveal_cached(self, tokens: pa.Array) -> pa.Array:
        """Distinct tokens to text, through the cache of earlier calls while it pays (see :mod:`.shredding_cache`)."""
        cache = self._revealed
        if not cache.pays():
            return self._reveal_all(tokens)
        values = tokens.to_pylist()
        found = cache.lookup(values)
        missing = [v for v, f in zip(values, found) if f is MISSING]
        if not missing:
            return pa.array(found, pa.string())
        texts = self._reveal_all(pa.array(missing, pa.string())).to_pylist()
        cache.add(missing, texts)
        new = iter(texts)
        return pa.array([next(new) if f is MISSING else f for f in found], pa.string())

    def _reveal_all(self, tokens: pa.Array) -> pa.Array:
        if len(tokens) <= _FEW:  # a few values: one library call each (less fixed cost than a batch)
            return pa.array([self._reveal_one(v) for v in tokens.to_pylist()], pa.string())
        return self._reveal_many(tokens)

    def _reveal_many(self, tokens: pa.Array) -> pa.Array:
        out = tokens
        for prefix, reveal in ((TOKEN, self._reveal_ek1), (TOKEN2, self._reveal_ek2)):
            mask = pc.fill_null(pc.starts_with(tokens, prefix), False)
            if pc.any(mask).as_py():
                out = pc.replace_with_mask(out, mask, reveal(tokens.filter(mask)))
        return out

    def _reveal_one(self, v: str | None) -> str | None:
        if v is None or not v.startswith(TOKENS):
            return v
        key_id = v[4:4 + KEY_ID]
        self._lookup({key_id})
        key = self._keys.get(key_id)
        if key is None:
            return None
        raw = base64.b64decode(v[5 + KEY_ID:])
        if v.startswith(TOKEN):
            cipher = self._gcm.get(key_id) or self._gcm.setdefault(key_id, _aead(key))
            return cipher.decrypt(raw[:12], raw[12:], None).decode()
        ccm = self._ccm.get(key_id)
        if ccm is None:
            ccm = self._ccm[key_id] = AESCCM(ccm_key(key), ccm_batch.TAG)
        try:
            return ccm.decrypt(raw[:ccm_batch.NONCE], raw[ccm_batch.NONCE:], None).decode()
        except (InvalidTag, ValueError) as e:
            from eventkit.store.integrity import TamperedStore

            raise TamperedStore("a personal field's encrypted value does not check out against its key "
                                f"({type(e).__name__}): the store was edited; run `eventkit verify` to find where. "
                                f"Token: {v[:40]}...") from None

    def _reveal_ek1(self, tokens: pa.Array) -> pa.Array:
        values = tokens.to_pylist()
        self._lookup({v[4:4 + KEY_ID] for v in values})
        out = []
        for v in values:
            key_id = v[4:4 + KEY_ID]
            if self._keys.get(key_id) is None:
                out.append(None)
                continue
            cipher = self._gcm.get(key_id) or self._gcm.setdefault(key_id, _aead(self._keys[key_id]))  # type: ignore[arg-type]
            raw = base64.b64decode(v[5 + KEY_ID:])
            out.append(cipher.decrypt(raw[:12], raw[12:], None).decode())
        return pa.array(out, pa.string())

    def _reveal_ek2(self, tokens: pa.Array) -> pa.Array:
        key_ids = pc.utf8_slice_codeunits(tokens, 4, 4 + KEY_ID).dictionary_encode()
        names = key_ids.dictionary.to_pylist()
        codes = key_ids.indices.to_numpy(zero_copy_only=False)
        self._lookup(set(names))
        live = np.array([self._keys.get(k) is not None for k in names], bool)
        rows = np.flatnonzero(live[codes])
        pick = np.full(len(tokens), -1, np.int64)
        if not len(rows):
            return pa.nulls(len(tokens), pa.string())
        order = rows[np.argsort(codes[rows], kind="stable")]
        try:
            raw, raw_starts, raw_lengths = b64decode_tails(tokens.take(pa.array(order)), 5 + KEY_ID)
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
        tokens = as_strings(tokens)
        is_token = pc.fill_null(pc.or_(pc.starts_with(tokens, TOKEN), pc.starts_with(tokens, TOKEN2)), False)
        if not pc.any(is_token).as_py():
            return pa.array(np.zeros(len(tokens), bool))
        key_ids = pc.utf8_slice_codeunits(pc.if_else(is_token, tokens, None), 4, 4 + KEY_ID).dictionary_encode()
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
                self._lookup({v[4:4 + KEY_ID]}, tx)
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
    """A function turning the ``events`` SQL into one that reveals personal fields and adds ``erased`` and
    ``erased_fields``."""
    personal = [f for f in declared.fields if fields.get(f) == "VARCHAR"]

    def wrap(sql: str) -> str:
        if not personal:
            return f"SELECT *, false AS erased, []::VARCHAR[] AS erased_fields FROM ({sql})"
        # Only tokens reach the Python functions: a vector without any (a column mostly NULL, other event
        # types) costs no call.
        token = {f: "(" + " OR ".join(f"starts_with(data.{quote_ident(f)}, '{t}')" for t in TOKENS) + ")"
                 for f in personal}
        updates = ", ".join(f"{quote_ident(f)} := CASE WHEN {token[f]} THEN ek_reveal(data.{quote_ident(f)}) "
                            f"ELSE data.{quote_ident(f)} END" for f in personal)
        # erased_fields: the fields whose value was a token with a destroyed key (an absent field is not erased).
        names = ", ".join(f"CASE WHEN {token[f]} THEN CASE WHEN ek_erased(data.{quote_ident(f)}) THEN "
                          f"'{f}' END END" for f in personal)
        return (f"SELECT * EXCLUDE (erased_fields), len(erased_fields) > 0 AS erased, erased_fields FROM ("
                f"SELECT * REPLACE (struct_update(data, {updates}) AS data), "
                f"list_filter([{names}]::VARCHAR[], lambda x: x IS NOT NULL) AS erased_fields FROM ({sql}))")

    return wrap


_DIGITS = re.compile(r"-?(0|[1-9][0-9]*)")


def legacy_spellings(subject: str) -> list[str]:
    """Other texts the keys of ``subject`` may be stored under by an older eventkit: a whole number that
    arrived as a float (a pandas column with a missing value) was keyed as ``str(1.0)``, "1.0", before
    :func:`~eventkit.store.shredding_writes.subject_text` spelled it as its digits. Only the float that is
    exactly that number (none past 2**53 where the float rounds; "-0.0" as well as "0.0" for 0)."""
    if len(subject) > 310 or not _DIGITS.fullmatch(subject):  # no float has more digits than 309
        return []
    number = int(subject)
    try:
        exact = float(number) == number
    except OverflowError:
        exact = False
    if not exact:  # no float is exactly this number: no stored key can have come from one
        return []
    return [repr(float(number))] + (["-0.0"] if number == 0 else [])


def forget(store: Any, subject: str) -> int:
    """Destroy ``subject``'s keys and log the erasure as a link; returns how many keys were destroyed.

    A whole number's keys stored under its legacy float spelling go too (see :func:`legacy_spellings`)."""
    from eventkit.store.chain_links import add_link
    from eventkit.store.envelope import micros_now

    if not isinstance(subject, str) or not subject:
        raise InvalidInput("forget needs the subject as text (e.g. the stream id)", values=[subject])
    with store._catalog.write() as tx:
        destroyed, known = 0, False
        for spelling in (subject, *legacy_spellings(subject)):
            n, seen = store._catalog.erase_subject(tx, spelling)
            destroyed, known = destroyed + n, known or seen
        if not known:
            raise InvalidInput(f"no personal data of subject {subject!r} is stored (no key was ever made for it); "
                               "check the subject, and that its fields were declared with store.declare_personal",
                               values=[subject])
        stale: list[str] = []
        if destroyed:
            head = store._catalog.meta_int(tx, "head")
            add_link(store._catalog, tx, "erase", head, head, micros_now(), {"subject": subject, "keys": destroyed})
            # Saved fold states are plain text computed from revealed values: the erased ones among them.
            # They are caches, so all go (the catalog rows with the erasure, the files right after).
            stale = store._catalog.drop_fold_states(tx)
    for path in stale:
        store.files.delete(path)
    return destroyed
