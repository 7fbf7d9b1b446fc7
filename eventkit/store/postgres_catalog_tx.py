"""The PostgreSQL catalog's write transaction as its methods receive it: few statements, fewer waits.

A write runs in psycopg's pipeline mode (statements go out without waiting for the one before);
:class:`WriteTx` wraps its connection so that an append costs as few statements and round trips as
its meaning allows:

- ``held``: what the write read when it took the counter row's lock (the log's counters,
  ``personal_version``, the chain's head), kept current by the write's own statements, and the
  stream heads it has read or written (``held["heads"]``). It lives on the transaction, not on a
  catalog object, so the appenders of a group commit (each with its own catalog, on the leader's
  transaction) share it instead of re-reading it.
- The writes of appends (hot-log rows, chain links, supplied event ids, stream heads, the log's
  counters) are kept as rows (:meth:`WriteTx.defer`) and go to the server as one statement of
  fixed text (:data:`FLUSH_SQL`, so psycopg prepares it) before the next statement that needs them,
  or before COMMIT: the appends of a whole group commit cost one statement. A stream head read
  (:meth:`WriteTx.stream_heads`) does not need them: it is answered from ``held["heads"]``, from
  the process's :class:`HeadCache`, or from the server, without sending them.
- A savepoint (group commit takes one per append) is sent only when a statement must run after it:
  an append refused by its checks (a wrong expected version) wrote nothing, so rolling back to a
  savepoint that was never sent is forgetting the rows deferred since; an append that succeeded
  releases a savepoint that was never sent, so neither costs a statement.

A failed statement fails the transaction at the next read or at COMMIT: nothing of it is stored.

May use the standard library only.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Iterable, Sequence

HOT_COLUMNS = "position, stream_id, stream_type, version, event_type, event_id, occurred_at, recorded_at, data, metadata"
LINK_COLUMNS = "seq, kind, first_position, last_position, recorded_at, detail, prev_hash, hash"
LOG_KEYS = ("head", "last_recorded", "hot_count", "fields_version")  # columns of the counter row

#: Every deferred write of a transaction in one statement; its text never changes (an empty list
#: inserts nothing), so psycopg prepares it after a few uses and the server plans it once. Each
#: table's rows travel as one JSON array of arrays: ``json.dumps`` is C, where psycopg dumps a list
#: parameter element by element in Python (most of an append's client time before).
FLUSH_SQL = (
    f"WITH h AS (INSERT INTO hot ({HOT_COLUMNS}) SELECT (r->>0)::bigint, r->>1, r->>2, (r->>3)::bigint, r->>4, "
    "r->>5, (r->>6)::bigint, (r->>7)::bigint, r->>8, r->>9 FROM json_array_elements(%s::json) r), "
    f"c AS (INSERT INTO chain ({LINK_COLUMNS}) SELECT (r->>0)::bigint, r->>1, (r->>2)::bigint, (r->>3)::bigint, "
    "(r->>4)::bigint, r->>5, decode(r->>6, 'hex'), decode(r->>7, 'hex') FROM json_array_elements(%s::json) r), "
    "e AS (INSERT INTO event_ids SELECT r->>0, (r->>1)::bigint FROM json_array_elements(%s::json) r), "
    "s AS (INSERT INTO streams SELECT r->>0, r->>1, (r->>2)::bigint, (r->>3)::bigint FROM json_array_elements(%s::json) r "
    "ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, last_position = excluded.last_position) "
)
_SET_LOG = "UPDATE log SET " + ", ".join(f"{k} = %s::bigint" for k in LOG_KEYS) + " WHERE id = 1"
_TABLES = ("hot", "chain", "event_ids", "streams")
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
HEADS_SQL = "SELECT stream_id, stream_type, version FROM streams WHERE stream_id = ANY(%s::text[])"

#: ``held["heads"]`` value of a stream this write upserted without having read it: its type on the
#: server is not known here (an upsert keeps an existing stream's type), so a read goes to the server.
UNREAD = ("", -1)


class WriteTx:
    """The connection of an open write transaction (see the module docstring)."""

    __slots__ = ("conn", "held", "ops", "unsent", "mark", "cache")

    def __init__(self, conn: Any, held: dict[str, Any], cache: HeadCache) -> None:
        self.conn, self.held, self.cache = conn, held, cache
        self.ops: list[tuple[str, tuple]] = []  # deferred writes in order: (table, row)
        self.unsent: str | None = None  # a savepoint taken but not sent yet
        self.mark = 0  # ops[:mark] were deferred before the unsent savepoint

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Any statement (it may write): the savepoint and the deferred writes go first."""
        self._send_savepoint()
        self.flush()
        return self.conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """A statement that only reads: an unsent savepoint stays unsent (nothing to undo)."""
        self.flush()
        return self.conn.execute(sql, params)

    def defer(self, table: str, row: tuple) -> None:
        """Write ``row`` into ``table`` (``hot``, ``chain``, ``event_ids``, ``streams`` or ``log``) with the
        next statement that needs it (a ``streams`` row is an upsert; a ``log`` row is the counters)."""
        self.ops.append((table, row))

    def flush(self) -> None:
        """Send the deferred writes now, as one statement (after the unsent savepoint, when it covers some)."""
        if self.unsent is not None and len(self.ops) > self.mark:
            self._send_savepoint()
        self._send(len(self.ops))

    def stream_heads(self, stream_ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        """stream_id -> (stream_type, version) of those that exist, as this write sees them.

        From what the write read or wrote before, then the process's cache (valid while no other
        writer has committed since this process's last commit), then one read on the server. The
        deferred writes stay unsent: the streams they touch are answered without the server.
        """
        known = self.held["heads"]
        wanted = list(dict.fromkeys(stream_ids))
        missing = [s for s in wanted if known.get(s, UNREAD) is UNREAD]
        if missing:
            known.update(self.cache.lookup(self.held["start"], [s for s in missing if s not in known]))
            missing = [s for s in missing if known.get(s, UNREAD) is UNREAD]
        if missing:
            if any(s in known for s in missing):  # upserted unread: the server must see the upsert
                self.flush()
            rows = self.conn.execute(HEADS_SQL, (missing,)).fetchall()
            known.update(dict.fromkeys(missing))
            known.update((r[0], (r[1], int(r[2]))) for r in rows)
        return {s: known[s] for s in wanted if known[s] is not None}

    def upsert_streams(self, heads: Sequence[tuple[str, str, int, int]]) -> None:
        """Defer the upserts of ``(stream_id, stream_type, version, last_position)`` rows; the write sees them."""
        known = self.held["heads"]
        for sid, stype, version, last in heads:
            current = known.get(sid, UNREAD)
            known[sid] = UNREAD if current is UNREAD else (stype if current is None else current[0], int(version))
            self.ops.append(("streams", (sid, stype, version, last)))

    def savepoint(self, action: str, name: str) -> None:
        """``SAVEPOINT``, ``RELEASE`` or ``ROLLBACK TO`` ``name`` (validated by the caller)."""
        if action == "SAVEPOINT":
            self._send_savepoint()  # one taken before and still unsent (nested): it goes out first
            self.unsent, self.mark = name, len(self.ops)
        elif name == self.unsent:  # never sent: nothing since it reached the server
            if action == "ROLLBACK TO":
                del self.ops[self.mark:]  # the writes since the savepoint: forgotten, never sent
            else:
                self.unsent = None  # released: its deferred writes stay, part of the transaction
        else:
            if action == "ROLLBACK TO":
                # Sending a savepoint sends the writes deferred before it: every write still deferred
                # came after it. A savepoint taken after it (unsent) goes with it.
                self.ops.clear()
            self.unsent = None
            self.conn.execute(f"{action} {name}")

    def _send_savepoint(self) -> None:
        if self.unsent is not None:
            self._send(self.mark)  # the writes deferred before it are not undone by rolling back to it
            name, self.unsent = self.unsent, None
            self.conn.execute(f"SAVEPOINT {name}")

    def _send(self, n: int) -> None:
        """Send ``ops[:n]`` as one statement (:data:`FLUSH_SQL`)."""
        if not n:
            return
        ops = self.ops[:n]
        del self.ops[:n]
        self.mark = max(0, self.mark - n)
        rows: dict[str, list[tuple]] = {"hot": [], "chain": [], "event_ids": []}
        streams: dict[str, tuple] = {}
        log = None
        for table, row in ops:
            if table == "streams":  # one statement may change a row once: the last upsert wins
                before = streams.get(row[0])  # (and an upsert keeps the stream's first type)
                streams[row[0]] = row if before is None else (row[0], before[1], row[2], row[3])
            elif table == "log":
                log = row
            else:
                rows[table].append(row)
        rows["streams"] = list(streams.values())
        rows["chain"] = [(*link[:6], bytes(link[6]).hex(), bytes(link[7]).hex()) for link in rows["chain"]]
        params: list[Any] = [_JSON(rows[table]) for table in _TABLES]
        if log is None:
            self.conn.execute(FLUSH_SQL + "SELECT 1", params)
        else:
            # as text: psycopg types an int by its size (int2, int4, int8), and each type would be
            # another prepared statement as the counters grow
            self.conn.execute(FLUSH_SQL + _SET_LOG, params + [str(v) for v in log])


class HeadCache:
    """Stream heads this process's writes read or wrote, valid while no other writer has committed since.

    Keyed by what a write reads when it takes the counter row's lock: the log's head and the chain's
    head. Every change to a stream head (an append, hot or bulk) moves both, so a write that finds
    them where this process's last commit left them knows every cached head is still the server's.
    Another writer's commit changes the key and the cache is not used (and refilled by this
    process's next commit). This holds while only eventkit writes the catalog: an edit of
    ``streams`` past it that moves neither is not seen here (and ``verify`` reports it).

    A commit swaps the key for a token before COMMIT is sent and sets the new key after it succeeded:
    a write of another thread that takes the lock between the two misses the cache instead of
    reading heads older than the commit it waited for.
    """

    LIMIT = 100_000  # heads kept; a larger write (a bulk append of many streams) empties the cache

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: Any = None
        self.heads: dict[str, tuple[str, int] | None] = {}

    def lookup(self, key: Any, stream_ids: Sequence[str]) -> dict[str, tuple[str, int] | None]:
        """The cached heads of ``stream_ids`` (None: no such stream) when the cache is valid at ``key``."""
        with self.lock:
            if self.key != key:
                return {}
            heads = self.heads
            return {s: heads[s] for s in stream_ids if s in heads}

    def committing(self, start: Any) -> tuple[object, bool]:
        """Before COMMIT: a token for :meth:`committed`, and whether the cache was valid at ``start``."""
        with self.lock:
            valid, token = self.key == start, object()
            self.key = token
            return token, valid

    def committed(self, token: object, valid: bool, end: Any, heads: dict[str, tuple[str, int] | None]) -> None:
        """After a successful COMMIT: the cache, with the write's ``heads``, is valid at ``end``."""
        with self.lock:
            if self.key is not token:  # another commit of this process came between: leave it to that one
                return
            if not valid or len(self.heads) + len(heads) > self.LIMIT:
                self.heads = {}
            if len(heads) > self.LIMIT:
                self.key = None
                return
            for sid, head in heads.items():
                if head is UNREAD:
                    self.heads.pop(sid, None)
                else:
                    self.heads[sid] = head
            self.key = end


_CACHES: dict[tuple[str, str], HeadCache] = {}
_CACHES_LOCK = threading.Lock()


def head_cache(conninfo: str, schema: str) -> HeadCache:
    """The process's :class:`HeadCache` of the catalog at ``conninfo`` and ``schema``."""
    with _CACHES_LOCK:
        cache = _CACHES.get((conninfo, schema))
        if cache is None:
            cache = _CACHES[(conninfo, schema)] = HeadCache()
        return cache


def _forget_caches() -> None:
    global _CACHES_LOCK
    _CACHES_LOCK = threading.Lock()  # a parent's thread may have held it at fork()
    _CACHES.clear()


os.register_at_fork(after_in_child=_forget_caches)
