"""ek2 tokens of many values at once: crypto-shredding's write side, below the dedupe of
:mod:`.shredding_writes` (see :mod:`.shredding` for the format, :mod:`.ccm_batch` for the cipher).

Every token is ``ek2:<key id>:<base64 of nonce + ciphertext + tag>``. Values are sealed a chunk at a
time, so their temporaries stay small (with temporaries for all of a 1M-value append at once, about a
gigabyte of them, the same work took about twice the CPU time inside an append). A chunk's bytes are
laid out value after value, each value's slot rounded up to whole 3-byte groups, so one base64 call over them is each slot's base64 in turn: an Arrow string array
without a copy, which Arrow joins to each row's ``ek2:<key id>:``. The chunks' arrays are returned as
one chunked array: copying a million tokens (85 MB) into one buffer took about a seventh of the time
of making them (numpy copies of each piece into one buffer, as before, took more). No step is a Python call per
value, except for subjects with only a few values in the call, where one ``AESCCM.encrypt`` each
(about 1 µs) is cheaper than an AES-ECB context (about 4 µs) and the batch.
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
from eventkit.store.ragged_bytes import MASKS, starts_of, string_buffers, windows
from eventkit.store.shredding_format import KEY_ID, TOKEN2, ccm_key

FEW = 8  # a subject with fewer values than this in one call: one AESCCM call each (see the module docstring)
_RAW_EXTRA = ccm_batch.NONCE + ccm_batch.TAG
_CHUNK = 16_384  # values sealed together (see the module docstring)


def seal_values(values: pa.Array, codes: np.ndarray, names: list[str], keys: dict[str, tuple[str, bytes]],
                name: str) -> pa.ChunkedArray:
    """ek2 tokens of ``values`` (text, no nulls), in their order; value i under subject ``names[codes[i]]``'s
    key (``keys``: subject -> (key id, key)), each under a fresh random nonce. ``codes`` never decreases.

    Raises:
        InvalidInput: a value longer than 16 MiB.
    """
    n = len(values)
    if not n:
        return pa.chunked_array([], pa.string())
    data, starts, lengths = string_buffers(values)
    if int(lengths.max()) > ccm_batch.MAX_LENGTH:
        raise InvalidInput(f"personal field {name!r} holds values of at most {ccm_batch.MAX_LENGTH:,} bytes",
                           column=name, values=[f"{int(lengths.max()):,} bytes"])
    size = lengths + _RAW_EXTRA  # nonce + ciphertext + tag
    slot = (size + 2) // 3 * 3
    # Over 2 GiB of tokens in all (huge values): 64-bit offsets throughout, so the pieces can be put together.
    kind = pa.large_string() if int((slot // 3 * 4).sum()) + n * (len(TOKEN2) + KEY_ID + 1) >= 2**31 else pa.string()
    prefixes = pa.array([f"{TOKEN2}{keys[s][0] if s in keys else '?' * KEY_ID}:" for s in names], kind)
    counts = np.diff(np.flatnonzero(np.diff(codes, prepend=-1, append=-1)))  # values of each subject's run
    few = np.repeat(counts < FEW, counts)  # rows of subjects with few values
    batch = _Batch(names, keys)
    pieces = []
    for a in range(0, n, _CHUNK):
        b = min(a + _CHUNK, n)
        raw, at = _sealed_chunk(values, data, starts[a:b], lengths[a:b], codes[a:b], slot[a:b], few[a:b], a, batch,
                                names, keys)
        pieces.append(pc.binary_join_element_wise(prefixes.take(pa.array(codes[a:b])),
                                                  _base64(raw, slot[a:b], size[a:b], kind), ""))
    return pa.chunked_array(pieces, kind)  # not one array (see the module docstring)


def _base64(raw: np.ndarray, slot: np.ndarray, size: np.ndarray, kind: pa.DataType) -> pa.Array:
    """Each value's base64: value i's ``size[i]`` bytes begin its slot of ``slot[i]`` bytes (whole 3-byte
    groups), the slots one after another in ``raw``. One base64 call over all the slots is each slot's base64
    in turn; the characters of a slot's bytes past its value become the "=" padding."""
    text = np.frombuffer(binascii.b2a_base64(memoryview(raw)[:int(slot.sum())], newline=False), np.uint8).copy()
    ends = np.zeros(len(slot) + 1, np.int64)
    np.cumsum(slot // 3 * 4, out=ends[1:])
    pad = slot - size  # 0, 1 or 2 bytes of the slot beyond the value: base64 writes "=" for each
    text[ends[1:][pad >= 1] - 1] = ord("=")
    text[ends[1:][pad == 2] - 2] = ord("=")
    offsets = ends if kind == pa.large_string() else ends.astype(np.int32)
    return pa.Array.from_buffers(kind, len(slot), [None, pa.py_buffer(offsets), pa.py_buffer(text)])


class _Batch:
    """The AES-ECB encryptor of each subject sealed by the batch path, made on first use."""

    def __init__(self, names: list[str], keys: dict[str, tuple[str, bytes]]) -> None:
        self.names, self.keys = names, keys
        self.encryptors: list[Any] = [None] * len(names)

    def ready(self, codes: np.ndarray) -> list[Any]:
        for c in codes[np.flatnonzero(np.diff(codes, prepend=-1))].tolist():  # codes never decrease
            if self.encryptors[c] is None:
                self.encryptors[c] = ccm_batch.ecb_encryptor(ccm_key(self.keys[self.names[c]][1]))
        return self.encryptors


def _sealed_chunk(values: pa.Array, data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, codes: np.ndarray,
                  slot: np.ndarray, few: np.ndarray, first_row: int, batch: _Batch, names: list[str],
                  keys: dict[str, tuple[str, bytes]]) -> tuple[np.ndarray, np.ndarray]:
    """(raw, at): nonce + ciphertext + tag of each of these values in ``raw`` at ``at[i]``, in slots of whole
    3-byte groups (the rest zero)."""
    n = len(lengths)
    at = starts_of(slot)
    raw = np.zeros(int(slot.sum()) + 16, np.uint8)  # 16 spare bytes: a window below may reach past the last slot
    nonces = random_bytes(ccm_batch.NONCE * n)
    windows(raw, ccm_batch.NONCE)[at] = np.frombuffer(nonces, f"V{ccm_batch.NONCE}")
    if few.any():
        _seal_one_by_one(values, nonces, raw, at, np.flatnonzero(few), codes, first_row, names, keys)
    if not few.all():
        rows = np.flatnonzero(~few) if few.any() else slice(None)
        _seal_batch(data, starts[rows], lengths[rows], codes[rows], np.frombuffer(nonces, np.uint8).reshape(
            n, ccm_batch.NONCE)[rows], raw, at[rows], batch.ready(codes[rows]))
    return raw, at


def random_bytes(count: int) -> bytes:
    """``count`` bytes from a CSPRNG: AES-256-CTR under a fresh key and counter from ``os.urandom`` (the
    construction of NIST SP 800-90A's CTR_DRBG, without reseeding: at most a chunk's nonces per key).

    The nonces only need to differ (CCM's requirement); 96-bit outputs of AES-CTR under a random key are
    as unlikely to repeat as 96-bit ``os.urandom`` ones (they cannot be told apart from them). One
    ``os.urandom`` system call per value batch read 12 MB a million values: 0.03 s, this 2 ms.
    """
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if count < 4096:  # a short read: the system's generator directly
        return os.urandom(count)
    return Cipher(algorithms.AES(os.urandom(32)), modes.CTR(os.urandom(16))).encryptor().update(bytes(count))


def _seal_one_by_one(values: pa.Array, nonces: bytes, raw: np.ndarray, at: np.ndarray, rows: np.ndarray,
                     codes: np.ndarray, first_row: int, names: list[str], keys: dict[str, tuple[str, bytes]]) -> None:
    """Ciphertext and tag of the values ``rows`` (of a chunk starting at row ``first_row``), one AESCCM call
    each, into ``raw``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

    out = memoryview(raw)
    nonce_size = ccm_batch.NONCE
    texts = values.take(pa.array(rows + first_row)).to_pylist()
    aead, current = None, -1
    for i, c, v in zip(rows.tolist(), codes[rows].tolist(), texts):
        if c != current:
            aead, current = AESCCM(ccm_key(keys[names[c]][1]), ccm_batch.TAG), c
        sealed = aead.encrypt(nonces[nonce_size * i:nonce_size * (i + 1)], v.encode(), None)
        start = int(at[i]) + nonce_size
        out[start:start + len(sealed)] = sealed


def _seal_batch(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, codes: np.ndarray, nonces: np.ndarray,
                raw: np.ndarray, at: np.ndarray, encryptors: list[Any]) -> None:
    """Ciphertext and tag of these values (bytes ``data[starts[i]:starts[i] + lengths[i]]``), computed together
    by :mod:`.ccm_batch` (a few AES-ECB calls per subject), into ``raw`` at ``at[i] + NONCE``."""
    blocks = (lengths + 15) // 16
    first = starts_of(blocks)
    count = int(blocks.sum())
    low, high = int(starts.min()), int((starts + lengths).max())
    source = np.zeros(high - low + 16, np.uint8)  # the values' bytes; a last block may reach 15 bytes past them
    source[:high - low] = data[low:high]
    index = np.arange(count, dtype=np.int64) * 16
    plain = windows(source, 16)[np.repeat(starts - low - 16 * first, blocks) + index].view(np.uint8).reshape(-1, 16)
    # Bytes of a block past its value are zero (CCM's padding): each block ANDed with a mask of its valid bytes.
    valid = np.minimum(np.repeat(lengths + 16 * first, blocks) - index, 16)
    plain &= ccm_batch.take_rows(MASKS, valid)
    cipher, tags = ccm_batch.encrypt_blocks(encryptors, codes, nonces, plain, lengths)
    window = windows(raw, 16)
    # Whole 16-byte blocks: a last block's bytes past the value land in the tag's place, written next.
    window[np.repeat(at + ccm_batch.NONCE - 16 * first, blocks) + index] = ccm_batch.rows(cipher)
    window[at + ccm_batch.NONCE + lengths] = ccm_batch.rows(tags)
