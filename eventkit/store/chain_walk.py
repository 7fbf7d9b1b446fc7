"""The chain walk of ``verify``: every link's hash and order checked, and what the store must hold derived
from the links (live files, unsealed appends, the head position).

A store of single appends has a link per append: 200,000 links for 200,000 events. Walked one by one
in Python (three JSON parses of each append's detail, a hash, the seal's binding recomputed from the
parses) that cost about 17 µs a link. Here the regular links are handled in bulk: appends whose detail
is spelled as every writer spells it (canonical JSON, matched by one vectorised regular expression),
their positions and times checked against numpy running maxima, and a seal's binding over the appends
it replaces computed as one SHA-256 over a prepared buffer of their (seq, root) records. Each link's own
hash stays one pair of ``hashlib`` calls in a tight loop (hashlib has no batch call). Every other link
(another kind, an unusual detail, or a link with a problem) goes through the step-by-step code, with
the same state and the same messages; a chain whose columns do not even have their types is walked
step by step throughout.

May use :mod:`eventkit.store.integrity`.
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eventkit.store.integrity import ADVANCING, GENESIS, Link, replaced_digest

_LINK_PREFIX = b"eventkit-link-1\x00"
_NUMBERS = struct.Struct(">qqqq")
#: An append's detail as :func:`eventkit.store.integrity.canonical` writes it (what JSON reads the same).
_APPEND = r'^\{"events":(0|[1-9][0-9]{0,15}),"root":"[0-9a-f]{64}"\}$'
_UNREADABLE = object()  # a detail that is not JSON
_BIG = 2**62  # positions or times past this are walked step by step (numpy's int64 running sums would wrap)


def replay(rows: list[tuple], problems: list[Any], problem: Callable[..., Any]) -> tuple[dict[str, dict], list[Link], int]:
    """Walk the chain ``rows`` (the catalog's, in ``LINK_COLUMNS`` order).

    Args:
        problems: Where each finding is appended, made by ``problem(what, link=, positions=, files=)``.

    Returns:
        (live files: path -> FILE entry plus its ``link``, the unsealed append links, the chain's head
        position: the last position its advancing links take).
    """
    walk = _Walk(rows, problems, problem)
    try:
        bulk = _Bulk(rows)
    except (TypeError, ValueError, OverflowError, pa.ArrowException):
        bulk = None  # columns without their types (an edited catalog): step by step
    if bulk is None:
        return walk.all_steps()
    return walk.with_bulk(bulk)


class _Bulk:
    """The chain's columns, and what holds for every link at once."""

    def __init__(self, rows: list[tuple]) -> None:
        n = len(rows)
        self.seqs = np.fromiter((r[0] for r in rows), np.int64, n)
        self.firsts = np.fromiter((r[2] for r in rows), np.int64, n)
        self.lasts = np.fromiter((r[3] for r in rows), np.int64, n)
        self.recorded = np.fromiter((r[4] for r in rows), np.int64, n)
        if n and max(int(np.abs(a).max()) for a in (self.seqs, self.firsts, self.lasts, self.recorded)) >= _BIG:
            raise OverflowError
        kinds = pa.array([r[1] for r in rows], pa.string())
        details = pa.array([r[5] for r in rows], pa.string())
        self.advancing = np.asarray(pc.is_in(kinds, pa.array(ADVANCING)).to_numpy(zero_copy_only=False), bool)
        fast = pc.and_(pc.equal(kinds, "append"), pc.match_substring_regex(details, _APPEND))
        self.fast = np.asarray(pc.fill_null(fast, False).to_numpy(zero_copy_only=False), bool)
        self.fast_at = np.flatnonzero(self.fast)  # the regular appends' link indices
        regular = details.filter(pa.array(self.fast))
        events = pc.cast(pc.utf8_slice_codeunits(regular, 10, -75), pa.int64()).to_numpy(zero_copy_only=False)
        self.events = np.concatenate(([0], np.cumsum(events, dtype=np.int64)))  # running sum over regular appends
        roots = pc.utf8_slice_codeunits(regular, -66, -2)
        m = len(self.fast_at)
        # (seq, root) as a seal's digest reads them: 8 bytes big-endian, then the root's 32 bytes
        self.records = np.empty((m, 40), np.uint8)
        self.records[:, :8] = self.seqs[self.fast_at].astype(">i8").view(np.uint8).reshape(m, 8)
        if m:
            offsets = np.frombuffer(roots.buffers()[1], np.int32)[roots.offset:roots.offset + m + 1]
            text = roots.buffers()[2].to_pybytes()[offsets[0]:offsets[-1]]
            self.records[:, 8:] = np.frombuffer(bytes.fromhex(text.decode()), np.uint8).reshape(m, 32)


class _Walk:
    def __init__(self, rows: list[tuple], problems: list[Any], problem: Callable[..., Any]) -> None:
        self.rows, self.problems, self.problem = rows, problems, problem
        self.live: dict[str, dict] = {}
        self.pending: list[tuple[int, Any]] = []  # (link index, parsed detail) of unsealed appends, step by step

    # -- every link step by step ------------------------------------------------------------------
    def all_steps(self) -> tuple[dict[str, dict], list[Link], int]:
        next_position, last_recorded = 1, 0
        for i, row in enumerate(self.rows):
            self.hash_problem(i, self.rows[i - 1][7] if i else GENESIS)
            content = self.parse(i)
            if content is _UNREADABLE:
                continue
            if row[1] in ADVANCING:
                self.order_problems(i, next_position, last_recorded)
                next_position, last_recorded = max(next_position, row[3] + 1), max(last_recorded, row[4])
            if self.kind_step(i, content, lambda: list(self.pending)):
                self.pending = []
        chain_head = max((row[3] for row in self.rows if row[1] in ADVANCING), default=0)
        return self.live, [Link(*self.rows[r]) for r, _ in self.pending], chain_head

    def hash_problem(self, i: int, prev: bytes) -> bool:
        """Report link ``i``'s broken hash or order, if it is; returns whether it was."""
        seq, kind, first, last, recorded_at, detail, prev_hash, link_hash = self.rows[i]
        if (seq != i + 1 or prev_hash != prev or hashlib.sha256(
                _LINK_PREFIX + prev_hash + _NUMBERS.pack(seq, first, last, recorded_at) + kind.encode() + b"\x00"
                + hashlib.sha256(detail.encode()).digest()).digest() != link_hash):
            why = ("a link is missing or out of order" if seq != i + 1 else
                   "a link does not follow its predecessor" if prev_hash != prev else
                   "a link's content differs from its hash (the link was edited)")
            self.problems.append(self.problem(f"the hash chain is broken: {why}", link=seq, positions=(first, last)))
            return True
        return False

    def parse(self, i: int) -> Any:
        """Link ``i``'s detail, or :data:`_UNREADABLE` (reported) when it is not JSON."""
        row = self.rows[i]
        try:
            return json.loads(row[5])
        except ValueError:
            self.problems.append(self.problem("a link's detail is not readable", link=row[0], positions=(row[2], row[3])))
            return _UNREADABLE

    def order_problems(self, i: int, next_position: int, last_recorded: int) -> None:
        seq, _, first, last, recorded_at = self.rows[i][:5]
        span = (first, last)
        if first != next_position or last < first:
            self.problems.append(self.problem(f"positions out of order: the link takes {span[0]:,}..{span[1]:,} where "
                                              f"{next_position:,} comes next", link=seq, positions=span))
        if recorded_at < last_recorded:
            self.problems.append(self.problem("recorded_at goes back in time", link=seq, positions=span))

    def kind_step(self, i: int, content: Any, replaced: Callable[[], list[tuple[int, Any]]],
                  seal: Callable[[Any], bool] | None = None) -> bool:
        """What link ``i`` of its kind does to the live files and pending appends (``replaced``: the
        pending appends as (index, detail), for a seal; ``seal``: a cheaper check of its binding).
        Returns whether a seal went through (its appends are no longer pending)."""
        seq, kind, first, last = self.rows[i][:4]
        span = (first, last)
        problem = self.problem
        try:
            if kind in ("append", "adopt"):
                if kind == "adopt":
                    self.add_files(seq, content["files"], span, last - first + 1 - content["events"])
                self.pending.append((i, content))
            elif kind == "segment":
                self.add_files(seq, content["files"], span, last - first + 1)
            elif kind == "seal":
                want = content["replaces"]
                if seal is not None:
                    ok, events = seal(want)
                else:
                    pending = replaced()
                    events = sum(c["events"] for _, c in pending)
                    ok = (want["links"] == len(pending) and want["first_link"] == (self.rows[pending[0][0]][0]
                                                                                   if pending else 0)
                          and want["digest"] == replaced_digest([(self.rows[r][0], c["root"]) for r, c in pending]))
                if not ok:
                    self.problems.append(problem("a seal does not bind the appends it replaced", link=seq, positions=span))
                self.add_files(seq, content["files"], span, events)
                return True
            elif kind == "compact":
                for old in content["replaces"]:
                    had = self.live.pop(old["path"], None)
                    if had is None or had["sha256"] != old["sha256"]:
                        self.problems.append(problem("a compaction replaced a file the chain does not hold", link=seq,
                                                     positions=span, files=[old["path"]]))
                self.add_files(seq, content["files"], span, None)
        except (KeyError, TypeError, ValueError, AttributeError):
            self.problems.append(problem("a link's detail is not what its kind records (the link was edited)",
                                         link=seq, positions=span))
        return False

    def add_files(self, seq: int, files: list[dict], span: tuple[int, int], events: int | None) -> None:
        count = 0
        for entry in files:
            self.live[entry["path"]] = {**entry, "link": seq}
            count += entry["count"]
            if entry["first"] < span[0] or entry["last"] > span[1]:
                self.problems.append(self.problem("a file's positions lie outside its link's", link=seq, positions=span,
                                                  files=[entry["path"]]))
        if events is not None and count != events:
            self.problems.append(self.problem(f"the link's files hold {count:,} events where {events:,} were committed",
                                              link=seq, positions=span))

    # -- regular links in bulk, the others step by step -----------------------------------------------
    def with_bulk(self, b: _Bulk) -> tuple[dict[str, dict], list[Link], int]:
        rows, n = self.rows, len(self.rows)
        sha256, pack = hashlib.sha256, _NUMBERS.pack
        special = {i for i, (seq, kind, first, last, recorded_at, detail, prev_hash, link_hash) in enumerate(rows)
                   if sha256(_LINK_PREFIX + prev_hash + pack(seq, first, last, recorded_at) + kind.encode() + b"\x00"
                             + sha256(detail.encode()).digest()).digest() != link_hash}
        special.update(i for i in range(1, n) if rows[i][6] != rows[i - 1][7])
        if n and rows[0][6] != GENESIS:
            special.add(0)
        special.update(np.flatnonzero(b.seqs != np.arange(1, n + 1)).tolist())
        contents: dict[int, Any] = {}
        for i in np.flatnonzero(~b.fast).tolist():  # other kinds and unusual details: parsed once
            try:
                contents[i] = json.loads(rows[i][5])
            except ValueError:
                contents[i] = _UNREADABLE
        # next position and last recorded_at before each link: running maxima over the advancing links
        # before it (an unreadable link is skipped before it counts, as step by step)
        counts = b.advancing.copy()
        counts[[i for i, c in contents.items() if c is _UNREADABLE]] = False
        next_position = np.maximum.accumulate(np.concatenate(([1], np.where(counts, b.lasts + 1, 1))))[:-1]
        last_recorded = np.maximum.accumulate(np.concatenate(([0], np.where(counts, b.recorded, 0))))[:-1]
        out_of_order = counts & ((b.firsts != next_position) | (b.lasts < b.firsts) | (b.recorded < last_recorded))
        special.update(np.flatnonzero(out_of_order).tolist())
        special.update(contents)
        chain_head = int(b.lasts[b.advancing].max()) if b.advancing.any() else 0
        start = 0  # the link index from which regular appends are pending (after the last seal that went through)
        for i in sorted(special):
            fast = bool(b.fast[i])
            content = contents.get(i)
            if fast:
                detail = rows[i][5]
                content = {"events": int(detail[10:-75]), "root": detail[-66:-2]}
            self.hash_problem(i, rows[i - 1][7] if i else GENESIS)
            if content is _UNREADABLE:
                self.parse(i)  # reports it
                continue
            if counts[i]:
                self.order_problems(i, int(next_position[i]), int(last_recorded[i]))
            if fast:
                continue  # a regular append with a problem of its own: pending like the others
            lo, hi = np.searchsorted(b.fast_at, [start, i])

            def replaced(lo: int = lo, hi: int = hi) -> list[tuple[int, Any]]:
                regular = [(int(j), None) for j in b.fast_at[lo:hi]]
                merged = sorted(regular + [p for p in self.pending if p[0] >= start], key=lambda p: p[0])
                return [(j, c if c is not None else self._regular(j)) for j, c in merged]

            def seal(want: Any, lo: int = lo, hi: int = hi) -> tuple[bool, int]:
                if any(p[0] >= start for p in self.pending):  # an adopt or an unusual append among them
                    pending = replaced()
                    events = sum(c["events"] for _, c in pending)
                    return (want["links"] == len(pending)
                            and want["first_link"] == (rows[pending[0][0]][0] if pending else 0)
                            and want["digest"] == replaced_digest([(rows[r][0], c["root"]) for r, c in pending]),
                            events)
                events = int(b.events[hi] - b.events[lo])
                first_link = int(b.seqs[b.fast_at[lo]]) if hi > lo else 0
                digest = hashlib.sha256(b.records[lo:hi].tobytes()).hexdigest()
                return (want["links"] == int(hi - lo) and want["first_link"] == first_link
                        and want["digest"] == digest, events)

            if self.kind_step(i, content, replaced, seal):
                start = i + 1
                self.pending = []
        lo = int(np.searchsorted(b.fast_at, start))
        pending = sorted([int(j) for j in b.fast_at[lo:]] + [p[0] for p in self.pending if p[0] >= start])
        return self.live, [Link(*rows[j]) for j in pending], chain_head

    def _regular(self, j: int) -> dict[str, Any]:
        detail = self.rows[j][5]
        return {"events": int(detail[10:-75]), "root": detail[-66:-2]}
