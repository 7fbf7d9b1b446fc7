"""The PostgreSQL catalog's statements for the hash chain and crypto-shredding.

:class:`PostgresProofQueries` is a mixin of :class:`~eventkit.store.postgres_catalog.PostgresCatalog`:
the same methods, with the same meaning, as the SQLite ones in :mod:`.catalog_queries` (the
:class:`~eventkit.store.catalog_interface.CatalogBackend` contract). Hashes and keys are ``BYTEA``
(read back as ``bytes``); the counters ``personal_version``, ``keys_erased`` and ``chain_since`` are
rows of ``meta``, as in SQLite.

Erasing a subject sets its keys to NULL; PostgreSQL keeps the old row versions (with the key bytes)
in the table's file until they are vacuumed, so the write that erased keys ends, after its commit,
with ``VACUUM FULL subject_keys``: the table is rewritten into a new file and the old file is removed.

May use :mod:`eventkit.common` only.
"""

from __future__ import annotations

import json
import time
from typing import Any

from eventkit.common.errors import StoreError

LINK_COLUMNS = "seq, kind, first_position, last_position, recorded_at, detail, prev_hash, hash"


def _bytes(value: Any) -> Any:
    """``bytes`` for a BYTEA value (psycopg may hand back a memoryview), None kept."""
    return None if value is None else bytes(value)


def _bump(tx: Any, key: str) -> None:
    """Add one to the counter ``key`` of ``meta`` (0 when it was never set)."""
    tx.execute("INSERT INTO meta VALUES (%s, '1') ON CONFLICT (key) DO UPDATE "
               "SET value = (meta.value::bigint + 1)::text", (key,))


class PostgresProofQueries:
    """The chain's and personal data's statements, as methods taking the transaction's connection."""

    #: Set by :meth:`erase_subject`: the write ends by vacuuming the destroyed keys' old row versions away.
    _vacuum_keys = False

    def _held_state(self, tx: Any) -> dict[str, Any] | None:  # PostgresCatalog's: the write's state
        return None

    # -- the hash chain -----------------------------------------------------------------------------

    def chain_since(self, tx: Any) -> int | None:
        row = tx.execute("SELECT value FROM meta WHERE key = 'chain_since'").fetchone()
        return None if row is None else int(row[0])

    def chain_head(self, tx: Any) -> tuple[int, bytes] | None:
        held = self._held_state(tx)
        if held is not None:  # inside a write: read when the lock was taken, moved by add_link since
            return held["chain_head"]
        row = tx.execute("SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), _bytes(row[1]))

    def add_link(self, tx: Any, link: tuple) -> None:
        sql = f"INSERT INTO chain ({LINK_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)"
        held = self._held_state(tx)
        if held is None:
            tx.execute(sql, tuple(link))
        else:
            tx.defer("chain", tuple(link))  # sent with the write's next statement (see postgres_catalog_tx)
            held["chain_head"] = (int(link[0]), _bytes(link[7]))

    def links(self, tx: Any, *, from_seq: int = 1, upto_seq: int | None = None, kind: str | None = None) -> list[tuple]:
        sql, params = f"SELECT {LINK_COLUMNS} FROM chain WHERE seq >= %s", [from_seq]
        if upto_seq is not None:
            sql += " AND seq <= %s"
            params.append(upto_seq)
        if kind is not None:
            sql += " AND kind = %s"
            params.append(kind)
        return [(*r[:6], _bytes(r[6]), _bytes(r[7])) for r in tx.execute(sql + " ORDER BY seq", params)]

    def last_link_seq(self, tx: Any, kind: str) -> int:
        return int(tx.execute("SELECT coalesce(max(seq), 0) FROM chain WHERE kind = %s", (kind,)).fetchone()[0])

    # -- what verify checks the chain against --------------------------------------------------------

    def segment_rows(self, tx: Any) -> list[tuple]:
        return tx.execute(
            "SELECT segment_id, path, stream_type, first_position, last_position, event_count, size_bytes, "
            "min_occurred, max_occurred, min_recorded, max_recorded, retired_at, sha256 FROM segments "
            "ORDER BY segment_id").fetchall()

    def segment_hashes(self, tx: Any, paths: list[str]) -> dict[str, str | None]:
        return dict(tx.execute("SELECT path, sha256 FROM segments WHERE path = ANY(%s::text[])",
                               (list(paths),)).fetchall())

    def set_segment_hash(self, tx: Any, path: str, sha256: str) -> None:
        tx.execute("UPDATE segments SET sha256 = %s WHERE path = %s", (sha256, path))

    def all_streams(self, tx: Any) -> list[tuple[str, str, int, int]]:
        return tx.execute("SELECT stream_id, stream_type, version, last_position FROM streams").fetchall()

    def stream_segment_pairs(self, tx: Any) -> list[tuple[str, int]]:
        return tx.execute("SELECT stream_id, segment_id FROM stream_segments").fetchall()

    def supplied_ids(self, tx: Any) -> list[tuple[str, int]]:
        return tx.execute("SELECT event_id, position FROM event_ids").fetchall()

    # -- personal fields and subjects' keys ----------------------------------------------------------

    def personal_state(self, tx: Any) -> tuple[int, int]:
        values = dict(tx.execute(
            "SELECT key, value FROM meta WHERE key IN ('personal_version', 'keys_erased')").fetchall())
        return int(values.get("personal_version", 0)), int(values.get("keys_erased", 0))

    def personal_declarations(self, tx: Any) -> list[tuple[str, str, str, str]]:
        return tx.execute("SELECT scope, name, fields, subject FROM personal_fields ORDER BY 1, 2").fetchall()

    def declare_personal(self, tx: Any, scope: str, name: str, fields: list[str], subject: str) -> None:
        tx.execute("INSERT INTO personal_fields VALUES (%s, %s, %s, %s) ON CONFLICT (scope, name) DO UPDATE "
                   "SET fields = excluded.fields, subject = excluded.subject",
                   (scope, name, json.dumps(fields), subject))
        _bump(tx, "personal_version")
        held = self._held_state(tx)
        if held is not None:
            held["personal_version"] += 1

    def subject_keys(self, tx: Any, subjects: list[str]) -> dict[str, tuple[str, bytes]]:
        rows = tx.execute("SELECT subject, key_id, key FROM subject_keys WHERE subject = ANY(%s::text[]) "
                          "AND erased_at IS NULL", (list(subjects),)).fetchall()
        return {r[0]: (r[1], _bytes(r[2])) for r in rows}

    def add_subject_keys(self, tx: Any, keys: list[tuple[str, str, bytes]]) -> None:
        if not keys:
            return
        ids, subjects, values = (list(c) for c in zip(*keys))
        tx.execute("INSERT INTO subject_keys (key_id, subject, key, created_at) "
                   "SELECT i, s, k, %s FROM unnest(%s::text[], %s::text[], %s::bytea[]) AS u(i, s, k)",
                   (time.time(), ids, subjects, [bytes(v) for v in values]))

    def keys_by_id(self, tx: Any, key_ids: list[str]) -> dict[str, bytes | None]:
        rows = tx.execute("SELECT key_id, key FROM subject_keys WHERE key_id = ANY(%s::text[])",
                          (list(key_ids),)).fetchall()
        return {r[0]: _bytes(r[1]) for r in rows}

    def erase_subject(self, tx: Any, subject: str) -> tuple[int, bool]:
        n = int(tx.execute("WITH e AS (UPDATE subject_keys SET key = NULL, erased_at = %s WHERE subject = %s "
                           "AND erased_at IS NULL RETURNING 1) SELECT count(*) FROM e", (time.time(), subject)).fetchone()[0])
        known = n > 0 or tx.execute("SELECT 1 FROM subject_keys WHERE subject = %s LIMIT 1",
                                    (subject,)).fetchone() is not None
        if n:
            _bump(tx, "keys_erased")
            self._vacuum_keys = True  # the old row versions still hold the keys: see the module docstring
        return n, known

    def _after_commit(self, conn: Any) -> None:
        """Run after a write committed: rewrite ``subject_keys`` when that write destroyed keys."""
        if not self._vacuum_keys:
            return
        self._vacuum_keys = False
        try:
            conn.execute("VACUUM FULL subject_keys")
        except Exception as e:  # psycopg.Error: the erasure is committed, its clean-up is not
            raise StoreError(
                f"the change to the catalog {self.path} is stored, but rewriting subject_keys to drop the "  # type: ignore[attr-defined]
                f"destroyed keys' old row versions failed: {str(e).strip()}; run VACUUM FULL "
                f"{self.schema}.subject_keys as the catalog's owner") from e  # type: ignore[attr-defined]
