"""AES-CCM (NIST SP 800-38C) over many short messages at once, for crypto-shredding's bulk path.

One library call per message costs more than a bulk append itself when every event carries a
personal value (cryptography's ``AESCCM.encrypt`` takes about 4 µs a call, ``AESGCM`` about 1 µs; a
1M-event append takes about 1.5 s). CCM is made only of AES block calls, so this module computes the
exact bytes of ``AESCCM(key, tag_length=16).encrypt(nonce, message, None)`` (12-byte nonce, no
associated data) for every message under one key with a few AES-ECB calls: one over all the
messages' counter blocks and first CBC-MAC blocks, then one per further CBC-MAC round (one round per
16 bytes of the longest message). The XORs, padding and layout are numpy. Tests check every byte
against ``AESCCM`` both ways.

Messages are grouped by key: ``groups[i]`` is message i's key index, non-decreasing, and
``encryptors[g]`` an AES-ECB encryptor under key g (an ECB context keeps no state between calls).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from eventkit.store.ragged_bytes import MASKS, from_blocks, ragged, starts_of, to_blocks, windows

NONCE = 12
TAG = 16
_Q = 15 - NONCE  # bytes of the length / counter field
MAX_LENGTH = 2 ** (8 * _Q) - 1  # 16 MiB - 1 per message
_B0_FLAGS = 8 * ((TAG - 2) // 2) + (_Q - 1)  # no associated data
_CTR_FLAGS = _Q - 1
_ECB = modes.ECB()  # noqa: S305 - a block primitive for CCM, not a mode (no state: one instance serves every key)


def ecb_encryptor(key: bytes) -> Any:
    """An AES-ECB encryptor under ``key`` (an AES-256 key): the block primitive CCM is built from.

    A bulk append makes one per subject (about 4 µs each with ``cryptography``'s public API; 10,000
    subjects: 40 ms; importing the classes inside this function added 1.5 µs a call). Going around the
    public wrapper to ``cryptography``'s private bindings would save about a third of that, under 1% of
    such an append: not worth depending on private names.
    """
    return Cipher(algorithms.AES(key), _ECB).encryptor()


def rows(array: np.ndarray) -> np.ndarray:
    """A C-contiguous 2-D ``uint8`` array as a 1-D array of one opaque item per row: numpy copies rows picked
    by an index array as whole items, several times faster than row by row of bytes."""
    return np.ascontiguousarray(array).view(f"V{array.shape[1]}").reshape(-1)


def take_rows(array: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``array[index]`` of a 2-D ``uint8`` array (see :func:`rows`)."""
    return rows(array)[index].view(np.uint8).reshape(-1, array.shape[1])


def _ecb(encryptors: Sequence[Any], groups: np.ndarray, blocks_per_message: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """AES of every block, each message's blocks under its group's key: one call per run of one key."""
    n = len(groups)
    if not n:
        return np.zeros((0, 16), np.uint8)
    data = np.ascontiguousarray(blocks).reshape(-1)
    out = np.empty(len(data) + 16, np.uint8)  # update_into wants room for one more block
    first = np.flatnonzero(np.diff(groups)) + 1
    run_starts = np.concatenate(([0], first))
    block_at = np.zeros(n + 1, np.int64)
    np.cumsum(blocks_per_message, out=block_at[1:])
    begins, ends = block_at[run_starts] * 16, block_at[np.append(first, n)] * 16
    src, dst = memoryview(data), memoryview(out)
    for g, a, b in zip(groups[run_starts].tolist(), begins.tolist(), ends.tolist()):
        encryptors[g].update_into(src[a:b], dst[a:])
    return out[:len(data)].reshape(-1, 16)


def _keystream(encryptors: Sequence[Any], groups: np.ndarray, nonces: np.ndarray,
               lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E(B0), S0, S1..Sm of every message in order): one ECB pass per key over each message's blocks
    B0, A0, A1..Am, laid out message after message.

    A block is built as two little-endian 64-bit words: each message's A0 repeated once per block (one copy
    of whole 16-byte items) plus the block's counter added into the last word's top three bytes, the
    big-endian counter field (a third of the time of writing nonce and counter bytes column by column).
    """
    n = len(lengths)
    m = (lengths + 15) // 16
    per = m + 2
    at = starts_of(per)
    total = int(per.sum())
    a0 = np.zeros((n, 16), np.uint8)
    a0[:, 0] = _CTR_FLAGS
    a0[:, 1:1 + NONCE] = nonces
    blocks = np.repeat(rows(a0), per).view(np.uint8).reshape(-1, 16)
    words = blocks.view("<u8")
    # A_i holds i: block k of a message is A_(k-1) (k = 0 is B0, set below).
    words[:, 1] += _counter_word(np.arange(total, dtype=np.int64) - np.repeat(at + 1, per))
    b0 = a0.copy()
    b0[:, 0] = _B0_FLAGS
    b0_words = b0.view("<u8")
    b0_words[:, 1] += _counter_word(lengths)
    rows(blocks)[at] = rows(b0)
    out = _ecb(encryptors, groups, per, blocks)
    stream_rows = np.repeat(at + 2 - starts_of(m), m) + np.arange(int(m.sum()), dtype=np.int64)
    return take_rows(out, at), take_rows(out, at + 1), take_rows(out, stream_rows)


def _counter_word(values: np.ndarray) -> np.ndarray:
    """``values`` (0 <= v < 2**24, or -1 where the block is overwritten after) as the big-endian counter field
    in bytes 13-15 of a block, i.e. the top three bytes of its second little-endian 64-bit word."""
    v = values.astype(np.uint64) & np.uint64(0xFFFFFF)
    if len(v) and int(values.max()) < 256:  # one byte of counter: a shift (values below 4 KiB)
        return v << np.uint64(56)
    return (((v & np.uint64(255)) << np.uint64(56)) | (((v >> np.uint64(8)) & np.uint64(255)) << np.uint64(48))
            | ((v >> np.uint64(16)) << np.uint64(40)))


def _cbc_mac(encryptors: Sequence[Any], groups: np.ndarray, state: np.ndarray, plain_blocks: np.ndarray,
             m: np.ndarray) -> np.ndarray:
    """CBC-MAC continued from ``state`` (E(B0)) over each message's plaintext blocks, one round per block."""
    state = state.copy()
    first = starts_of(m)
    for r in range(int(m.max()) if len(m) else 0):
        active = np.flatnonzero(m > r)
        if len(active) == len(m):
            state = _ecb(encryptors, groups, np.ones(len(m), np.int64), state ^ take_rows(plain_blocks, first + r))
        else:
            rows(state)[active] = rows(_ecb(encryptors, groups[active], np.ones(len(active), np.int64),
                                            take_rows(state, active) ^ take_rows(plain_blocks, first[active] + r)))
    return state


def encrypt_blocks(encryptors: Sequence[Any], groups: np.ndarray, nonces: np.ndarray, plain_blocks: np.ndarray,
                   lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AES-CCM of messages given as zero-padded 16-byte blocks (each message's ``ceil(length / 16)`` blocks
    in order, all messages' in one array); returns (ciphertext blocks, whose padding bytes are to be dropped,
    and each message's tag)."""
    lengths = np.asarray(lengths, np.int64)
    if len(lengths) and int(lengths.max()) > MAX_LENGTH:
        raise ValueError(f"a message longer than {MAX_LENGTH} bytes")
    e_b0, s0, stream = _keystream(encryptors, groups, nonces, lengths)
    tags = _cbc_mac(encryptors, groups, e_b0, plain_blocks, (lengths + 15) // 16) ^ s0
    return plain_blocks ^ stream, tags


def encrypt(encryptors: Sequence[Any], groups: np.ndarray, nonces: np.ndarray, flat: np.ndarray, starts: np.ndarray,
            lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AES-CCM of each message; returns (flat output, lengths): nonce + ciphertext + tag per message.

    Args:
        groups: Each message's key index, non-decreasing.
        nonces: ``(messages, 12)`` uint8, unique per key.
        flat, starts, lengths: The messages' bytes.
    """
    lengths = np.asarray(lengths, np.int64)
    if len(lengths) and int(lengths.max()) > MAX_LENGTH:
        raise ValueError(f"a message longer than {MAX_LENGTH} bytes")
    e_b0, s0, stream = _keystream(encryptors, groups, nonces, lengths)
    plain = to_blocks(flat, starts, lengths)
    tags = _cbc_mac(encryptors, groups, e_b0, plain, (lengths + 15) // 16) ^ s0
    out_lengths = lengths + NONCE + TAG
    at = starts_of(out_lengths)
    out = np.empty(int(out_lengths.sum()), np.uint8)
    out[(at[:, None] + np.arange(NONCE)).reshape(-1)] = nonces.reshape(-1)
    out[ragged(at + NONCE, lengths)] = from_blocks(plain ^ stream, lengths)
    out[((at + NONCE + lengths)[:, None] + np.arange(TAG)).reshape(-1)] = tags.reshape(-1)
    return out, out_lengths


def decrypt(encryptors: Sequence[Any], groups: np.ndarray, flat: np.ndarray, starts: np.ndarray,
            lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The inverse of :func:`encrypt`: (flat plaintexts, lengths, whether each tag checked out).

    Blocks are moved as whole 16-byte items (see :func:`.ragged_bytes.windows`), not byte by byte: a last
    block's bytes past its message (the tag, the next message) are masked to zero for the CBC-MAC, and
    overwritten by the next message's first block in the output.
    """
    starts, lengths = np.asarray(starts, np.int64), np.asarray(lengths, np.int64)
    if len(lengths) and int(lengths.min()) < NONCE + TAG:
        raise ValueError("a ciphertext shorter than nonce and tag")
    if not len(lengths):
        return np.zeros(0, np.uint8), np.zeros(0, np.int64), np.zeros(0, bool)
    flat = np.concatenate([np.asarray(flat, np.uint8).reshape(-1), np.zeros(16, np.uint8)])  # windows past the end
    nonces = windows(flat, NONCE)[starts].view(np.uint8).reshape(-1, NONCE)
    plain_lengths = lengths - NONCE - TAG
    m = (plain_lengths + 15) // 16
    first = starts_of(m)
    index = np.arange(int(m.sum()), dtype=np.int64) * 16
    e_b0, s0, stream = _keystream(encryptors, groups, nonces, plain_lengths)
    blocks = windows(flat, 16)[np.repeat(starts + NONCE - 16 * first, m) + index].view(np.uint8).reshape(-1, 16)
    blocks ^= stream
    blocks &= take_rows(MASKS, np.minimum(np.repeat(plain_lengths + 16 * first, m) - index, 16))
    tags = _cbc_mac(encryptors, groups, e_b0, blocks, m) ^ s0
    given = windows(flat, TAG)[starts + lengths - TAG].view(np.uint8).reshape(-1, TAG)
    out_starts = starts_of(plain_lengths)
    out = np.zeros(int(plain_lengths.sum()) + 16, np.uint8)
    windows(out, 16)[np.repeat(out_starts - 16 * first, m) + index] = rows(blocks)
    return out[:len(out) - 16], plain_lengths, (tags == given).all(axis=1)
