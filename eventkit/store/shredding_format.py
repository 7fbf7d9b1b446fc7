"""Crypto-shredding's stored form of a personal value (see :mod:`.shredding`): the token prefixes,
the key derivation of the current format, and Arrow helpers both sides use."""

from __future__ import annotations

import hashlib
from typing import Any

import pyarrow as pa

TOKEN = "ek1:"  # the first format: AES-256-GCM per value, one library call each (still read)
TOKEN2 = "ek2:"  # the current format: AES-256-CCM, written and read many values at a time (see ccm_batch)
TOKENS = (TOKEN, TOKEN2)
KEY_ID = 16  # characters of a key id; a token is "ekN:" + key id + ":" + base64


def is_token_sql(expr: str) -> str:
    """SQL that is true when the text ``expr`` is an encrypted token of any format."""
    return " OR ".join(f"starts_with({expr}, '{t}')" for t in TOKENS)


def ccm_key(key: bytes) -> bytes:
    """ek2's AES-256 key, derived from the subject's stored key with the one-step KDF of NIST SP 800-56C
    (SHA-256): a subject whose older events hold ek1 tokens then never has one key used in two modes."""
    return hashlib.sha256(b"\x00\x00\x00\x01" + key + b"eventkit ek2 AES-256-CCM").digest()
def flat_array(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    return values


def as_strings(values: Any) -> pa.Array:
    values = flat_array(values)
    return values if values.type == pa.string() else values.cast(pa.string())
