"""The hash chain over commits: what a link holds, how it is hashed, and the content digests.

Every commit that changes the store's history is one link, kept in the catalog's ``chain`` table:

    hash = SHA-256("eventkit-link-1" 0x00 || prev_hash || seq, first, last, recorded_at (8 bytes
           each, big-endian) || kind 0x00 || SHA-256(detail))

``detail`` is canonical JSON (sorted keys, no spaces) describing the link's content; its SHA-256 is
the content digest. Kinds and their details:

- ``append`` (hot log): ``{"events": n, "root": R}``, R the RFC 6962 root over the events' leaves
  (:func:`hot_leaf`: the row exactly as the hot log stores it).
- ``segment`` (a bulk append written straight to files): ``{"files": [FILE, ...]}``.
- ``seal``: ``{"files": [...], "replaces": {"links": k, "first_link": a, "last_link": b,
  "digest": D}}``, D the SHA-256 over the replaced append links' (seq, root): the hot rows that left
  the catalog are bound to the files that now hold them.
- ``compact``: ``{"files": [FILE], "replaces": [{"path", "sha256"}, ...]}``.
- ``index``: ``{"file": path, "sha256": S, "events": n, "root": R}``: the Merkle root over a segment
  file's events (:func:`eventkit.store.proofs`), computed when a proof or checkpoint first needs it.
- ``erase``: ``{"subject": s, "keys": k}``: a subject's keys were destroyed (when and whose, not what).
- ``adopt``: ``{"files": [...], "events": n, "root": R}``: the first link of a store written before
  eventkit kept chains: its live files and hot log as found (positions 1..head).

FILE is ``{"path", "sha256", "size", "first", "last", "count", "stream_type", "times"}``: every column of
the file's catalog row (``times``: min/max occurred_at, min/max recorded_at), so none can be edited.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from eventkit.common.errors import StoreError
from eventkit.store import merkle

GENESIS = bytes(32)  # the previous hash of the first link
ALL = 2**63 - 1  # a position cut that keeps every event (``catalog.hot_rows(tx, upto=ALL)``)
#: Kinds whose links take new positions (the others restate or describe positions already taken).
ADVANCING = ("append", "segment", "adopt")


class TamperedStore(StoreError):
    """The store's files or catalog differ from what its hash chain recorded.

    Attributes:
        report: The :class:`~eventkit.store.verify.VerifyReport` when ``verify`` raised it.
    """

    def __init__(self, message: str, *, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


def canonical(obj: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, non-ASCII kept (one spelling per value)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Link:
    seq: int
    kind: str
    first_position: int
    last_position: int
    recorded_at: int
    detail: str
    prev_hash: bytes
    hash: bytes

    @property
    def content(self) -> dict[str, Any]:
        return json.loads(self.detail)

    def expected_hash(self) -> bytes:
        return link_hash(self.seq, self.prev_hash, self.kind, self.first_position, self.last_position,
                         self.recorded_at, self.detail)

    def as_dict(self) -> dict[str, Any]:
        """The link as plain JSON-able values (a proof carries it)."""
        return {"seq": self.seq, "kind": self.kind, "first_position": self.first_position,
                "last_position": self.last_position, "recorded_at": self.recorded_at, "detail": self.detail,
                "prev_hash": self.prev_hash.hex(), "hash": self.hash.hex()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Link:
        return cls(int(d["seq"]), str(d["kind"]), int(d["first_position"]), int(d["last_position"]),
                   int(d["recorded_at"]), str(d["detail"]), bytes.fromhex(d["prev_hash"]), bytes.fromhex(d["hash"]))


def link_hash(seq: int, prev: bytes, kind: str, first: int, last: int, recorded_at: int, detail: str) -> bytes:
    body = (b"eventkit-link-1\x00" + prev + struct.pack(">qqqq", seq, first, last, recorded_at)
            + kind.encode() + b"\x00" + hashlib.sha256(detail.encode()).digest())
    return hashlib.sha256(body).digest()


def make_link(previous: tuple[int, bytes] | None, kind: str, first: int, last: int, recorded_at: int,
              detail: dict[str, Any]) -> Link:
    """The next link after ``previous`` (its (seq, hash); None for the first link)."""
    seq, prev = (1, GENESIS) if previous is None else (previous[0] + 1, previous[1])
    text = canonical(detail)
    return Link(seq, kind, int(first), int(last), int(recorded_at), text, prev,
                link_hash(seq, prev, kind, int(first), int(last), int(recorded_at), text))


# -- content digests ---------------------------------------------------------------------------

def hot_leaf(row: Sequence[Any]) -> bytes:
    """The leaf bytes of one hot-log row (position, stream_id, stream_type, version, event_type,
    event_id, occurred_at, recorded_at, data JSON, metadata JSON): canonical JSON of the list."""
    return json.dumps(list(row), separators=(",", ":"), ensure_ascii=False).encode()


def events_root(leaves: Iterable[bytes]) -> str:
    return merkle.root([merkle.leaf_hash(x) for x in leaves]).hex()


def hot_append_detail(rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    return {"events": len(rows), "root": events_root(hot_leaf(r) for r in rows)}


def replaced_digest(links: Sequence[tuple[int, str]]) -> str:
    """The digest a seal records over the append links it replaces: their (seq, root), in order."""
    h = hashlib.sha256()
    for seq, root in links:
        h.update(struct.pack(">q", seq) + bytes.fromhex(root))
    return h.hexdigest()


def file_entry(path: str, sha256: str, size: int, first: int, last: int, count: int, stream_type: str,
               times: Sequence[int]) -> dict:
    """A FILE entry; ``times`` are the catalog's min/max occurred and recorded (reads prune by them)."""
    return {"path": path, "sha256": sha256, "size": int(size), "first": int(first), "last": int(last),
            "count": int(count), "stream_type": stream_type, "times": [int(t) for t in times]}


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, hex (about 1.8 GB/s here; hashlib releases the GIL)."""
    with open(path, "rb") as fh:
        if hasattr(hashlib, "file_digest"):  # Python 3.11+
            return hashlib.file_digest(fh, "sha256").hexdigest()
        h = hashlib.sha256()
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
        return h.hexdigest()


# -- the read guard: a modified segment fails the read that touches it -------------------------

class FileGuard:
    """Checks each segment file against its recorded SHA-256 the first time this process reads it.

    A file is hashed once per (path, size, mtime): a later read costs one ``stat``. A file changed
    in place keeping its size and modification time (``touch -r``) passes this check until the
    process restarts; ``verify`` re-hashes every file regardless.
    """

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, int, str]] = {}
        self._lock = threading.Lock()

    def unchecked(self, files: Sequence[str]) -> list[str]:
        """Those of ``files`` not yet checked in their current state (missing files are left to the read)."""
        out = []
        for f in files:
            try:
                st = os.stat(f)
            except OSError:
                continue
            seen = self._seen.get(f)
            if seen is None or seen[0] != st.st_size or seen[1] != st.st_mtime_ns:
                out.append(f)
        return out

    def check_files(self, catalog: Any, tx: Any, files: Any, paths: Sequence[str], *,
                    raise_first: bool = True) -> dict[str, str]:
        """Check those of ``paths`` (relative to file store ``files``) not checked yet, inside a catalog
        transaction. Only files on a local disk are checked (a ``stat`` per read must stay cheap).

        Returns:
            The modified files by URL, with the reason (with ``raise_first=False``; else the first raises).

        Raises:
            TamperedStore: a file's bytes differ from what the catalog recorded.
        """
        urls = {files.url(p): p for p in paths}
        unchecked = self.unchecked(list(urls))
        if not unchecked:
            return {}
        recorded = catalog.segment_hashes(tx, [urls[u] for u in unchecked])
        return self.check({files.url(p): h for p, h in recorded.items()}, raise_first=raise_first)

    def check(self, expected: dict[str, str | None], *, raise_first: bool = True) -> dict[str, str]:
        """Hash each file of ``expected`` (absolute path -> recorded SHA-256) and remember the good ones."""
        problems = {}
        for f, sha in expected.items():
            if sha is None:  # written before the store recorded hashes: nothing to compare with
                continue
            try:
                st = os.stat(f)
                actual = file_sha256(f)
            except OSError:
                continue  # a missing file: the read itself explains it
            if actual != sha:
                why = (f"modified after it was written (SHA-256 {actual[:16]}..., the catalog recorded "
                       f"{sha[:16]}...)")
                if raise_first:
                    raise TamperedStore(
                        f"the store is damaged or was tampered with: segment file {f} was {why}; the read was "
                        f"refused. Run `eventkit verify {Path(f).parents[2] if len(Path(f).parents) > 2 else ''}` for the "
                        "full report and restore the "
                        "file from a backup"
                    )
                problems[f] = why
                continue
            with self._lock:
                self._seen[f] = (st.st_size, st.st_mtime_ns, sha)
        return problems
