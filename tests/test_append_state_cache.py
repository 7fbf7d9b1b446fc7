"""An append takes the log's state from memory only while nothing else changed the catalog (issue 11).

A store object keeps what its last append wrote (counters, chain head, stream heads) and skips the
next append's read of them; any other change, by another connection or through the same one, must
make the next append read the catalog again.
"""

from __future__ import annotations

import sqlite3
import threading

import pytest

import eventkit as ek
from eventkit.store.catalog import Catalog


def _positions_and_versions(store: ek.Store) -> list[tuple[int, str, int]]:
    frame = store.read_all()
    return list(zip(frame["position"], frame["stream_id"], frame["version"]))


def test_an_append_by_another_store_object_is_seen(tmp_path):
    """Another connection's commit between two appends of one store object: the second append takes the
    next position and checks its expected version against the other's append."""
    a = ek.open_store(tmp_path / "s")
    b = ek.open_store(tmp_path / "s")
    a.append("s", ek.Event("E"), expected_version=ek.NO_STREAM)
    a.append("s", ek.Event("E"), expected_version=1)
    b.append("s", ek.Event("E"), expected_version=2)
    with pytest.raises(ek.WrongExpectedVersion):
        a.append("s", ek.Event("E"), expected_version=2)
    assert a.append("s", ek.Event("E"), expected_version=3).first_position == 4
    assert _positions_and_versions(a) == [(1, "s", 1), (2, "s", 2), (3, "s", 3), (4, "s", 4)]
    assert a.verify().ok
    a.close()
    b.close()


def test_an_edit_by_another_connection_is_seen(tmp_path):
    """A change made straight in the catalog by another connection (here a stream head moved) is what
    the next append checks against, not the state the store object remembers."""
    store = ek.open_store(tmp_path / "s")
    store.append("s", ek.Event("E"))
    store.append("s", ek.Event("E"))
    other = sqlite3.connect(tmp_path / "s" / "catalog.sqlite")
    with other:
        other.execute("UPDATE streams SET version = 7 WHERE stream_id = 's'")
    other.close()
    with pytest.raises(ek.WrongExpectedVersion):
        store.append("s", ek.Event("E"), expected_version=2)
    assert store.append("s", ek.Event("E"), expected_version=7).version == 8
    store.close()


def test_a_seal_through_the_same_store_object_is_seen(tmp_path):
    """A seal (same connection, other tables and counters) between appends: the hot log's count and
    the chain continue from the seal, and the store verifies."""
    store = ek.open_store(tmp_path / "s", seal_threshold=10**9)
    for i in range(3):
        store.append("s", ek.Event("E", {"i": i}))
    store.seal()
    store.append("s", ek.Event("E", {"i": 3}), expected_version=3)
    with store._catalog.read() as tx:
        assert store._catalog.log_state(tx)["hot_count"] == 1
    assert [e.data["i"] for e in store.read_stream("s", output="records")] == [0, 1, 2, 3]
    assert store.verify().ok
    store.close()


def test_a_failed_commit_is_not_remembered(tmp_path, monkeypatch):
    """An append whose COMMIT fails leaves nothing, in the catalog or in memory: the next append
    takes the same position and version."""
    store = ek.open_store(tmp_path / "s")
    store.append("s", ek.Event("E"))
    real = Catalog.write

    class FailingCommit:
        def __init__(self, catalog: Catalog) -> None:
            self.opened = real(catalog)

        def __enter__(self):
            return self.opened.__enter__()

        def __exit__(self, kind, error, tb):
            failure = ek.StoreError("the store's catalog failed: disk I/O error")
            self.opened.__exit__(type(failure), failure, None)  # rolls back
            raise failure

    monkeypatch.setattr(Catalog, "write", lambda catalog: FailingCommit(catalog))
    with pytest.raises(ek.StoreError, match="I/O"):
        store.append("s", ek.Event("E"), expected_version=1)
    monkeypatch.undo()
    result = store.append("s", ek.Event("E"), expected_version=1)
    assert (result.first_position, result.version) == (2, 2)
    assert store.verify().ok
    store.close()


def test_a_schema_change_moves_the_remembered_fields_version(tmp_path):
    """An append that adds a payload field bumps the schema's version, and the remembered state has the
    bumped one: the next new field bumps it again, so another store object re-reads the schema and
    refuses a clashing type instead of overwriting it."""
    a = ek.open_store(tmp_path / "s")
    b = ek.open_store(tmp_path / "s")
    a.append("s", ek.Event("E", {"x": 1}))
    b.append("t", ek.Event("E", {"x": 2}))
    a.append("s", ek.Event("E", {"w": 1}))  # a new field: the schema's version moves
    with pytest.raises(ek.WrongExpectedVersion):  # b reads the schema at its new version, then fails
        b.append("t", ek.Event("E", {"x": 3}), expected_version=5)
    a.append("s", ek.Event("E", {"y": 1.5}))  # from memory: must move the version again
    with pytest.raises(ek.SchemaConflict):
        b.append("t", ek.Event("E", {"y": "text"}))
    assert a.fields["y"] == "DOUBLE"
    a.close()
    b.close()


def test_threads_sharing_one_store_object(tmp_path):
    """Appends of several threads through one store object (their results are saved late and out of
    order by group commit): positions gap-free, each stream's versions 1..n, the chain intact."""
    store = ek.open_store(tmp_path / "s")
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def work(w: int) -> None:
        barrier.wait()
        try:
            for i in range(20):
                store.append(f"s{(w + i) % 3}", ek.Event("E", {"w": w}))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = _positions_and_versions(store)
    assert [p for p, _, _ in rows] == list(range(1, 121))
    for sid in ("s0", "s1", "s2"):
        assert [v for _, s, v in rows if s == sid] == list(range(1, 41))
    # And the remembered state is right afterwards: the next append continues both.
    assert store.append("s0", ek.Event("E"), expected_version=40).first_position == 121
    assert store.verify().ok
    store.close()
