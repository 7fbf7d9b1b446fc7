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


def _counter_field(values: np.ndarray) -> np.ndarray:
    return np.stack([(values >> (8 * (_Q - 1 - k))) & 255 for k in range(_Q)], axis=1).astype(np.uint8)


def _keystream(encryptors: Sequence[Any], groups: np.ndarray, nonces: np.ndarray,
               lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E(B0), S0, S1..Sm of every message in order) from one ECB pass: B0, A0, A1..Am per message."""
    m = (lengths + 15) // 16
    per = m + 2
    total = int(per.sum())
    owner = np.repeat(np.arange(len(lengths)), per)
    index = np.arange(total, dtype=np.int64) - np.repeat(starts_of(per), per)  # 0: B0, 1: A0, 2..: A1..
    blocks = np.empty((total, 16), np.uint8)
    blocks[:, 0] = np.where(index == 0, _B0_FLAGS, _CTR_FLAGS)
    blocks[:, 1:1 + NONCE] = nonces[owner]
    blocks[:, 1 + NONCE:] = _counter_field(np.where(index == 0, lengths[owner], index - 1))
    out = _ecb(encryptors, groups, per, blocks)
    first = starts_of(per)
    return out[first], out[first + 1], out[ragged(first + 2, m)]


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
