"""Inclusion proofs: one event, its link, the RFC 6962 tree over the links — checkable without the store.

An event in the hot log is a leaf of its ``append`` link's tree (the row as the hot log stores it).
An event in a segment file is a leaf of that file's ``index`` link: the tree over the file's rows
(each row as DuckDB's ``to_json`` of the file's own columns), made the first time a proof or a
checkpoint needs it, after the file's bytes were checked against the SHA-256 its commit recorded.
A proof holds the event's bytes, its path to the link's root, the link, and the link's path to the
tree root; :func:`check_proof` recomputes all of it with hashlib alone (and checks a checkpoint's
signature with ``cryptography`` when one is given).
"""

from __future__ import annotations

import json
from typing import Any

from eventkit.common.errors import InvalidInput, StoreError
from eventkit.store.envelope import micros_now
from eventkit.store import merkle
from eventkit.store.integrity import ALL, Link, TamperedStore, file_sha256, hot_leaf
from eventkit.store.chain_links import add_link, unsealed_appends
from eventkit.store.read_snapshot import new_connection, parquet_scan

FORMAT = "eventkit-proof-1"


def file_rows(path: str) -> list[tuple[int, bytes]]:
    """(position, leaf bytes) of every row of one segment file, in position order."""
    con = new_connection()
    try:
        rows = con.execute(f"SELECT position, to_json(r)::VARCHAR FROM {parquet_scan([path])} r ORDER BY position").fetchall()
    finally:
        con.close()
    return [(p, text.encode()) for p, text in rows]


def _index_links(store: Any, tx: Any) -> dict[tuple[str, str], Link]:
    out = {}
    for row in store._catalog.links(tx, kind="index"):
        link = Link(*row)
        c = link.content
        out[(c["file"], c["sha256"])] = link  # a later index of the same file wins
    return out


def _index_file(store: Any, path: str, sha: str, first: int, last: int,
                rows: list[tuple[int, bytes]] | None = None) -> tuple[Link, list[tuple[int, bytes]]]:
    """Add an ``index`` link for one live segment file after checking its bytes; returns it and the rows."""
    full = str(store.path / path)
    if file_sha256(full) != sha:
        raise TamperedStore(f"the store is damaged or was tampered with: segment file {path} differs from the "
                            f"SHA-256 its commit recorded; run `eventkit verify {store.path}`")
    rows = file_rows(full) if rows is None else rows
    root = merkle.root([merkle.leaf_hash(leaf) for _, leaf in rows]).hex()
    with store._catalog.write() as tx:
        link = add_link(store._catalog, tx, "index", first, last, micros_now(),
                        {"file": path, "sha256": sha, "events": len(rows), "root": root})
    return link, rows


def index_live_files(store: Any) -> int:
    """Index every live segment file that has no ``index`` link yet; returns how many were indexed."""
    with store._catalog.read() as tx:
        live = [(r[1], r[12], r[3], r[4]) for r in store._catalog.segment_rows(tx) if r[11] is None]
        done = _index_links(store, tx)
    todo = [f for f in live if f[1] is not None and (f[0], f[1]) not in done]
    for path, sha, first, last in todo:
        _index_file(store, path, sha, first, last)
    return len(todo)


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
    link = leaves = None
    if any(r[0] == position for r in hot):
        link = next(a for a in appends if a.first_position <= position <= a.last_position)
        leaves = [(r[0], hot_leaf(r)) for r in hot if link.first_position <= r[0] <= link.last_position]
        if merkle.root([merkle.leaf_hash(x) for _, x in leaves]).hex() != link.content["root"]:
            raise TamperedStore(f"the hot log's events at positions {link.first_position}..{link.last_position} "
                                f"differ from what their append (link {link.seq}) recorded; run `eventkit verify`")
    else:
        for path, sha, first, last in files:
            if sha is None:
                continue
            rows = file_rows(str(store.path / path))
            if not any(p == position for p, _ in rows):
                continue
            link = indexed.get((path, sha))
            root = merkle.root([merkle.leaf_hash(x) for _, x in rows]).hex()
            if link is None or link.content["root"] != root:
                # No index yet, or the file's rows print differently than when it was indexed (another
                # DuckDB): the file's bytes are checked against its commit before it is indexed again.
                link, rows = _index_file(store, path, sha, first, last, rows)
            leaves = rows
            break
    if link is None or leaves is None:
        raise StoreError(f"the event at position {position:,} is in no file or hot row the chain records; "
                         f"run `eventkit verify {store.path}`")
    with store._catalog.read() as tx:
        links = [Link(*r) for r in store._catalog.links(tx, upto_seq=None if cp is None else int(cp["links"]))]
    if link.seq > len(links):
        raise StoreError(f"the event at position {position:,} was indexed (link {link.seq}) after the checkpoint "
                         f"(link {len(links)}); make a new checkpoint (`eventkit checkpoint`), then prove again")
    index = next(i for i, (p, _) in enumerate(leaves) if p == position)
    hashes = [merkle.leaf_hash(x) for _, x in leaves]
    link_leaves = [merkle.leaf_hash(ln.hash) for ln in links]
    return {
        "format": FORMAT,
        "position": position,
        "event": leaves[index][1].decode(),
        "leaf_index": index,
        "leaves": len(leaves),
        "event_path": [h.hex() for h in merkle.inclusion_path(hashes, index)],
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
