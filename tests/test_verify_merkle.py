"""RFC 6962 Merkle trees: the bottom-up root equals the RFC's recursive definition, every leaf's
inclusion path proves it, and a changed leaf, index, size or path does not."""

from __future__ import annotations

import hashlib

import pytest

from eventkit.store import merkle


def rfc_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, written as the RFC states it (recursive split at a power of two)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + rfc_root(leaves[:k]) + rfc_root(leaves[k:])).digest()


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 31, 33])
def test_root_is_the_rfc_tree_hash(n):
    """The one-pass bottom-up root equals RFC 6962's recursive tree hash for every size."""
    leaves = [f"leaf {i}".encode() for i in range(n)]
    assert merkle.root([merkle.leaf_hash(x) for x in leaves]) == rfc_root(leaves)


def test_rfc6962_known_answer():
    """The empty tree and a one-leaf tree match the values Certificate Transparency publishes."""
    assert merkle.root([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 11, 17])
def test_every_leaf_proves_and_nothing_else_does(n):
    """Each leaf's path gives the root; another leaf, index, size or a flipped path byte does not."""
    hashes = [merkle.leaf_hash(f"e{i}".encode()) for i in range(n)]
    top = merkle.root(hashes)
    for i in range(n):
        path = merkle.inclusion_path(hashes, i)
        assert merkle.root_from_path(hashes[i], i, n, path) == top
        other = merkle.leaf_hash(b"forged")
        assert merkle.root_from_path(other, i, n, path) != top
        if n > 1:
            j = (i + 1) % n
            try:
                assert merkle.root_from_path(hashes[i], j, n, path) != top
            except ValueError:
                pass
            bad = [bytes([p[0] ^ 1]) + p[1:] for p in path[:1]] + path[1:]
            assert merkle.root_from_path(hashes[i], i, n, bad) != top
        with pytest.raises(ValueError):
            merkle.root_from_path(hashes[i], i, n + 1 if n & (n - 1) == 0 else n * 4, path)


def test_out_of_range_leaf_is_refused():
    with pytest.raises(IndexError):
        merkle.inclusion_path([merkle.leaf_hash(b"x")], 1)
    with pytest.raises(ValueError):
        merkle.root_from_path(merkle.leaf_hash(b"x"), 1, 1, [])


@pytest.mark.parametrize("chunk", [1, 2, 4, 8])
@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 9, 17, 33])
def test_chunk_roots_make_the_same_tree(n, chunk, monkeypatch):
    """The root over chunk roots (a power of two leaves each) is the file's root, and a leaf's path in its
    chunk followed by the chunk's path among the chunk roots is its RFC path: what an index link stores
    and a proof built from one chunk uses."""
    from eventkit.store import proofs

    monkeypatch.setattr(proofs, "CHUNK", chunk)
    hashes = [merkle.leaf_hash(f"e{i}".encode()) for i in range(n)]
    roots = proofs.chunk_roots(hashes)
    assert merkle.root(roots) == merkle.root(hashes)
    for i in range(n):
        k = i // chunk
        part = hashes[k * chunk:(k + 1) * chunk]
        assert merkle.inclusion_path(part, i - k * chunk) + merkle.inclusion_path(roots, k) == \
            merkle.inclusion_path(hashes, i)
