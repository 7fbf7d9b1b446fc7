"""Inclusion proofs: one event, its link, the RFC 6962 tree over the links — checkable without the store.

An event in the hot log is a leaf of its ``append`` link's tree (the row as the hot log stores it).
An event in a segment file is a leaf of that file's ``index`` link: the tree over the file's rows
(each row as DuckDB's ``to_json`` of the file's own columns), made the first time a proof or a
checkpoint needs it, after the file's bytes were checked against the SHA-256 its commit recorded.
DuckDB prints and hashes the rows (vectorised, in its threads); the link also records the root of
every :data:`CHUNK` leaves, so a later proof re-hashes only the event's chunk of the file (a link
written before chunk roots proves from the whole file, as it always did: same proof format).
A proof holds the event's bytes, its path to the link's root, the link, and the link's path to the
tree root; :func:`check_proof` recomputes all of it with hashlib alone (and checks a checkpoint's
signature with ``cryptography`` when one is given).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from eventkit.common.errors import InvalidInput, StoreError
from eventkit.store.envelope import micros_now
from eventkit.store import merkle
from eventkit.store.integrity import ALL, Link, TamperedStore, file_sha256, hot_leaf
from eventkit.store.chain_links import add_link, unsealed_appends
from eventkit.store.read_snapshot import new_connection, parquet_scan

FORMAT = "eventkit-proof-1"
#: Leaves per stored subtree: an index link records the root of every CHUNK leaves of its file, so that a
#: proof re-hashes one chunk of the file, not all of it. A power of two: then each chunk is a complete
#: subtree of the file's RFC 6962 tree, and the tree over the chunk roots has the file's root.
CHUNK = 1 << 16


def _leaf_query(path: str, where: str = "") -> str:
    # the leaf is the row as DuckDB's to_json prints it; DuckDB hashes it too (vectorised, in its threads)
    return (f"SELECT position, unhex(sha256(from_hex('00') || encode(to_json(r)::VARCHAR))) AS h "
            f"FROM {parquet_scan([path])} r {where} ORDER BY position")


def file_leaves(path: str, lo: int | None = None, hi: int | None = None) -> tuple[np.ndarray, list[bytes]]:
    """(positions, leaf hashes) of the rows of one segment file, in position order; only positions
    ``lo``..``hi`` when given. Each leaf hash is :func:`merkle.leaf_hash` of the row's ``to_json`` text."""
    con = new_connection()
    try:
        if lo is None:
            table = con.sql(_leaf_query(path)).to_arrow_table()
        else:
            table = con.sql(_leaf_query(path, "WHERE position BETWEEN ? AND ?"), params=[lo, hi]).to_arrow_table()
    finally:
        con.close()
    return table.column("position").to_numpy(), table.column("h").to_pylist()


def event_text(path: str, position: int) -> str | None:
    """The leaf text of the event at ``position`` in one segment file (None when the file does not hold it)."""
    con = new_connection()
    try:
        rows = con.execute(f"SELECT to_json(r)::VARCHAR FROM {parquet_scan([path])} r WHERE position = ?",
                           [position]).fetchall()
    finally:
        con.close()
    return rows[0][0] if rows else None


def chunk_roots(hashes: list[bytes]) -> list[bytes]:
    """The root of every :data:`CHUNK` leaves; ``merkle.root`` of them is the root over all ``hashes``."""
    return [merkle.root(hashes[i:i + CHUNK]) for i in range(0, len(hashes), CHUNK)]


def _index_links(store: Any, tx: Any) -> dict[tuple[str, str], Link]:
    out = {}
    for row in store._catalog.links(tx, kind="index"):
        link = Link(*row)
        c = link.content
        out[(c["file"], c["sha256"])] = link  # a later index of the same file wins
    return out


def _check_bytes(store: Any, path: str, sha: str) -> None:
    if file_sha256(str(store.path / path)) != sha:
        raise TamperedStore(f"the store is damaged or was tampered with: segment file {path} differs from the "
                            f"SHA-256 its commit recorded; run `eventkit verify {store.path}`")


def _add_index(store: Any, path: str, sha: str, first: int, last: int, hashes: list[bytes]) -> Link:
    """Add the ``index`` link of one file from its leaf hashes: the root, and the chunk roots for proofs."""
    roots = chunk_roots(hashes)
    with store._catalog.write() as tx:
        return add_link(store._catalog, tx, "index", first, last, micros_now(),
                        {"file": path, "sha256": sha, "events": len(hashes), "root": merkle.root(roots).hex(),
                         "chunk": CHUNK, "chunks": [r.hex() for r in roots]})


def index_live_files(store: Any) -> int:
    """Index every live segment file that has no ``index`` link yet; returns how many were indexed.

    DuckDB reads and hashes the next file's rows (in its own threads, the GIL released) while this
    thread builds the tree of the one before.
    """
    with store._catalog.read() as tx:
        live = [(r[1], r[12], r[3], r[4]) for r in store._catalog.segment_rows(tx) if r[11] is None]
        done = _index_links(store, tx)
    todo = [f for f in live if f[1] is not None and (f[0], f[1]) not in done]

    def leaves(item: tuple) -> list[bytes]:
        _check_bytes(store, item[0], item[1])  # the bytes first: never index a modified file
        return file_leaves(str(store.path / item[0]))[1]

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(leaves, todo[0]) if todo else None
        for i, (path, sha, first, last) in enumerate(todo):
            hashes = pending.result()
            pending = pool.submit(leaves, todo[i + 1]) if i + 1 < len(todo) else None
            _add_index(store, path, sha, first, last, hashes)
    return len(todo)


def _file_path(store: Any, link: Link | None, path: str, sha: str, first: int, last: int,
               position: int) -> tuple[Link, str, int, list[bytes]] | None:
    """The proof of ``position`` in one file: (its index link, event text, leaf index, path to the link's root);
    None when the file does not hold the position. Re-hashes one chunk of the file when its index link has
    chunk roots that check out; else the whole file, indexing it (again) when the link is missing or its
    root differs (e.g. another DuckDB prints the rows differently)."""
    full = str(store.path / path)
    text = event_text(full, position)
    if text is None:
        return None
    content = link.content if link is not None else {}
    roots = [bytes.fromhex(h) for h in content.get("chunks", [])]
    if roots and content.get("chunk") == CHUNK and merkle.root(roots).hex() == content["root"]:
        con = new_connection()
        try:
            index = con.execute(f"SELECT count(*) FROM {parquet_scan([full])} WHERE position < ?",
                                [position]).fetchall()[0][0]
            k = index // CHUNK
            lo, hi = con.execute(f"SELECT min(position), max(position) FROM (SELECT position FROM "
                                 f"{parquet_scan([full])} ORDER BY position LIMIT {CHUNK} OFFSET {k * CHUNK})"
                                 ).fetchall()[0]
        finally:
            con.close()
        positions, hashes = file_leaves(full, lo, hi)
        if len(hashes) == min(CHUNK, content["events"] - k * CHUNK) and merkle.root(hashes) == roots[k]:
            i = index - k * CHUNK
            if positions[i] == position and hashes[i] == merkle.leaf_hash(text.encode()):
                return link, text, index, merkle.inclusion_path(hashes, i) + merkle.inclusion_path(roots, k)
    positions, hashes = file_leaves(full)
    if link is None or content["root"] != merkle.root(chunk_roots(hashes)).hex():
        _check_bytes(store, path, sha)
        link = _add_index(store, path, sha, first, last, hashes)
    index = int(np.searchsorted(positions, position))
    if hashes[index] != merkle.leaf_hash(text.encode()):
        raise StoreError(f"the event at position {position:,} prints differently from its leaf in {path}")
    return link, text, index, merkle.inclusion_path(hashes, index)


def prove(store: Any, position: int, *, checkpoint: Any = None) -> dict[str, Any]:
    """An inclusion proof of the event at ``position`` (see the module docstring).

    Args:
        position: The event's position.
        checkpoint: A signed checkpoint (path or dict): prove against the tree it signed, so that the
            proof checks against that checkpoint alone.

    Raises:
        InvalidInput: no event at ``position``.
        TamperedStore: the event's file or hot rows differ from what their commit recorded.
    """
    from eventkit.store.signed_checkpoints import load_checkpoint

    cp = None if checkpoint is None else load_checkpoint(checkpoint)
    with store._catalog.read() as tx:
        head = store._catalog.meta_int(tx, "head")
        if isinstance(position, bool) or not isinstance(position, int) or not 1 <= position <= head:
            raise InvalidInput(f"no event at position {position!r}: the store's positions are 1..{head:,}",
                               values=[position])
        hot = store._catalog.hot_rows(tx, upto=ALL)
        appends = unsealed_appends(store._catalog, tx)
        files = [(r[1], r[12], r[3], r[4]) for r in store._catalog.segment_rows(tx)
                 if r[11] is None and r[3] <= position <= r[4]]
        indexed = _index_links(store, tx)
    found = None
    if any(r[0] == position for r in hot):
        link = next(a for a in appends if a.first_position <= position <= a.last_position)
        leaves = [(r[0], hot_leaf(r)) for r in hot if link.first_position <= r[0] <= link.last_position]
        hashes = [merkle.leaf_hash(x) for _, x in leaves]
        if merkle.root(hashes).hex() != link.content["root"]:
            raise TamperedStore(f"the hot log's events at positions {link.first_position}..{link.last_position} "
                                f"differ from what their append (link {link.seq}) recorded; run `eventkit verify`")
        index = next(i for i, (p, _) in enumerate(leaves) if p == position)
        found = link, leaves[index][1].decode(), index, merkle.inclusion_path(hashes, index)
    else:
        for path, sha, first, last in files:
            if sha is not None:
                found = _file_path(store, indexed.get((path, sha)), path, sha, first, last, position)
                if found is not None:
                    break
    if found is None:
        raise StoreError(f"the event at position {position:,} is in no file or hot row the chain records; "
                         f"run `eventkit verify {store.path}`")
    link, text, index, event_path = found
    with store._catalog.read() as tx:
        links = [Link(*r) for r in store._catalog.links(tx, upto_seq=None if cp is None else int(cp["links"]))]
    if link.seq > len(links):
        raise StoreError(f"the event at position {position:,} was indexed (link {link.seq}) after the checkpoint "
                         f"(link {len(links)}); make a new checkpoint (`eventkit checkpoint`), then prove again")
    link_leaves = [merkle.leaf_hash(ln.hash) for ln in links]
    return {
        "format": FORMAT,
        "position": position,
        "event": text,
        "leaf_index": index,
        "leaves": link.content["events"],
        "event_path": [h.hex() for h in event_path],
        "link": link.as_dict(),
        "tree_size": len(links),
        "tree_path": [h.hex() for h in merkle.inclusion_path(link_leaves, link.seq - 1)],
        "tree_root": merkle.root(link_leaves).hex(),
    }


def check_proof(proof: dict[str, Any], *, checkpoint: Any = None, public_key: Any = None) -> dict[str, Any]:
    """Check an inclusion proof with nothing but the proof (and a checkpoint, to tie it to signed history).

    Returns:
        The proven event as a dict (position, stream_id, ... as the proof's event text holds them).

    Raises:
        StoreError: any step does not hold (the message says which).
    """
    if proof.get("format") != FORMAT:
        raise StoreError(f"not an eventkit proof (format {proof.get('format')!r}, expected {FORMAT!r})")
    link = Link.from_dict(proof["link"])
    if link.expected_hash() != link.hash:
        raise StoreError("the proof's link does not match its hash: the proof was altered")
    content = link.content
    if link.kind not in ("append", "adopt", "index") or content["events"] != proof["leaves"]:
        raise StoreError(f"the proof's link (a {link.kind!r} link) does not describe {proof['leaves']} events")
    text = proof["event"]
    event = json.loads(text) if text.startswith("{") else dict(zip(
        ("position", "stream_id", "stream_type", "version", "event_type", "event_id", "occurred_at", "recorded_at",
         "data", "metadata"), json.loads(text)))
    for key in ("data", "metadata"):  # the hot log keeps them as JSON text
        if isinstance(event.get(key), str):
            event[key] = json.loads(event[key])
    if event.get("position") != proof["position"]:
        raise StoreError("the proof's event is not at the position it claims")
    try:
        root = merkle.root_from_path(merkle.leaf_hash(text.encode()), proof["leaf_index"], proof["leaves"],
                                     [bytes.fromhex(h) for h in proof["event_path"]])
        if root.hex() != content["root"]:
            raise StoreError("the event is not in its link: the event or its path was altered")
        top = merkle.root_from_path(merkle.leaf_hash(link.hash), link.seq - 1, proof["tree_size"],
                                    [bytes.fromhex(h) for h in proof["tree_path"]])
    except ValueError as e:
        raise StoreError(f"the proof's paths do not fit its tree: {e}") from e
    if top.hex() != proof["tree_root"]:
        raise StoreError("the link is not in the tree the proof names: the proof was altered")
    if checkpoint is not None:
        from eventkit.store.signed_checkpoints import check_signature, load_checkpoint

        cp = load_checkpoint(checkpoint)
        check_signature(cp, public_key)
        if int(cp["links"]) != proof["tree_size"] or cp["tree_root"] != proof["tree_root"]:
            raise StoreError(f"the proof is against a tree of {proof['tree_size']} links, the checkpoint signed "
                             f"{cp['links']}: prove against it (`eventkit prove ... --checkpoint`)")
    return event
