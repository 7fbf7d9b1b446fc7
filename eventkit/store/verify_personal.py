"""The full ``verify``'s look for personal values stored in plain text.

A value of a declared personal field, in an event the declaration covers, is stored as a token (see
:mod:`.shredding`). No plain value there is legitimate: ``declare_personal`` is refused over stored plain
values of its scope, and every append since encrypts. One found was written by an eventkit with the bug
that stored the second and later declarations of one scope unencrypted in bulk appends, or by hand; no
key covers it, so ``forget`` cannot erase it. The remedy is a copy: the events appended into a new store
with the same declarations (``ek.Scenario(store).materialize(path)``), which encrypts them there.

The check is one DuckDB aggregate over the live segment files (only the envelope columns and the
declared fields are read) and the hot log; the first positions are looked up only for what it finds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from eventkit.common.sql import quote_ident, quote_literal
from eventkit.store.read_snapshot import new_connection, parquet_scan
from eventkit.store.shredding import Declarations
from eventkit.store.shredding_format import is_token_sql

FIRST = 5  # positions shown per finding

REMEDY = ("forget cannot erase them (no key covers them): copy the events into a new store with the same "
          "declarations, `ek.Scenario(store).materialize(new_path)`, which stores them encrypted, and use that "
          "store from then on (see the README, \"Proving history and erasing personal data\")")


@dataclass
class PlainPersonal:
    """Values of one declared personal field, in events its declaration covers, stored in plain text."""

    field: str
    scope: str  # "event_type" or "stream_type"
    name: str  # the event or stream type declared
    count: int
    positions: tuple[int, ...]  # the first few, in position order

    def __str__(self) -> str:
        shown = ", ".join(str(p) for p in self.positions) + (", ..." if self.count > len(self.positions) else "")
        return (f"field {self.field!r} of {self.scope.replace('_', ' ')} {self.name!r}: {self.count:,} value(s) "
                f"in plain text (positions {shown})")


def check_plain_personal(files: list[str], hot: list[tuple], declarations: list[tuple[str, str, str, str]],
                         fields: dict[str, str]) -> list[PlainPersonal]:
    """Every (declaration, field) whose stored values include text that is not a token.

    Args:
        files: The live segment files, as local paths or URLs DuckDB reads.
        hot: The hot log's rows as the catalog gives them (position, stream_id, stream_type, version,
            event_type, event_id, occurred_at, recorded_at, data JSON, metadata JSON).
        declarations: The catalog's declaration rows (scope, name, fields JSON, subject).
        fields: The store's payload schema (a personal field is text: VARCHAR).
    """
    declared = Declarations.from_rows(declarations)
    pairs = [(scope, name, f) for scope, rules in (("stream_type", declared.by_stream_type),
                                                   ("event_type", declared.by_event_type))
             for name, (fs, _) in sorted(rules.items()) for f in fs if fields.get(f) == "VARCHAR"]
    if not pairs:
        return []
    personal = sorted({f for _, _, f in pairs})
    con = new_connection()
    try:
        parts = []
        if files:
            scan = parquet_scan(files)
            held = _struct_fields(con, scan)
            cols = ", ".join(f"{'data.' + quote_ident(f) if f in held else 'NULL::VARCHAR'} AS {quote_ident(f)}"
                             for f in personal)
            parts.append(f"SELECT position, stream_type, event_type, {cols} FROM {scan}")
        if hot:
            con.register("_hot_personal", pa.table({
                "position": pa.array([r[0] for r in hot], pa.int64()),
                "stream_type": pa.array([r[2] for r in hot], pa.string()),
                "event_type": pa.array([r[4] for r in hot], pa.string()),
                "data": pa.array([r[8] for r in hot], pa.string())}))
            cols = ", ".join(f"json_extract_string(data, {quote_literal('$.' + _json_key(f))}) AS {quote_ident(f)}"
                             for f in personal)
            parts.append(f"SELECT position, stream_type, event_type, {cols} FROM _hot_personal")
        if not parts:
            return []
        rows = " UNION ALL ".join(parts)
        conditions = [_plain(scope, name, f) for scope, name, f in pairs]
        counts = con.execute("SELECT " + ", ".join(f"count(*) FILTER (WHERE {c})" for c in conditions)
                             + f" FROM ({rows})").fetchall()[0]
        found = []
        for (scope, name, f), c, n in zip(pairs, conditions, counts):
            if n:
                first = con.execute(f"SELECT position FROM ({rows}) WHERE {c} ORDER BY position LIMIT {FIRST}").fetchall()
                found.append(PlainPersonal(f, scope, name, int(n), tuple(p for (p,) in first)))
        return found
    finally:
        con.close()


def _plain(scope: str, name: str, field: str) -> str:
    col = quote_ident(field)
    return f"{scope} = {quote_literal(name)} AND {col} IS NOT NULL AND NOT ({is_token_sql(col)})"


def _json_key(field: str) -> str:
    return '"' + field.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _struct_fields(con: duckdb.DuckDBPyConnection, scan: str) -> set[str]:
    """The payload fields the files hold (a declared field no file has yet reads as NULL)."""
    kind = con.sql(f"SELECT data FROM {scan} LIMIT 0").types[0]
    try:
        return {name for name, _ in kind.children}
    except Exception:  # noqa: BLE001 - files without payload fields: data is not a struct
        return set()
