"""Crypto-shredding's write side: personal fields of appended events replaced by ek2 tokens (see
:mod:`.shredding` for the scheme, :mod:`.ccm_batch` for the cipher)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from eventkit.common.errors import InvalidInput
from eventkit.store.shredding_format import KEY_ID, TOKEN, TOKEN2, as_strings, flat_array
from eventkit.store.shredding_tokens import seal_values

_PROBE = 65_536  # pairs looked at to decide whether hashing all of them pays (see seal)


def _keys(catalog: Any, tx: Any, subjects: set[str]) -> dict[str, tuple[str, bytes]]:
    """subject -> (key_id, key) for each subject, making keys for new subjects."""
    have = catalog.subject_keys(tx, sorted(subjects))
    missing = sorted(subjects - set(have))
    if missing:
        ids, material = os.urandom(KEY_ID // 2 * len(missing)).hex(), os.urandom(32 * len(missing))
        new = [(ids[KEY_ID * i:KEY_ID * (i + 1)], s, material[32 * i:32 * (i + 1)]) for i, s in enumerate(missing)]
        catalog.add_subject_keys(tx, new)
        have.update({s: (key_id, key) for key_id, s, key in new})
    return have


def _refuse_tokens(values: pa.Array, name: str) -> None:
    is_token = pc.fill_null(pc.or_(pc.starts_with(values, TOKEN), pc.starts_with(values, TOKEN2)), False)
    if pc.any(is_token).as_py():
        raise InvalidInput(f"personal field {name!r} may not start with {TOKEN!r} or {TOKEN2!r} (the form of an "
                           "encrypted value)", column=name, values=values.filter(is_token).to_pylist()[:3])


def seal(values: pa.Array, subjects: pa.Array, keys: dict[str, tuple[str, bytes]],
         name: str) -> pa.DictionaryArray | pa.ChunkedArray:
    """ek2 tokens of ``values`` (text, no nulls), each under its subject's key (``keys``: subject -> (key id, key)).

    Each distinct (subject, value) pair is encrypted once, under a fresh random nonce, and its rows share
    the token: repeated values (a customer's name on each of their events) cost one encryption and
    compress in the segment file as well as the plain text did. What that shows is which of one
    subject's values in one call are equal, never what they are (see the README's note on the format).
    Equal values next to each other are always found; a hash of every value is skipped when a sample
    shows the values are nearly all different (a different text on each event), where it cannot pay.

    Returns:
        A dictionary array (row i's token is ``dictionary[indices[i]]``), or, when every row has its own
        token in row order (a different text on each event), the tokens as a chunked array.

    Raises:
        InvalidInput: a value that already looks like a token, or one longer than 16 MiB.
    """
    values = as_strings(values)
    subjects = flat_array(subjects)
    by_subject = subjects if pa.types.is_dictionary(subjects.type) else dictionary_by_runs(as_strings(subjects))
    names = by_subject.dictionary.to_pylist()
    codes = by_subject.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    n = len(values)
    rows = None  # row i is run rows[i] (of equal subject and value), when rows are grouped by subject
    in_order = n < 2 or bool(np.all(codes[1:] >= codes[:-1]))
    if n > 1 and in_order:
        # A bulk append's rows are in stream order and the subject is mostly the stream: a pair repeats as a
        # run of equal values, found with one comparison per row; only the runs' heads are hashed below.
        new = np.ones(n, bool)
        new[1:] = (codes[1:] != codes[:-1]) | pc.not_equal(values.slice(1), values.slice(0, n - 1)).to_numpy(
            zero_copy_only=False)
        heads = np.flatnonzero(new)
        if len(heads) < n:
            rows = np.cumsum(new) - 1
            values, codes = values.take(pa.array(heads)), codes[heads]
    if _mostly_distinct(values, codes):
        _refuse_tokens(values, name)
        if in_order:
            tokens = seal_values(values, codes, names, keys, name)
            if rows is None:  # a token per row, in order: the tokens themselves (see Returns)
                return tokens
            index = np.arange(len(values))
        else:  # grouped by subject for the cipher (a few AES calls per subject), then put back
            order = np.argsort(codes, kind="stable")
            tokens = seal_values(values.take(pa.array(order)), codes[order], names, keys, name)
            index = np.empty(len(order), np.int64)
            index[order] = np.arange(len(order))
    else:
        by_value = values.dictionary_encode()
        width = max(len(by_value.dictionary), 1)
        pair = codes * width + by_value.indices.to_numpy(zero_copy_only=False)
        index, distinct = pd.factorize(pair, sort=True)  # sorted: each subject's pairs in one run
        _refuse_tokens(by_value.dictionary, name)
        tokens = seal_values(by_value.dictionary.take(pa.array(distinct % width)), distinct // width, names, keys,
                             name)
    if rows is not None:
        index = index[rows]
    return pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32)), tokens.combine_chunks())


def _mostly_distinct(values: pa.Array, codes: np.ndarray) -> bool:
    """Whether the first :data:`_PROBE` (subject, value) pairs are nearly all different (then so, most likely,
    are the rest, and hashing every pair to find the few equal ones costs more than it saves)."""
    if len(values) <= _PROBE:
        return False
    probe = values.slice(0, _PROBE).dictionary_encode()
    pair = codes[:_PROBE] * _PROBE + probe.indices.to_numpy(zero_copy_only=False)
    return len(np.unique(pair)) >= 0.9 * _PROBE


def dictionary_by_runs(values: pa.Array) -> pa.DictionaryArray:
    """``values`` (text, no nulls) dictionary-encoded. When equal values sit together (a bulk append's
    subjects, in stream order), it is done from their runs: one comparison per row and a hash of the run
    heads only, and the codes then never decrease."""
    n = len(values)
    if n < 2:
        return values.dictionary_encode()
    change = pc.not_equal(values.slice(1), values.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    heads = np.flatnonzero(np.concatenate(([True], change)))
    if len(heads) > n // 4:  # short runs: one hash of every row is cheaper
        return values.dictionary_encode()
    encoded = values.take(pa.array(heads)).dictionary_encode()
    run = np.cumsum(np.concatenate(([True], change))) - 1
    codes = encoded.indices.to_numpy(zero_copy_only=False)[run]
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), encoded.dictionary)


def subject_text(value: Any) -> str:
    """The subject a payload value names, as the text its key is kept under (and ``forget`` takes).

    A whole number is its digits whether it arrived as an int or a float: a frame with a missing value
    makes pandas hold customer 1 as 1.0, and it must stay customer "1", or ``forget("1")`` would miss it.
    Bytes and times are the text the hot log's JSON holds for them (base64; ISO 8601 in UTC).
    """
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (bytes, bytearray, memoryview)):  # as the hot log's JSON holds it
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime):  # the hot log's JSON holds ISO text (T-separated, UTC)
        return (value.astimezone(dt.timezone.utc) if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).isoformat()
    return str(value)


def _subject_of(subject: str, stream_id: str, data: dict[str, Any], stream_type: str, event_type: str) -> str:
    if subject == "stream_id":
        return stream_id
    value = data.get(subject)
    if value is None or value == "":  # "" names nobody: forget("") is refused, so its data could never be erased
        raise InvalidInput(f"a {stream_type}/{event_type} event has personal fields but no subject field {subject!r} "
                           f"(stream {stream_id!r}): give it, so the data can be forgotten later",
                           column=subject, values=[stream_id])
    return subject_text(value)


def _text_only(name: str, value: Any) -> InvalidInput:
    return InvalidInput(f"personal field {name!r} holds text only (it is stored encrypted); got {value!r}: store it as "
                        "a string, or do not declare it personal", column=name, values=[value])


def _refuse_plain_tokens(name: str, values: list[Any]) -> None:
    """Refuse plain text shaped like an encrypted value in a field declared personal elsewhere (another
    stream or event type): every read passes such text to the decryption, which would show it as NULL."""
    bad = [v for v in values if isinstance(v, str) and v.startswith((TOKEN, TOKEN2))]
    if bad:
        raise InvalidInput(f"field {name!r} is declared personal (for other events) and may not hold plain text "
                           f"starting with {TOKEN!r} or {TOKEN2!r} (the form of an encrypted value: it would read "
                           "back as erased); change the text or use another field name", column=name, values=bad[:3])


def encrypt_hot_rows(catalog: Any, tx: Any, declared: Any, rows: list[tuple]) -> list[tuple]:
    """Hot-log rows (as inserted) with their personal fields encrypted."""
    work: list[tuple[int, dict[str, Any]]] = []
    cells: list[tuple[int, str, str, str]] = []  # (index in work, field, value, subject)
    personal = declared.fields
    for i, r in enumerate(rows):
        if r[8] and ('"ek1:' in r[8] or '"ek2:' in r[8]):  # cheap test first: a token-shaped text somewhere
            data = json.loads(r[8])
            mine = {f for fs, _ in declared.rules(r[2], r[4]) for f in fs}
            for f in personal:
                if f not in mine:
                    _refuse_plain_tokens(f, [data.get(f)])
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


def _refuse_plain_token_rows(declared: Any, table: pa.Table, stream_types: pa.Array, event_types: Any) -> None:
    """:func:`_refuse_plain_tokens` for a bulk append: rows outside every declaration naming the field."""
    for f in declared.fields:
        if f not in table.column_names:
            continue
        col = table.column(f)
        text = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
        if not (pa.types.is_string(text) or pa.types.is_large_string(text)):
            continue  # not text: the encryption (or the schema) refuses it
        values = as_strings(col)
        shaped = pc.fill_null(pc.or_(pc.starts_with(values, TOKEN), pc.starts_with(values, TOKEN2)), False)
        if not pc.any(shaped).as_py():
            continue
        for scope, rules in (("stream_type", declared.by_stream_type), ("event_type", declared.by_event_type)):
            column = stream_types if scope == "stream_type" else event_types
            for name, (fs, _) in rules.items():
                if f in fs:  # in scope: the encryption refuses it with its own message
                    shaped = pc.and_(shaped, pc.invert(pc.fill_null(pc.equal(column, name), False)))
        _refuse_plain_tokens(f, values.filter(shaped).to_pylist()[:3])


def encrypt_table(catalog: Any, tx: Any, declared: Any, table: pa.Table,
                  stream_types: pa.Array) -> tuple[pa.Table, bool]:
    """A bulk append's rows (envelope + flat payload columns) with personal fields encrypted.

    Args:
        stream_types: Each row's resolved stream type.

    Returns:
        (table, ciphertext): ``ciphertext`` is true when a column holds mostly a different token on each row.
        Such a column is random bytes in base64 that no compressor shrinks below 6 bits a character, and
        zstd at its default level 3 spends twice the time of level 1 on it for nothing: the segment writer
        then uses level 1 (measured on 1M distinct tokens: the file as small, the write 0.3 -> 0.18 s).
    """
    event_types = table.column("event_type")
    ciphertext = False
    sealed: dict[str, pa.Array] = {}  # field -> rows encrypted already (a field two declarations name)
    plain = table  # subjects are read from here: a subject field personal under another declaration is
    # encrypted in ``table`` by then, and its ciphertext would name no subject (the hot path reads the plain value)
    _refuse_plain_token_rows(declared, table, stream_types, event_types)
    for scope, rules in (("stream_type", declared.by_stream_type), ("event_type", declared.by_event_type)):
        scoped = stream_types if scope == "stream_type" else event_types
        for name, (fs, subject) in rules.items():
            present = [f for f in fs if f in table.column_names]
            if not present:
                continue
            in_scope = pc.fill_null(pc.equal(scoped, name), False)
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
                hit = flat_array(pc.and_(in_scope, pc.is_valid(col)))
                if f in sealed:
                    hit = pc.and_(hit, pc.invert(sealed[f]))
                rows = pc.indices_nonzero(hit)
                if not len(rows):
                    continue
                sealed[f] = hit if f not in sealed else pc.or_(sealed[f], hit)
                every = len(rows) == len(col)
                subjects = flat_array(plain.column(subject))
                subjects = subjects if every else subjects.filter(hit)
                if subjects.null_count:
                    raise InvalidInput(f"{scope} {name!r}: rows with personal fields need a subject {subject!r}",
                                       column=subject)
                kind = subjects.type.value_type if pa.types.is_dictionary(subjects.type) else subjects.type
                if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
                    subjects = pa.array([subject_text(s) for s in subjects.to_pylist()], pa.string())  # as the hot path
                subjects = dictionary_by_runs(as_strings(subjects))
                if pc.any(pc.equal(subjects.dictionary, "")).as_py():  # "" names nobody (forget("") is refused)
                    raise InvalidInput(f"{scope} {name!r}: rows with personal fields need a subject {subject!r}, not "
                                       "empty text (the data could never be forgotten)", column=subject, values=[""])
                keys = _keys(catalog, tx, set(subjects.dictionary.to_pylist()))
                tokens = seal(flat_array(col) if every else flat_array(col).filter(hit), subjects, keys, f)
                if every:
                    column = tokens
                elif not isinstance(tokens, pa.DictionaryArray):  # a token per row
                    column = pc.replace_with_mask(as_strings(col), hit, tokens.combine_chunks())
                elif col.null_count == len(col) - len(rows) and not pa.types.is_dictionary(col.type):
                    # no other row holds the field: the column stays a dictionary (repeated tokens stored once)
                    index = np.full(len(col), -1, np.int32)
                    index[rows.to_numpy()] = tokens.indices.to_numpy(zero_copy_only=False)
                    column = pa.DictionaryArray.from_arrays(pa.array(index, mask=index < 0), tokens.dictionary)
                else:
                    column = pc.replace_with_mask(as_strings(col), hit, tokens.cast(pa.string()))
                table = table.set_column(table.column_names.index(f), f, column)
                ciphertext = ciphertext or not isinstance(tokens, pa.DictionaryArray)
    return table, ciphertext
