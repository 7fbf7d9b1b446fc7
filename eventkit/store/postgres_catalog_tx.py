"""The PostgreSQL catalog's write transaction as its methods receive it: few statements, fewer waits.

A write runs in psycopg's pipeline mode (statements go out without waiting for the one before);
:class:`WriteTx` wraps its connection so that an append costs as few statements and round trips as
its meaning allows:

- ``held``: what the write read when it took the counter row's lock (the log's counters,
  ``personal_version``, the chain's head), kept current by the write's own statements. It lives
  on the transaction, not on a catalog object, so the appenders of a group commit (each with its
  own catalog, on the leader's transaction) share it instead of re-reading it.
- Writes whose result nobody reads (:meth:`WriteTx.defer`) wait and go to the server as one
  statement (data-modifying ``WITH`` clauses) before the next statement, or before COMMIT: an
  append's four writes cost one statement.
- A savepoint (group commit takes one per append) is sent only before the first write inside it:
  an append refused by its checks (a wrong expected version) wrote nothing, so rolling back to a
  savepoint that was never sent is forgetting the deferred writes; an append that succeeded
  releases a savepoint that was never sent, so neither costs a statement.

A failed statement fails the transaction at the next read or at COMMIT: nothing of it is stored.

May use the standard library only.
"""

from __future__ import annotations

from typing import Any, Sequence


class WriteTx:
    """The connection of an open write transaction (see the module docstring)."""

    __slots__ = ("conn", "held", "pending", "unsent")

    def __init__(self, conn: Any, held: dict[str, Any]) -> None:
        self.conn, self.held = conn, held
        self.pending: list[tuple[str, str, Sequence[Any]]] = []
        self.unsent: str | None = None  # a savepoint taken but not sent yet

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Any statement (it may write): the savepoint and the deferred writes go first."""
        self._send_savepoint()
        self.flush()
        return self.conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """A statement that only reads: an unsent savepoint stays unsent (nothing to undo)."""
        self.flush()
        return self.conn.execute(sql, params)

    def defer(self, table: str, sql: str, params: Sequence[Any]) -> None:
        """Send ``sql`` (an INSERT, UPDATE or upsert of ``table``) with the next statement."""
        if any(t == table for t, _, _ in self.pending):  # one statement may change a row only once
            self.flush()
        self.pending.append((table, sql, params))

    def flush(self) -> None:
        """Send the deferred writes now, as one statement."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        self._send_savepoint()
        *first, (_, last, _) = pending
        sql = last if not first else "WITH " + ", ".join(f"w{i} AS ({q})" for i, (_, q, _) in enumerate(first)) + " " + last
        self.conn.execute(sql, [v for _, _, params in pending for v in params])

    def savepoint(self, action: str, name: str) -> None:
        """``SAVEPOINT``, ``RELEASE`` or ``ROLLBACK TO`` ``name`` (validated by the caller)."""
        if action == "SAVEPOINT":
            self.flush()  # the writes deferred before the savepoint are not undone by rolling back to it
            self._send_savepoint()
            self.unsent = name
        elif name == self.unsent:  # never sent: nothing since it reached the server
            if action == "ROLLBACK TO":
                self.pending = []  # the writes since the savepoint: forgotten, never sent
            else:
                self.unsent = None  # released: its deferred writes stay, part of the transaction
        else:
            if action == "ROLLBACK TO":
                self.pending = []
                self.unsent = None  # a savepoint taken after it goes too
            self.flush()
            self.conn.execute(f"{action} {name}")

    def _send_savepoint(self) -> None:
        if self.unsent is not None:
            name, self.unsent = self.unsent, None
            self.conn.execute(f"SAVEPOINT {name}")
