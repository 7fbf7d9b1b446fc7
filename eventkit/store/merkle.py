"""RFC 6962 Merkle trees: the tree hash, inclusion proofs, and checking a proof with nothing else.

Leaves are hashed as ``SHA-256(0x00 || leaf)`` and inner nodes as ``SHA-256(0x01 || left || right)``
(RFC 6962 section 2.1), so a leaf can never pass for an inner node. A tree of ``n`` leaves splits at
the largest power of two below ``n``; pairing nodes bottom-up and carrying an odd last node up
unchanged builds the same tree, which is how :func:`root` computes it in one pass per level.
Pure functions of bytes: checking a proof needs no store and no eventkit beyond this module.
"""

from __future__ import annotations

import hashlib
from typing import Sequence


def leaf_hash(leaf: bytes) -> bytes:
    """The tree's hash of one leaf's bytes."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 6962: the hash of an empty tree


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The tree hash over already-hashed leaves (see :func:`leaf_hash`), in order."""
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    sha256 = hashlib.sha256
    while len(level) > 1:
        # inlined node_hash over zipped pairs: the bulk of indexing a file, about twice as fast as a call per node
        nxt = [sha256(b"\x01" + left + right).digest() for left, right in zip(level[0::2], level[1::2])]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def inclusion_path(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree over ``leaf_hashes`` (RFC 6962 section 2.1.1).

    Raises:
        IndexError: ``index`` is not a leaf of the tree.
    """
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise IndexError(f"leaf {index} is not in a tree of {n} leaves")
    path: list[bytes] = []
    lo, hi = 0, n  # the subtree [lo, hi) holding the leaf; siblings are collected top-down
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(root(leaf_hashes[lo + k:hi]))
            hi = lo + k
        else:
            path.append(root(leaf_hashes[lo:lo + k]))
            lo = lo + k
    path.reverse()  # RFC order: from the leaf's sibling up to the root's child
    return path


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """The root that ``path`` proves leaf ``index`` (already hashed) belongs to, in a tree of ``size``.

    RFC 9162 section 2.1.3.2's algorithm. Raises ValueError when the path has the wrong length for
    that position and size (a proof for another tree).
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ValueError("the proof is longer than the tree is deep")
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("the proof is shorter than the tree is deep")
    return r
