"""ek2 tokens of many values at once: crypto-shredding's write side, below the dedupe of
:mod:`.shredding_writes` (see :mod:`.shredding` for the format, :mod:`.ccm_batch` for the cipher).

Every token is ``ek2:<key id>:<base64 of nonce + ciphertext + tag>``. The bytes are laid out in one
buffer, value after value, each value's slot rounded up to whole 3-byte groups, so one base64 call
over the buffer is each slot's base64 in turn; the key-id prefix is joined on by Arrow. No step is a
Python call per value, except for subjects with only a few values in the call, where one
``AESCCM.encrypt`` each (about 1 µs) is cheaper than an AES-ECB context (about 4 µs) and the batch.
"""

from __future__ import annotations

import binascii
import os
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eventkit.common.errors import InvalidInput
from eventkit.store import ccm_batch
from eventkit.store.ragged_bytes import fixed_width_strings, starts_of, string_buffers
from eventkit.store.shredding_format import KEY_ID, TOKEN2, ccm_key

FEW = 8  # a subject with fewer values than this in one call: one AESCCM call each (see the module docstring)
_HEAD = len(TOKEN2) + KEY_ID + 1  # "ek2:" + key id + ":"
_RAW_EXTRA = ccm_batch.NONCE + ccm_batch.TAG
_MASKS = (np.arange(16)[None, :] < np.arange(17)[:, None]).astype(np.uint8) * 255  # _MASKS[r]: the first r bytes


def _windows(buffer: np.ndarray, width: int) -> np.ndarray:
    """Every ``width``-byte window of ``buffer`` as one opaque item (item i starts at byte i): copies and
    writes of short pieces at any offset, one numpy call for all of them, a whole piece at a time."""
    return np.ndarray(shape=(len(buffer) - width + 1,), dtype=f"V{width}", buffer=buffer, strides=(1,))


def seal_values(values: pa.Array, codes: np.ndarray, names: list[str], keys: dict[str, tuple[str, bytes]],
                name: str) -> pa.Array:
    """ek2 tokens of ``values`` (text, no nulls), in their order; value i under subject ``names[codes[i]]``'s
    key (``keys``: subject -> (key id, key)), each under a fresh random nonce. ``codes`` never decreases.

    Raises:
        InvalidInput: a value longer than 16 MiB.
    """
    n = len(values)
    if not n:
        return pa.array([], pa.string())
    data, starts, lengths = string_buffers(values)
    if int(lengths.max()) > ccm_batch.MAX_LENGTH:
        raise InvalidInput(f"personal field {name!r} holds values of at most {ccm_batch.MAX_LENGTH:,} bytes",
                           column=name, values=[f"{int(lengths.max()):,} bytes"])
    nonces = os.urandom(ccm_batch.NONCE * n)
    size = lengths + _RAW_EXTRA  # nonce + ciphertext + tag
    slot = (size + 2) // 3 * 3
    at = starts_of(slot)
    total = int(slot.sum())
    raw = np.zeros(total + 16, np.uint8)  # 16 spare bytes: the windows below may reach past the last slot
    _windows(raw, ccm_batch.NONCE)[at] = np.frombuffer(nonces, f"V{ccm_batch.NONCE}")

    run_starts = np.flatnonzero(np.diff(codes)) + 1
    run_bounds = np.concatenate(([0], run_starts, [n]))
    counts = np.diff(run_bounds)
    run_codes = codes[run_bounds[:-1]]
    few = counts < FEW
    if few.any():
        _seal_one_by_one(values, nonces, raw, at, run_bounds, run_codes, few, names, keys)
    if not few.all():
        many = np.repeat(~few, counts)
        rows = np.flatnonzero(many) if not many.all() else np.arange(n)
        _seal_batch(data, starts[rows], lengths[rows], codes[rows], np.frombuffer(nonces, np.uint8).reshape(
            n, ccm_batch.NONCE)[rows], raw, at[rows], names, keys)

    text = np.frombuffer(bytearray(binascii.b2a_base64(memoryview(raw)[:total], newline=False)), np.uint8)
    text_at = at // 3 * 4
    text_end = text_at + slot // 3 * 4
    pad = slot - size  # slot bytes beyond the value: base64 writes "=" for each
    text[text_end[pad >= 1] - 1] = ord("=")
    text[text_end[pad == 2] - 2] = ord("=")
    offsets = np.append(text_at, len(text))
    big = len(text) >= 2**31
    texts = pa.Array.from_buffers(pa.large_string() if big else pa.string(), n, [
        None, pa.py_buffer(offsets if big else offsets.astype(np.int32)), pa.py_buffer(text)])
    key_ids = np.frombuffer("".join(f"{TOKEN2}{keys[s][0] if s in keys else '?' * KEY_ID}:" for s in names).encode(),
                            np.uint8).reshape(-1, _HEAD)
    heads = fixed_width_strings(key_ids[codes])
    if big:
        heads = heads.cast(pa.large_string())
    return pc.binary_join_element_wise(heads, texts, "")


def _seal_one_by_one(values: pa.Array, nonces: bytes, raw: np.ndarray, at: np.ndarray, run_bounds: np.ndarray,
                     run_codes: np.ndarray, few: np.ndarray, names: list[str],
                     keys: dict[str, tuple[str, bytes]]) -> None:
    """Ciphertext and tag of the values of the subjects marked ``few``, one AESCCM call each, into ``raw``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

    out = memoryview(raw)
    nonce_size = ccm_batch.NONCE
    for r in np.flatnonzero(few).tolist():
        a, b = int(run_bounds[r]), int(run_bounds[r + 1])
        aead = AESCCM(ccm_key(keys[names[run_codes[r]]][1]), ccm_batch.TAG)
        for i, v in zip(range(a, b), values.slice(a, b - a).to_pylist()):
            sealed = aead.encrypt(nonces[nonce_size * i:nonce_size * (i + 1)], v.encode(), None)
            start = int(at[i]) + nonce_size
            out[start:start + len(sealed)] = sealed


def _seal_batch(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, codes: np.ndarray, nonces: np.ndarray,
                raw: np.ndarray, at: np.ndarray, names: list[str], keys: dict[str, tuple[str, bytes]]) -> None:
    """Ciphertext and tag of these values (bytes ``data[starts[i]:starts[i] + lengths[i]]``), computed together
    by :mod:`.ccm_batch` (a few AES-ECB calls per subject), into ``raw`` at ``at[i] + NONCE``."""
    encryptors: list[Any] = [None] * len(names)
    for c in np.unique(codes).tolist():
        encryptors[c] = ccm_batch.ecb_encryptor(ccm_key(keys[names[c]][1]))
    blocks = (lengths + 15) // 16
    first = starts_of(blocks)
    count = int(blocks.sum())
    source = np.concatenate((data, np.zeros(16, np.uint8)))  # a last value's last block may reach past data
    index = np.arange(count, dtype=np.int64) * 16
    plain = _windows(source, 16)[np.repeat(starts - 16 * first, blocks) + index].view(np.uint8).reshape(-1, 16)
    # Bytes of a block past its value are zero (CCM's padding): each block ANDed with a mask of its valid bytes.
    valid = np.minimum(np.repeat(lengths + 16 * first, blocks) - index, 16)
    plain &= ccm_batch.take_rows(_MASKS, valid)
    cipher, tags = ccm_batch.encrypt_blocks(encryptors, codes, nonces, plain, lengths)
    window = _windows(raw, 16)
    # Whole 16-byte blocks: a last block's bytes past the value land in the tag's place, written next.
    window[np.repeat(at + ccm_batch.NONCE - 16 * first, blocks) + index] = ccm_batch.rows(cipher)
    window[at + ccm_batch.NONCE + lengths] = ccm_batch.rows(tags)
