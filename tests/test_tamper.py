"""The tamper campaign: random single-byte changes to segment files and catalog rows, rows deleted and
inserted, segments deleted, added and swapped, positions reordered — ``store.verify()`` detects every one.

The store under attack has every kind of commit: hot appends (some with supplied ids), a bulk append
over two stream types, a seal, a compaction, and hot events after them. Each trial copies it, makes
one change, and verifies. ``EK_TAMPER_TRIALS`` (default 12 per kind, a few seconds) and ``EK_TAMPER_SEED`` set a
longer or different run: ``EK_TAMPER_TRIALS=2000 pytest tests/test_tamper.py``.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

import eventkit as ek
from eventkit.store.integrity import TamperedStore

TRIALS = int(os.environ.get("EK_TAMPER_TRIALS", "12"))
SEED = int(os.environ.get("EK_TAMPER_SEED", "13"))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tamper") / "store"
    with ek.open_store(path, bulk_threshold=40, grace_seconds=0) as store:
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
    return path


def copy(pristine: Path, tmp_path: Path) -> Path:
    target = tmp_path / f"s{random.random():.12f}"
    shutil.copytree(pristine, target)
    return target


def assert_detected(path: Path, what: str) -> None:
    with ek.open_store(path, create=False) as store:
        with pytest.raises(TamperedStore) as info:
            store.verify()
    assert info.value.report.problems, what


def live_files(path: Path) -> list[Path]:
    with sqlite3.connect(path / "catalog.sqlite") as db:
        return [path / r[0] for r in db.execute("SELECT path FROM segments WHERE retired_at IS NULL ORDER BY 1")]


def test_the_untouched_store_verifies_quick_and_full(pristine, tmp_path):
    """Baseline: no problem, a chain over every commit, every live file re-hashed."""
    with ek.open_store(copy(pristine, tmp_path), create=False) as store:
        report = store.verify()
        assert report.ok and report.files_hashed == report.files >= 2 and report.links >= 10
        assert report.events_scanned == store.head
        assert store.verify(quick=True).ok
        assert "OK" in str(report)


def test_single_byte_changes_to_segment_files_are_detected_and_reads_refuse_them(pristine, tmp_path):
    """A random byte of a random live segment file changed: verify names the file; a read refuses it."""
    rng = random.Random(SEED)
    for trial in range(TRIALS):
        path = copy(pristine, tmp_path)
        target = rng.choice(live_files(path))
        data = bytearray(target.read_bytes())
        at = rng.randrange(len(data))
        data[at] ^= rng.randrange(1, 256)
        target.write_bytes(bytes(data))
        with ek.open_store(path, create=False) as store:
            with pytest.raises(TamperedStore) as info:
                store.verify()
            assert any(target.relative_to(path).as_posix() in p.files for p in info.value.report.problems), trial
            with pytest.raises(ek.StoreError, match="damaged"):
                store.read_all()
        shutil.rmtree(path)


# Catalog rows the chain protects: every row of these tables (live segment rows only: a retired row is
# never read), and the head in meta.
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


def _where(columns: list[str], row: tuple) -> tuple[str, list]:
    return " AND ".join(f"{c} IS ?" for c in columns), list(row)


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


def _edit(path: Path, rng: random.Random, action: str) -> str:
    """One random edit of ``action`` (change, delete, insert); returns what was done (for messages)."""
    db = sqlite3.connect(path / "catalog.sqlite", isolation_level=None)
    try:
        while True:
            table = rng.choice(list(TABLES) if action == "change" else [t for t in TABLES if t != "meta"])
            cur = db.execute(TABLES[table])
            columns = [d[0] for d in cur.description]
            rows = cur.fetchall()
            if not rows:
                continue
            row = rng.choice(rows)
            where, params = _where(columns, row)
            try:
                if action == "change":
                    column = rng.choice([c for c in columns if not (table == "meta" and c == "key")])
                    new = _changed(row[columns.index(column)], rng)
                    db.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", [new, *params])
                    return f"{table}.{column}: {row[columns.index(column)]!r} -> {new!r}"
                if action == "delete":
                    db.execute(f"DELETE FROM {table} WHERE {where}", params)
                    return f"deleted {table} row {row}"
                # insert: a copy of a row with its key changed so the catalog accepts it
                values = list(row)
                key = {"hot": "position", "segments": "path", "streams": "stream_id", "chain": "seq",
                       "event_ids": "event_id", "stream_segments": "stream_id"}[table]
                k = columns.index(key)
                values[k] = (db.execute(f"SELECT max({key}) FROM {table}").fetchone()[0] + 1
                             if isinstance(values[k], int) else values[k] + "-copy")
                if table == "segments":
                    values[0] = None  # a new segment_id
                db.execute(f"INSERT INTO {table} VALUES ({','.join('?' * len(values))})", values)
                return f"inserted into {table}: {values}"
            except sqlite3.IntegrityError:
                continue  # the catalog's own constraints refused this edit: pick another
    finally:
        db.close()


@pytest.mark.parametrize("action", ["change", "delete", "insert"])
def test_catalog_rows_changed_deleted_or_inserted_are_detected(pristine, tmp_path, action):
    """One random catalog row (hot log, segment list, stream heads, chain, id index, stream index, head)
    edited by one byte, deleted, or inserted: verify fails."""
    rng = random.Random(f"{SEED}-{action}")
    for _ in range(TRIALS):
        path = copy(pristine, tmp_path)
        what = _edit(path, rng, action)
        assert_detected(path, what)
        shutil.rmtree(path)


def test_a_segment_deleted_added_or_swapped_is_detected(pristine, tmp_path):
    """Whole-file attacks: a live file deleted; a file and its row added; two files' contents swapped;
    two segment rows' paths swapped."""
    path = copy(pristine, tmp_path)
    live_files(path)[0].unlink()
    assert_detected(path, "file deleted")

    path = copy(pristine, tmp_path)
    a, b = live_files(path)[:2]
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    assert_detected(path, "contents swapped")

    path = copy(pristine, tmp_path)
    with sqlite3.connect(path / "catalog.sqlite") as db:
        (p1, i1), (p2, i2) = db.execute("SELECT path, segment_id FROM segments WHERE retired_at IS NULL LIMIT 2").fetchall()
        db.execute("UPDATE segments SET path = 'tmp' WHERE segment_id = ?", (i1,))
        db.execute("UPDATE segments SET path = ? WHERE segment_id = ?", (p1, i2))
        db.execute("UPDATE segments SET path = ? WHERE segment_id = ?", (p2, i1))
    assert_detected(path, "rows' paths swapped")

    path = copy(pristine, tmp_path)
    src = live_files(path)[0]
    extra = src.with_name("999999999998-999999999999-feedfacecafe.parquet")
    shutil.copy(src, extra)
    with sqlite3.connect(path / "catalog.sqlite") as db:
        row = db.execute("SELECT * FROM segments WHERE path = ?", (src.relative_to(path).as_posix(),)).fetchone()
        values = [None, extra.relative_to(path).as_posix(), *row[2:]]
        db.execute(f"INSERT INTO segments VALUES ({','.join('?' * len(values))})", values)
    assert_detected(path, "segment added")


def test_positions_reordered_are_detected(pristine, tmp_path):
    """Two hot events' positions swapped; two segments' position ranges swapped."""
    path = copy(pristine, tmp_path)
    with sqlite3.connect(path / "catalog.sqlite") as db:
        a, b = [r[0] for r in db.execute("SELECT position FROM hot ORDER BY position LIMIT 2")]
        db.execute("UPDATE hot SET position = -1 WHERE position = ?", (a,))
        db.execute("UPDATE hot SET position = ? WHERE position = ?", (a, b))
        db.execute("UPDATE hot SET position = ? WHERE position = -1", (b,))
    assert_detected(path, "hot positions swapped")

    path = copy(pristine, tmp_path)
    with sqlite3.connect(path / "catalog.sqlite") as db:
        (i1, f1, l1), (i2, f2, l2) = db.execute(
            "SELECT segment_id, first_position, last_position FROM segments WHERE retired_at IS NULL LIMIT 2").fetchall()
        db.execute("UPDATE segments SET first_position = ?, last_position = ? WHERE segment_id = ?", (f2, l2, i1))
        db.execute("UPDATE segments SET first_position = ?, last_position = ? WHERE segment_id = ?", (f1, l1, i2))
    assert_detected(path, "segment ranges swapped")


def test_a_seal_refuses_a_hot_log_edited_since_its_appends(tmp_path):
    """An edited hot row is not baked into a segment: sealing raises, the hot log stays as it is."""
    path = tmp_path / "s"
    with ek.open_store(path) as store:
        store.append("a", [ek.Event("E", {"n": 1}), ek.Event("E", {"n": 2})])
    with sqlite3.connect(path / "catalog.sqlite") as db:
        db.execute("""UPDATE hot SET data = '{"n": 3}' WHERE position = 2""")
    with ek.open_store(path) as store:
        with pytest.raises(TamperedStore, match="positions 1..2"):
            store.seal()
        assert store.read_all()["n"].tolist() == [1, 3]  # still there, still detectable
        with pytest.raises(TamperedStore):
            store.verify()
