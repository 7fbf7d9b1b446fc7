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

from eventkit.store.ragged_bytes import from_blocks, ragged, starts_of, to_blocks

NONCE = 12
TAG = 16
_Q = 15 - NONCE  # bytes of the length / counter field
MAX_LENGTH = 2 ** (8 * _Q) - 1  # 16 MiB - 1 per message
_B0_FLAGS = 8 * ((TAG - 2) // 2) + (_Q - 1)  # no associated data
_CTR_FLAGS = _Q - 1


def ecb_encryptor(key: bytes) -> Any:
    """An AES-ECB encryptor under ``key`` (an AES-256 key): the block primitive CCM is built from.

    A bulk append makes one per subject (about 4 µs each with ``cryptography``'s public API; 10,000
    subjects: 40 ms). Going around the public wrapper to ``cryptography``'s private bindings would
    save about a third of that, under 1% of such an append: not worth depending on private names.
    """
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    return Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - a block primitive for CCM, not a mode


def _ecb(encryptors: Sequence[Any], groups: np.ndarray, blocks_per_message: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """AES of every block, each message's blocks under its group's key: one call per run of one key."""
    data = np.ascontiguousarray(blocks).tobytes()
    out = bytearray(len(data) + 16)  # update_into wants room for one more block
    n = len(groups)
    if not n:
        return np.zeros((0, 16), np.uint8)
    first = np.flatnonzero(np.diff(groups)) + 1
    run_starts = np.concatenate(([0], first))
    block_at = np.zeros(n + 1, np.int64)
    np.cumsum(blocks_per_message, out=block_at[1:])
    begins, ends = block_at[run_starts] * 16, block_at[np.append(first, n)] * 16
    src, dst = memoryview(data), memoryview(out)
    for g, a, b in zip(groups[run_starts].tolist(), begins.tolist(), ends.tolist()):
        encryptors[g].update_into(src[a:b], dst[a:])
    return np.frombuffer(out, np.uint8, count=len(data)).reshape(-1, 16)


def _set_counter(blocks: np.ndarray, values: np.ndarray) -> None:
    for k in range(_Q):  # the last _Q bytes: big-endian
        blocks[:, 16 - _Q + k] = (values >> (8 * (_Q - 1 - k))) & 255


def _keystream(encryptors: Sequence[Any], groups: np.ndarray, nonces: np.ndarray,
               lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E(B0), S0, S1..Sm of every message in order): one ECB pass over B0 and A0 of each message, one
    over the counter blocks A1..Am."""
    n = len(lengths)
    m = (lengths + 15) // 16
    first = np.empty((n, 2, 16), np.uint8)  # B0, A0
    first[:, 0, 0], first[:, 1, 0] = _B0_FLAGS, _CTR_FLAGS
    first[:, :, 1:1 + NONCE] = nonces[:, None, :]
    _set_counter(first[:, 0], lengths)
    first[:, 1, 1 + NONCE:] = 0
    out = _ecb(encryptors, groups, np.full(n, 2, np.int64), first.reshape(-1, 16)).reshape(n, 2, 16)
    total = int(m.sum())
    counters = np.empty((total, 16), np.uint8)
    counters[:, 0] = _CTR_FLAGS
    if total and np.all(m == 1):  # short values, one block each: no repeat needed
        counters[:, 1:1 + NONCE] = nonces
        _set_counter(counters, np.ones(n, np.int64))
    elif total:
        counters[:, 1:1 + NONCE] = nonces[np.repeat(np.arange(n), m)]
        _set_counter(counters, np.arange(1, total + 1, dtype=np.int64) - np.repeat(starts_of(m), m))
    stream = _ecb(encryptors, groups, m, counters)
    return out[:, 0], out[:, 1], stream


def _cbc_mac(encryptors: Sequence[Any], groups: np.ndarray, state: np.ndarray, plain_blocks: np.ndarray,
             m: np.ndarray) -> np.ndarray:
    """CBC-MAC continued from ``state`` (E(B0)) over each message's plaintext blocks, one round per block."""
    state = state.copy()
    first = starts_of(m)
    for r in range(int(m.max()) if len(m) else 0):
        active = np.flatnonzero(m > r)
        state[active] = _ecb(encryptors, groups[active], np.ones(len(active), np.int64),
                             state[active] ^ plain_blocks[first[active] + r])
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
    """The inverse of :func:`encrypt`: (flat plaintexts, lengths, whether each tag checked out)."""
    starts, lengths = np.asarray(starts, np.int64), np.asarray(lengths, np.int64)
    if len(lengths) and int(lengths.min()) < NONCE + TAG:
        raise ValueError("a ciphertext shorter than nonce and tag")
    nonces = flat[(starts[:, None] + np.arange(NONCE)).reshape(-1)].reshape(-1, NONCE)
    plain_lengths = lengths - NONCE - TAG
    e_b0, s0, stream = _keystream(encryptors, groups, nonces, plain_lengths)
    plain = from_blocks(to_blocks(flat, starts + NONCE, plain_lengths) ^ stream, plain_lengths)
    blocks = to_blocks(plain, starts_of(plain_lengths), plain_lengths)
    tags = _cbc_mac(encryptors, groups, e_b0, blocks, (plain_lengths + 15) // 16) ^ s0
    given = flat[((starts + lengths - TAG)[:, None] + np.arange(TAG)).reshape(-1)].reshape(-1, TAG)
    return plain, plain_lengths, (tags == given).all(axis=1)
