"""Invariant 1 by behaviour: nothing public changes or deletes a stored event or a segment file.

Every public method of ``ek.Store`` runs on a store holding events in segments and in the hot log;
afterwards a fresh handle reads every earlier event unchanged, and every segment file that existed
keeps its bytes. A new public method fails ``test_every_public_method_is_exercised`` until it is
added here. Writes attempted through ``store.sql`` are refused and change nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import eventkit as ek


def _fill(store: ek.Store) -> None:
    store.append_frame(pd.DataFrame({"stream_id": [f"a-{i % 4}" for i in range(30)], "event_type": "Deposited",
                                     "amount": [float(i) for i in range(30)]}), stream_type="account")
    store.seal()
    for i in range(5):
        store.append(f"a-{i}", [ek.Event("Withdrawn", {"amount": 1.0, "note": "n"})], stream_type="account")


def _segment_bytes(path: Path) -> dict[str, str]:
    return {p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (path / "segments").rglob("*.parquet")}


def _events(path: Path) -> pd.DataFrame:
    with ek.open_store(path) as fresh:  # no upcasters: the stored events themselves
        return fresh.read_all()


FOLD = ek.Fold("bal", stream_type="account", fields={"total": ek.sum("amount")})

# Each public method with plausible arguments (appends add events; nothing may change old ones).
CALLS = {
    "append": lambda s: s.append("a-0", [ek.Event("Deposited", {"amount": 5.0})], expected_version=ek.ANY),
    "append_frame": lambda s: s.append_frame(pd.DataFrame({"stream_id": ["a-1", "b-1"], "event_type": "Deposited",
                                                           "amount": [1.0, 2.0]}), stream_type="account"),
    "read_stream": lambda s: s.read_stream("a-1", backwards=True),
    "read_all": lambda s: s.read_all(event_types=["Withdrawn"], known_at=3),
    "snapshot": lambda s: s.snapshot(known_at=10),
    "connect": lambda s: s.connect().execute("SELECT count(*) FROM events").fetchall(),
    "sql": lambda s: s.sql("SELECT stream_id, sum(data.amount) FROM events GROUP BY 1").fetchall(),
    "stream_version": lambda s: s.stream_version("a-2"),
    "info": lambda s: str(s.info()),
    "seal": lambda s: s.seal(),
    "compact": lambda s: s.compact(target_events=1000),
    "subscribe": lambda s: s.subscribe(lambda batch: None, name="audit").run_once(),
    "project": lambda s: s.project(lambda b: b[["event_id", "position"]], name="ids").run_once(),
    "follow": lambda s: s.follow(timeout=0.2, poll=0.05),
    "checkpoints": lambda s: s.checkpoints(),
    "checkpoint": lambda s: s.checkpoint("c"),
    "append_streams": lambda s: s.append_streams({"a-0": [ek.Event("Deposited", {"amount": 1.0})],
                                                  "b-2": ek.Event("Opened")}, checkpoint=("c", 5)),
    "wait_for_commit": lambda s: s.wait_for_commit(after=0, timeout=0.1),
    "fold_states": lambda s: (FOLD.save_snapshot(s), s.fold_states()),
    "register_upcaster": lambda s: s.register_upcaster(ek.Upcaster("Withdrawn", set={"amount": "amount * 100"},
                                                                   drop=["note"])),
    "stored_event_ids": lambda s: s.stored_event_ids(["no-such-id"]),
    "gc": lambda s: (s.compact(target_events=1000), s.gc()),
    "close": lambda s: s.close(),
    "verify": lambda s: s.verify(),
    "sign_checkpoint": lambda s: s.sign_checkpoint(_key(s)),
    "prove": lambda s: ek.check_proof(s.prove(1)),
    "declare_personal": lambda s: s.declare_personal(stream_type="person", fields=["name"]),
    # forgetting one subject erases only its own (new) events' personal fields: no stored event changes
    "forget": lambda s: (s.declare_personal(stream_type="person", fields=["name"]),
                         s.append("p-1", [ek.Event("Named", {"name": "Ann"})], stream_type="person"),
                         s.forget("p-1")),
    "personal_state": lambda s: s.personal_state(),
    "personal_declarations": lambda s: s.personal_declarations(),
}


def _key(store: ek.Store) -> Path:
    from eventkit.store.signed_checkpoints import generate_key

    return generate_key(store.path.parent / "signing-key")[0]
PROPERTIES = {"head", "fields", "upcasters", "path", "durability", "grace_seconds", "seal_threshold", "bulk_threshold"}


def test_every_public_method_is_exercised():
    public = {n for n in dir(ek.Store) if not n.startswith("_")}
    missing = public - set(CALLS) - PROPERTIES
    assert not missing, f"add these public Store methods to CALLS: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(CALLS))
def test_no_public_method_changes_a_stored_event(tmp_path, name):
    path = tmp_path / "store"
    with ek.open_store(path, grace_seconds=0) as store:
        _fill(store)
    before, files = _events(path), _segment_bytes(path)
    store = ek.open_store(path, grace_seconds=0)
    try:
        for p in PROPERTIES:
            getattr(store, p)
        CALLS[name](store)
    finally:
        store.close()
    after = _events(path)
    pd.testing.assert_frame_equal(after.iloc[: len(before)][list(before.columns)].reset_index(drop=True),
                                  before.reset_index(drop=True))
    now = _segment_bytes(path)
    if name != "compact":  # compaction may remove replaced files (grace_seconds=0), never rewrite them
        assert set(files) <= set(now)
    assert {f: h for f, h in now.items() if f in files} == {f: h for f, h in files.items() if f in now}


@pytest.mark.parametrize("statement", [
    "DELETE FROM events",
    "UPDATE events SET event_type = 'X'",
    "INSERT INTO events SELECT * FROM events",
    "DROP VIEW events",
])
def test_writes_through_sql_change_nothing(tmp_path, statement):
    """The ``events`` relation is a view over one snapshot: a write through it fails or touches only that session."""
    path = tmp_path / "store"
    with ek.open_store(path) as store:
        _fill(store)
        before, files = store.read_all(), _segment_bytes(path)
        try:
            store.sql(statement)
        except (duckdb.Error, ek.EventKitError):
            pass
        pd.testing.assert_frame_equal(store.read_all(), before)
    assert _segment_bytes(path) == files
    pd.testing.assert_frame_equal(_events(path), before)
