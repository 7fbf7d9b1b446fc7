"""What a store object's last append left in its catalog, kept so the next append need not read it.

An append first reads the log's counters, the chain's head and its streams' heads
(:meth:`~eventkit.store.catalog_interface.CatalogBackend.append_state`): on SQLite one statement
of seven lookups, about a tenth of a sequential append's CPU. When nothing has changed the catalog
since this store object's previous append committed, those values are the ones that append wrote,
and the next append can take them from memory.

"Nothing changed" is two marks a SQLite catalog offers (``change_marks``, ``own_changes``): ``PRAGMA
data_version``, which moves whenever another connection (another process, another store object)
commits, and the connection's ``total_changes``, which moves with every row this connection
inserts, updates or deletes (rolled back or not), so any other change made through this store
object (a seal, an erasure, a declaration, the next group member's append) spoils the saved state
too. The state is saved only after its transaction committed, with the marks as they stood at the
end of the append's own writes. A catalog without ``change_marks`` (PostgreSQL) always reads.

May use :mod:`.catalog_interface` only.
"""

from __future__ import annotations

from typing import Any

from eventkit.store.catalog_interface import CatalogBackend

# Stream heads kept at most: past it the saved heads start afresh (a long-running appender over
# millions of streams must not grow without bound; a stream not saved is read, as without a cache).
MAX_HEADS = 100_000

State = dict[str, int]
Heads = dict[str, tuple[str, int]]
Chain = tuple[int, bytes] | None


class Saved:
    """One append's outcome, waiting for its transaction to commit (see :meth:`AppendStateCache.save`)."""

    __slots__ = ("owner", "conn", "marks", "state", "chain")

    def __init__(self, owner: AppendStateCache, conn: Any, marks: tuple[int, int], state: State,
                 chain: Chain) -> None:
        self.owner, self.conn, self.marks, self.state, self.chain = owner, conn, marks, state, chain


class AppendStateCache:
    """The append state of one store object's catalog connection, valid while its marks stand still.

    The streams' heads are one dict, changed only inside write transactions (by :meth:`read` and
    :meth:`outcome`, which the catalog runs one at a time): while the saved state is valid no write
    has happened since the outcome that saved it, so every head in the dict is the committed one.
    :meth:`save` runs after the commit, possibly late and out of order (group commit: each member
    saves from its own thread), and only replaces the saved state, whose marks then decide.
    """

    __slots__ = ("_saved", "_heads")

    def __init__(self) -> None:
        self._saved: Saved | None = None
        self._heads: Heads = {}

    def read(self, catalog: CatalogBackend, tx: Any, stream_ids: list[str]) -> tuple[State, Heads, Chain, int | None]:
        """``catalog.append_state(tx, stream_ids)`` plus the data version seen, from memory when still valid.

        Call inside the append's write transaction, before its first write.

        Returns:
            (state, heads, chain, data_version): the first three as ``append_state`` gives them (the
            state a fresh dict the caller may change); the data version to hand back to :meth:`outcome`
            (None on a catalog without change marks).
        """
        marks = getattr(catalog, "change_marks", None)
        if marks is None:
            return (*catalog.append_state(tx, stream_ids), None)
        now = marks(tx)
        saved = self._saved
        if saved is not None and saved.conn is tx and saved.marks == now:
            known = self._heads
            missing = [s for s in stream_ids if s not in known]
            if not missing:
                return dict(saved.state), {s: known[s] for s in stream_ids}, saved.chain, now[0]
            fresh = catalog.stream_heads(tx, missing)
            heads = {}
            for s in stream_ids:
                head = known.get(s) or fresh.get(s)
                if head is not None:
                    heads[s] = head
            return dict(saved.state), heads, saved.chain, now[0]
        self._saved = None
        self._heads = {}
        return (*catalog.append_state(tx, stream_ids), now[0])

    def outcome(self, catalog: CatalogBackend, tx: Any, data_version: int | None, state: State, heads: Heads,
                chain: Chain) -> Saved | None:
        """What the append leaves, for :meth:`save` once committed; call it after the append's last write.

        Args:
            data_version: As :meth:`read` returned it (the snapshot the append wrote on).
            state: The log's counters after the append; heads: its streams' (stream_type, version)
                after it; chain: the chain's head after it (its link's seq and hash).
        """
        if data_version is None:
            return None
        if len(self._heads) + len(heads) > MAX_HEADS:
            self._heads = {}
        self._heads.update(heads)
        return Saved(self, tx, (data_version, catalog.own_changes(tx)), state, chain)

    def save(self, saved: Saved | None) -> None:
        """Keep an append's outcome: call only after the transaction that wrote it committed.

        It goes to the cache whose :meth:`outcome` made it (whose heads it updated), which in a group
        commit may be another store object's than the caller's.
        """
        if saved is not None:
            saved.owner._saved = saved
