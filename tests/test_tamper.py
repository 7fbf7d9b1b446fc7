"""The tamper campaign: random single-byte changes to segment files and catalog rows, rows deleted and
inserted, segments deleted, added and swapped, positions reordered — ``store.verify()`` detects every one.

The store under attack has every kind of commit: hot appends (some with supplied ids), a bulk append
over two stream types, a seal, a compaction, and hot events after them. Each trial copies it, makes
one change, and verifies. ``EK_TAMPER_TRIALS`` (default 12 per kind, a few seconds) and ``EK_TAMPER_SEED`` set a
longer or different run: ``EK_TAMPER_TRIALS=2000 pytest tests/test_tamper.py``.

Every test runs against each catalog. With PostgreSQL the pristine store's catalog is a database of its
own, and a copy is ``CREATE DATABASE ... TEMPLATE`` of it (about 0.1 s); its head is the ``log`` row. The random
campaigns make a third of ``EK_TAMPER_TRIALS`` against it.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import eventkit as ek
from eventkit.store.integrity import TamperedStore

from _catalogs import CATALOG_PARAMS, any_catalog, catalog_sql  # noqa: F401  (any_catalog: a fixture)

TRIALS = int(os.environ.get("EK_TAMPER_TRIALS", "12"))
SEED = int(os.environ.get("EK_TAMPER_SEED", "13"))


def trials(pristine: Copy) -> int:
    """A third of the trials against PostgreSQL: verify's checks are the same, only the catalog's reads differ."""
    return TRIALS if pristine.catalog is None else max(1, TRIALS // 3)


@dataclass
class Copy:
    """A store to attack: its folder and its ``catalog=`` (None: catalog.sqlite in the folder)."""

    path: Path
    catalog: str | None

    def sql(self, statement: str, params: tuple | list = ()) -> list[tuple]:
        return catalog_sql(self.path, self.catalog, statement, params)

    def open(self) -> ek.Store:
        return ek.open_store(self.path, create=False, catalog=self.catalog)


_CLONES: list[str] = []  # databases made by copy(), dropped with the pristine store


def _database_url(server: str, name: str) -> str:
    return f"{server.rpartition('/')[0]}/{name}?schema=eventkit"


@pytest.fixture(scope="module", params=CATALOG_PARAMS)
def pristine(tmp_path_factory, request) -> Copy:
    path = tmp_path_factory.mktemp("tamper") / "store"
    catalog = None
    if request.param == "postgresql":
        pytest.importorskip("psycopg")
        import psycopg

        server = request.getfixturevalue("postgres_url")
        name = f"tamper_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        catalog = _database_url(server, name)
    with ek.open_store(path, bulk_threshold=40, grace_seconds=0, catalog=catalog) as store:
        for i in range(12):
            store.append(f"acct-{i % 4}", [ek.Event("Deposited", {"amount": i, "who": f"p{i}"},
                                                    event_id=f"id-{i}" if i % 3 == 0 else None)],
                         stream_type="account")
        frame = pd.DataFrame({"stream_id": [f"ord-{i % 5}" if i % 2 else f"cust-{i % 3}" for i in range(60)],
                              "stream_type": ["order" if i % 2 else "customer" for i in range(60)],
                              "event_type": "Placed", "n": range(60)})
        store.append_frame(frame)
        store.seal()
        store.append_frame(frame.assign(n=frame.n + 100))
        store.compact()
        for i in range(6):
            store.append(f"acct-{i % 2}", [ek.Event("Withdrawn", {"amount": -i})] * 2)
        store.verify()  # the untouched store passes
    yield Copy(path, catalog)
    if catalog is not None:  # the copies' databases, then the pristine one
        with psycopg.connect(server, autocommit=True) as conn:
            for made in [*_CLONES, name]:
                conn.execute(f"DROP DATABASE IF EXISTS {made} WITH (FORCE)")
        _CLONES.clear()


def copy(pristine: Copy, tmp_path: Path) -> Copy:
    target = tmp_path / f"s{random.random():.12f}"
    shutil.copytree(pristine.path, target)
    if pristine.catalog is None:
        return Copy(target, None)
    import psycopg

    name = f"tamper_{uuid.uuid4().hex[:12]}"
    server = pristine.catalog.rpartition("?")[0]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {server.rpartition('/')[2]}")
    _CLONES.append(name)
    return Copy(target, _database_url(server, name))


def assert_detected(store: Copy, what: str) -> None:
    with store.open() as opened:
        with pytest.raises(TamperedStore) as info:
            opened.verify()
    assert info.value.report.problems, what


def live_files(store: Copy) -> list[Path]:
    return [store.path / r[0] for r in store.sql("SELECT path FROM segments WHERE retired_at IS NULL ORDER BY 1")]


def test_the_untouched_store_verifies_quick_and_full(pristine, tmp_path):
    """Baseline: no problem, a chain over every commit, every live file re-hashed."""
    with copy(pristine, tmp_path).open() as store:
        report = store.verify()
        assert report.ok and report.files_hashed == report.files >= 2 and report.links >= 10
        assert report.events_scanned == store.head
        assert store.verify(quick=True).ok
        assert "OK" in str(report)


def test_single_byte_changes_to_segment_files_are_detected_and_reads_refuse_them(pristine, tmp_path):
    """A random byte of a random live segment file changed: verify names the file; a read refuses it."""
    rng = random.Random(SEED)
    for trial in range(trials(pristine)):
        attacked = copy(pristine, tmp_path)
        target = rng.choice(live_files(attacked))
        data = bytearray(target.read_bytes())
        at = rng.randrange(len(data))
        data[at] ^= rng.randrange(1, 256)
        target.write_bytes(bytes(data))
        with attacked.open() as store:
            with pytest.raises(TamperedStore) as info:
                store.verify()
            assert any(target.relative_to(attacked.path).as_posix() in p.files for p in info.value.report.problems), trial
            with pytest.raises(ek.StoreError, match="damaged"):
                store.read_all()
        shutil.rmtree(attacked.path)


# Catalog rows the chain protects: every row of these tables (live segment rows only: a retired row is
# never read), and the head in meta (PostgreSQL: in the log row, see HEAD).
TABLES = {
    "hot": "SELECT * FROM hot",
    "segments": "SELECT * FROM segments WHERE retired_at IS NULL",
    "streams": "SELECT * FROM streams",
    "chain": "SELECT * FROM chain",
    "event_ids": "SELECT * FROM event_ids",
    "stream_segments": "SELECT * FROM stream_segments WHERE segment_id IN "
                       "(SELECT segment_id FROM segments WHERE retired_at IS NULL)",
    "meta": "SELECT * FROM meta WHERE key = 'head'",
}
#: The head row and its key column, by catalog: (table, query, key column).
HEAD = {"sqlite": ("meta", TABLES["meta"], "key"), "postgresql": ("log", "SELECT id, head FROM log", "id")}


def _where(columns: list[str], row: tuple, same: str) -> tuple[str, list]:
    return " AND ".join(f"{c} {same} ?" for c in columns), list(row)


class _Editor:
    """Statements on a copy's catalog, with ``?`` placeholders, each committed; a refused edit raises Refused."""

    class Refused(Exception):
        pass

    def __init__(self, store: Copy) -> None:
        self.kind = "sqlite" if store.catalog is None else "postgresql"
        self.same = "IS" if self.kind == "sqlite" else "IS NOT DISTINCT FROM"
        if self.kind == "sqlite":
            self.db = sqlite3.connect(store.path / "catalog.sqlite", isolation_level=None)
        else:
            import psycopg

            from eventkit.store.postgres_catalog_setup import split_url

            conninfo, schema = split_url(store.catalog)
            self.db = psycopg.connect(conninfo, autocommit=True)
            self.db.execute(f'SET search_path TO "{schema}"')

    def execute(self, statement: str, params: list | tuple = ()) -> tuple[list[str], list[tuple]]:
        if self.kind == "postgresql":
            import psycopg

            try:
                cur = self.db.execute(statement.replace("?", "%s"), params)
            except (psycopg.IntegrityError, psycopg.DataError, psycopg.ProgrammingError) as e:
                raise self.Refused(str(e)) from e  # a constraint or a column's type refused the value
        else:
            try:
                cur = self.db.execute(statement, params)
            except sqlite3.IntegrityError as e:
                raise self.Refused(str(e)) from e
        if cur.description is None:
            return [], []
        return [d[0] for d in cur.description], [tuple(r) for r in cur.fetchall()]


def _changed(value, rng: random.Random):
    """The value with one byte (or one unit) changed."""
    if value is None:
        return rng.choice([0, "x"])
    if isinstance(value, int):
        return value + rng.choice([-1, 1]) * rng.randrange(1, 3)
    if isinstance(value, float):
        return value + 1.0
    if isinstance(value, bytes):
        b = bytearray(value)
        b[rng.randrange(len(b))] ^= rng.randrange(1, 256)
        return bytes(b)
    s = str(value)
    if not s:
        return "x"
    i = rng.randrange(len(s))
    new = chr(rng.choice([c for c in range(33, 127) if chr(c) != s[i]]))
    return s[:i] + new + s[i + 1:] if not s.isdigit() else str(int(s) + rng.choice([-1, 1]))


def _edit(store: Copy, rng: random.Random, action: str) -> str:
    """One random edit of ``action`` (change, delete, insert); returns what was done (for messages)."""
    editor = _Editor(store)
    head_table, head_query, head_key = HEAD[editor.kind]
    with closing(editor.db):
        while True:
            table = rng.choice(list(TABLES) if action == "change" else [t for t in TABLES if t != "meta"])
            if table == "meta":
                table = head_table
            columns, rows = editor.execute(head_query if table == head_table else TABLES[table])
            if not rows:
                continue
            row = rng.choice(rows)
            where, params = _where(columns, row, editor.same)
            try:
                if action == "change":
                    column = rng.choice([c for c in columns if not (table == head_table and c == head_key)])
                    new = _changed(row[columns.index(column)], rng)
                    editor.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", [new, *params])
                    return f"{table}.{column}: {row[columns.index(column)]!r} -> {new!r}"
                if action == "delete":
                    editor.execute(f"DELETE FROM {table} WHERE {where}", params)
                    return f"deleted {table} row {row}"
                # insert: a copy of a row with its key changed so the catalog accepts it
                values = list(row)
                key = {"hot": "position", "segments": "path", "streams": "stream_id", "chain": "seq",
                       "event_ids": "event_id", "stream_segments": "stream_id"}[table]
                k = columns.index(key)
                values[k] = (editor.execute(f"SELECT max({key}) FROM {table}")[1][0][0] + 1
                             if isinstance(values[k], int) else values[k] + "-copy")
                names = columns
                if table == "segments":  # a new segment_id
                    names, values = columns[1:], values[1:]
                editor.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({','.join('?' * len(values))})",
                               values)
                return f"inserted into {table}: {values}"
            except _Editor.Refused:
                continue  # the catalog's own constraints refused this edit: pick another


@pytest.mark.parametrize("action", ["change", "delete", "insert"])
def test_catalog_rows_changed_deleted_or_inserted_are_detected(pristine, tmp_path, action):
    """One random catalog row (hot log, segment list, stream heads, chain, id index, stream index, head)
    edited by one byte, deleted, or inserted: verify fails."""
    rng = random.Random(f"{SEED}-{action}")
    for _ in range(trials(pristine)):
        attacked = copy(pristine, tmp_path)
        what = _edit(attacked, rng, action)
        assert_detected(attacked, what)
        shutil.rmtree(attacked.path)


def test_a_segment_deleted_added_or_swapped_is_detected(pristine, tmp_path):
    """Whole-file attacks: a live file deleted; a file and its row added; two files' contents swapped;
    two segment rows' paths swapped."""
    attacked = copy(pristine, tmp_path)
    live_files(attacked)[0].unlink()
    assert_detected(attacked, "file deleted")

    attacked = copy(pristine, tmp_path)
    a, b = live_files(attacked)[:2]
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    assert_detected(attacked, "contents swapped")

    attacked = copy(pristine, tmp_path)
    (p1, i1), (p2, i2) = attacked.sql("SELECT path, segment_id FROM segments WHERE retired_at IS NULL "
                                      "ORDER BY segment_id LIMIT 2")
    attacked.sql("UPDATE segments SET path = 'tmp' WHERE segment_id = ?", (i1,))
    attacked.sql("UPDATE segments SET path = ? WHERE segment_id = ?", (p1, i2))
    attacked.sql("UPDATE segments SET path = ? WHERE segment_id = ?", (p2, i1))
    assert_detected(attacked, "rows' paths swapped")

    attacked = copy(pristine, tmp_path)
    src = live_files(attacked)[0]
    extra = src.with_name("999999999998-999999999999-feedfacecafe.parquet")
    shutil.copy(src, extra)
    row = attacked.sql("SELECT * FROM segments WHERE path = ?", (src.relative_to(attacked.path).as_posix(),))[0]
    values = [extra.relative_to(attacked.path).as_posix(), *row[2:]]
    attacked.sql("INSERT INTO segments (path, stream_type, first_position, last_position, event_count, size_bytes, "
                 "min_occurred, max_occurred, min_recorded, max_recorded, retired_at, sha256) "
                 f"VALUES ({','.join('?' * len(values))})", values)
    assert_detected(attacked, "segment added")


def test_positions_reordered_are_detected(pristine, tmp_path):
    """Two hot events' positions swapped; two segments' position ranges swapped."""
    attacked = copy(pristine, tmp_path)
    a, b = [r[0] for r in attacked.sql("SELECT position FROM hot ORDER BY position LIMIT 2")]
    attacked.sql("UPDATE hot SET position = -1 WHERE position = ?", (a,))
    attacked.sql("UPDATE hot SET position = ? WHERE position = ?", (a, b))
    attacked.sql("UPDATE hot SET position = ? WHERE position = -1", (b,))
    assert_detected(attacked, "hot positions swapped")

    attacked = copy(pristine, tmp_path)
    (i1, f1, l1), (i2, f2, l2) = attacked.sql(
        "SELECT segment_id, first_position, last_position FROM segments WHERE retired_at IS NULL "
        "ORDER BY segment_id LIMIT 2")
    attacked.sql("UPDATE segments SET first_position = ?, last_position = ? WHERE segment_id = ?", (f2, l2, i1))
    attacked.sql("UPDATE segments SET first_position = ?, last_position = ? WHERE segment_id = ?", (f1, l1, i2))
    assert_detected(attacked, "segment ranges swapped")


def test_a_seal_refuses_a_hot_log_edited_since_its_appends(tmp_path, any_catalog):
    """An edited hot row is not baked into a segment: sealing raises, the hot log stays as it is."""
    path = tmp_path / "s"
    with ek.open_store(path, catalog=any_catalog) as store:
        store.append("a", [ek.Event("E", {"n": 1}), ek.Event("E", {"n": 2})])
    catalog_sql(path, any_catalog, """UPDATE hot SET data = '{"n": 3}' WHERE position = 2""")
    with ek.open_store(path, catalog=any_catalog) as store:
        with pytest.raises(TamperedStore, match="positions 1..2"):
            store.seal()
        assert store.read_all()["n"].tolist() == [1, 3]  # still there, still detectable
        with pytest.raises(TamperedStore):
            store.verify()
