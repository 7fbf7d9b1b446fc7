"""Writing the chain: one link per commit, inside the commit's own catalog transaction.

The store's write paths call these few functions; a link commits or rolls back with the change it
records, so the chain never describes a commit that did not happen (nor misses one that did).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

from eventkit.store import merkle
from eventkit.store.integrity import (
    ALL,
    GENESIS,
    Link,
    TamperedStore,
    file_entry,
    hot_leaf,
    events_root,
    link_hash,
    make_link,
    replaced_digest,
)


def add_link(catalog: Any, tx: Any, kind: str, first: int, last: int, recorded_at: int,
             detail: dict[str, Any]) -> Link:
    """Append one link to the chain (inside the caller's write transaction)."""
    link = make_link(catalog.chain_head(tx), kind, first, last, recorded_at, detail)
    catalog.add_link(tx, (link.seq, link.kind, link.first_position, link.last_position, link.recorded_at,
                          link.detail, link.prev_hash, link.hash))
    return link


_UNREAD: Any = object()


def record_hot_append(catalog: Any, tx: Any, rows: Sequence[Sequence[Any]], previous: Any = _UNREAD) -> tuple:
    """The link of a hot-log append: ``rows`` exactly as inserted into the hot log, in position order.

    Args:
        previous: The chain's head (seq, hash) read earlier in this transaction
            (:meth:`~eventkit.store.catalog_interface.CatalogBackend.append_state`), or None before
            the first link; read here when not given.

    Returns:
        The link as a tuple in :class:`~eventkit.store.integrity.Link`'s field order (``Link(*it)``
        makes one; the append path needs only its seq and hash, and a frozen dataclass costs a
        microsecond or two to build).
    """
    if previous is _UNREAD:
        previous = catalog.chain_head(tx)
    link = append_link(previous, rows)
    catalog.add_link(tx, link)
    return link


# integrity.hot_leaf's JSON settings, with the encoder built once: json.dumps with any non-default option
# builds a new encoder per call.
_LEAF_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
# The string escaping that encoder uses (ensure_ascii=False): the same function, called directly.
_JSON_STRING = json.encoder.encode_basestring
_sha256 = hashlib.sha256


def _leaf_text(row: Sequence[Any]) -> str:
    """``hot_leaf(row)`` as text: the row's canonical JSON list.

    A hot row as the append path builds it (ints, strings, None where a payload or metadata is
    absent) is written out directly, field by field with the JSON encoder's own string escaping:
    the same text as the encoder's at a quarter of its cost. Anything else takes the encoder.
    """
    if len(row) == 10:
        p, sid, st, v, et, eid, oc, rc, d, m = row
        if (type(p) is int and type(v) is int and type(oc) is int and type(rc) is int and type(sid) is str
                and type(st) is str and type(et) is str and type(eid) is str
                and (d is None or type(d) is str) and (m is None or type(m) is str)):
            return (f"[{p},{_JSON_STRING(sid)},{_JSON_STRING(st)},{v},{_JSON_STRING(et)},{_JSON_STRING(eid)},{oc},{rc},"
                    f"{'null' if d is None else _JSON_STRING(d)},{'null' if m is None else _JSON_STRING(m)}]")
    return _LEAF_JSON(list(row))


def append_link(previous: tuple[int, bytes] | None, rows: Sequence[Sequence[Any]]) -> tuple:
    """The ``append`` link over hot-log ``rows`` after ``previous``, as the tuple ``add_link`` takes.

    The same link as ``make_link(previous, "append", ..., hot_append_detail(rows))`` (a test holds
    them equal), computed without the general path's per-call overhead: it runs in every append.
    """
    seq, prev = (1, GENESIS) if previous is None else (previous[0] + 1, previous[1])
    leaves = [_sha256(b"\x00" + _leaf_text(r).encode()).digest() for r in rows]  # merkle.leaf_hash
    root = leaves[0] if len(leaves) == 1 else merkle.root(leaves)
    # canonical({"events": n, "root": hex}): sorted keys, no spaces; the hex digits need no escaping.
    detail = f'{{"events":{len(rows)},"root":"{root.hex()}"}}'
    first, last, recorded_at = rows[0][0], rows[-1][0], rows[0][7]
    return (seq, "append", first, last, recorded_at, detail, prev,
            link_hash(seq, prev, "append", first, last, recorded_at, detail))


def files_detail(segments: Sequence[Any]) -> list[dict[str, Any]]:
    """FILE entries for written segments (:class:`eventkit.store.segment_files.SegmentInfo`)."""
    return [file_entry(s.path, s.sha256, s.size_bytes, s.first_position, s.last_position, s.event_count,
                       s.stream_type, (s.min_occurred, s.max_occurred, s.min_recorded, s.max_recorded))
            for s in segments]


def record_segments(catalog: Any, tx: Any, segments: Sequence[Any], recorded_at: int) -> Link:
    """The link of a bulk append written straight to segment files."""
    return add_link(catalog, tx, "segment", min(s.first_position for s in segments),
                    max(s.last_position for s in segments), recorded_at, {"files": files_detail(segments)})


def record_seal(catalog: Any, tx: Any, segments: Sequence[Any], recorded_at: int) -> Link:
    """The link of a seal, binding the hot rows it removes (through their append links) to the new files.

    The hot rows are re-hashed against their append links first: a hot log edited since its
    appends is refused here, before its rows are baked into a segment.

    Raises:
        TamperedStore: a hot row differs from what its append recorded, or has no append at all.
    """
    pending = unsealed_appends(catalog, tx)
    rows = catalog.hot_rows(tx, upto=ALL)
    check_hot_rows(pending, rows)
    detail = {
        "files": files_detail(segments),
        "replaces": {"links": len(pending), "first_link": pending[0].seq if pending else 0,
                     "last_link": pending[-1].seq if pending else 0,
                     "digest": replaced_digest([(p.seq, p.content["root"]) for p in pending])},
    }
    return add_link(catalog, tx, "seal", rows[0][0], rows[-1][0], recorded_at, detail)


def unsealed_appends(catalog: Any, tx: Any) -> list[Link]:
    """The links whose events are in the hot log now: appends (and an adoption) since the last seal."""
    rows = catalog.links(tx, from_seq=catalog.last_link_seq(tx, "seal") + 1)
    return [Link(*row) for row in rows if row[1] in ("append", "adopt")]


def check_hot_rows(pending: Sequence[Link], rows: Sequence[Sequence[Any]]) -> None:
    """Each pending append link's events are exactly the hot rows in its range, unchanged.

    Raises:
        TamperedStore: naming the first link whose rows differ, and the positions it covers.
    """
    i = 0
    for link in pending:
        part = []
        while i < len(rows) and rows[i][0] <= link.last_position:
            if rows[i][0] < link.first_position:
                raise TamperedStore(f"the hot log holds position {rows[i][0]}, which no append recorded")
            part.append(rows[i])
            i += 1
        want = link.content
        if len(part) != want["events"] or events_root(hot_leaf(r) for r in part) != want["root"]:
            raise TamperedStore(
                f"the hot log's events at positions {link.first_position}..{link.last_position} differ from what "
                f"their append (link {link.seq}) recorded: a row was edited, deleted or inserted"
            )
    if i < len(rows):
        raise TamperedStore(f"the hot log holds position {rows[i][0]}, which no append recorded")


def record_compaction(catalog: Any, tx: Any, replaced: Sequence[tuple[str, str | None]], segment: Any,
                      recorded_at: int) -> Link:
    """The link of a compaction: the replaced files (path, SHA-256) and the file that now holds their events."""
    detail = {"files": files_detail([segment]), "replaces": [{"path": p, "sha256": h} for p, h in replaced]}
    return add_link(catalog, tx, "compact", segment.first_position, segment.last_position, recorded_at, detail)


def adopt_existing(store: Any) -> Link | None:
    """Start the chain of a store written before eventkit kept one: one ``adopt`` link stating it as it is.

    A store created by this eventkit has ``chain_since`` in its catalog's meta from the start; an
    older one gets it here, with a link holding every live segment file (hashed now, and its hash
    recorded) and the Merkle root of the hot log. History before the adoption is taken as found.
    """
    from eventkit.store.envelope import micros_now
    from eventkit.store.integrity import file_sha256

    with store._catalog.read() as tx:
        if store._catalog.chain_since(tx) is not None:
            return None
    with store._catalog.write() as tx:
        if store._catalog.chain_since(tx) is not None:
            return None  # another process adopted it first
        head = store._catalog.meta_int(tx, "head")
        link = None
        if head:
            files = []
            for row in store._catalog.segment_rows(tx):
                if row[11] is not None:
                    continue
                sha = row[12] or file_sha256(store.path / row[1])
                store._catalog.set_segment_hash(tx, row[1], sha)
                files.append(file_entry(row[1], sha, row[6], row[3], row[4], row[5], row[2], row[7:11]))
            rows = store._catalog.hot_rows(tx, upto=ALL)
            detail = {"files": files, "events": len(rows), "root": events_root(hot_leaf(r) for r in rows)}
            link = add_link(store._catalog, tx, "adopt", 1, head, store._catalog.meta_int(tx, "last_recorded")
                            or micros_now(), detail)
        store._catalog.set_meta(tx, "chain_since", head + 1)
    return link
