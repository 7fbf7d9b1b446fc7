"""The catalog contract: what every catalog (SQLite, PostgreSQL) must do behind the seam.

Every test takes the ``catalog`` fixture, parametrised over ``CATALOG_KINDS`` in ``tests/_catalogs.py``: a second
implementation is added there and runs this suite unchanged (the way the eventsourcing library reuses
its recorder test cases for every backend). It covers every method of
:class:`~eventkit.store.catalog_interface.CatalogBackend`; the store tests cover how the store uses them.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import pytest

import eventkit as ek
from eventkit.store.catalog_interface import CatalogBackend

from _catalogs import CATALOG_PARAMS, make_catalog, stored_bytes


@pytest.fixture(params=CATALOG_PARAMS)
def new_catalog(request, tmp_path: Path):
    """Makes new, empty catalogs of one kind; closes them at the end."""
    made: list[CatalogBackend] = []

    def new() -> CatalogBackend:
        made.append(make_catalog(request.param, tmp_path / f"c{len(made)}", request))
        return made[-1]

    yield new
    for c in made:
        c.close()


@pytest.fixture
def catalog(new_catalog: Callable[[], CatalogBackend]) -> CatalogBackend:
    return new_catalog()


def test_is_a_catalog(catalog: CatalogBackend) -> None:
    assert isinstance(catalog, CatalogBackend)
    assert catalog.id_prefix and catalog.id_prefix == catalog.id_prefix

def test_a_new_catalog_is_empty(catalog: CatalogBackend) -> None:
    with catalog.read() as tx:
        assert catalog.log_state(tx) == {"head": 0, "last_recorded": 0, "hot_count": 0, "fields_version": 0,
                                         "personal_version": 0}
        assert catalog.meta_int(tx, "head") == 0
        assert catalog.fields(tx) == {}
        assert catalog.stream_heads(tx, ["a", "b"]) == {}
        assert catalog.known_ids(tx, ["x"]) == {}
        assert catalog.live_segments(tx) == []
        assert catalog.checkpoints(tx) == []
        assert catalog.checkpoint(tx, "c") == 0
        assert catalog.fold_states(tx) == []
        assert catalog.grace_seconds(tx) > 0

def test_a_write_commits_whole(catalog: CatalogBackend) -> None:
    with catalog.write() as tx:
        catalog.set_log_state(tx, head=3, last_recorded=17)
        catalog.upsert_streams(tx, [("a", "account", 2, 2), ("b", "card", 1, 3)])
    with catalog.read() as tx:
        assert catalog.log_state(tx)["head"] == 3 and catalog.meta_int(tx, "last_recorded") == 17
        assert catalog.stream_heads(tx, ["a", "b", "c"]) == {"a": ("account", 2), "b": ("card", 1)}
        assert catalog.stream_heads(tx, ["b"]) == {"b": ("card", 1)}

def test_a_failed_write_leaves_nothing(catalog: CatalogBackend) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with catalog.write() as tx:
            catalog.set_log_state(tx, head=5)
            catalog.upsert_streams(tx, [("a", "account", 5, 5)])
            catalog.set_checkpoint(tx, "c", 5)
            raise RuntimeError("boom")
    with catalog.read() as tx:
        assert catalog.log_state(tx)["head"] == 0
        assert catalog.stream_heads(tx, ["a"]) == {}
        assert catalog.checkpoint(tx, "c") == 0

def test_a_stream_head_moves_forward(catalog: CatalogBackend) -> None:
    with catalog.write() as tx:
        catalog.upsert_streams(tx, [("a", "account", 1, 1)])
    with catalog.write() as tx:
        catalog.upsert_streams(tx, [("a", "account", 4, 9)])
    with catalog.read() as tx:
        assert catalog.stream_heads(tx, ["a"]) == {"a": ("account", 4)}

def test_settings(catalog: CatalogBackend) -> None:
    with catalog.write() as tx:
        catalog.set_meta(tx, "grace_seconds", 2.5)
        catalog.set_meta(tx, "hot_count", 7)
    with catalog.read() as tx:
        assert catalog.grace_seconds(tx) == 2.5
        assert catalog.meta_int(tx, "hot_count") == 7

def test_checkpoints(catalog: CatalogBackend) -> None:
    with catalog.write() as tx:
        catalog.set_checkpoint(tx, "b", 10)
        catalog.set_checkpoint(tx, "a", 4)
    with catalog.write() as tx:
        catalog.set_checkpoint(tx, "a", 6)
    with catalog.read() as tx:
        assert catalog.checkpoint(tx, "a") == 6 and catalog.checkpoint(tx, "b") == 10
        rows = catalog.checkpoints(tx)
    assert [(n, p) for n, p, _ in rows] == [("a", 6), ("b", 10)]
    assert all(isinstance(t, float) and t > 0 for _, _, t in rows)

def test_fold_states_newest_usable_and_replaced(catalog: CatalogBackend) -> None:
    def save(tx, position, max_occurred, path):
        return catalog.save_fold_state(tx, fold="f", fingerprint="fp", position=position,
                                       max_occurred=max_occurred, streams=2, path=path)

    with catalog.write() as tx:
        assert save(tx, 10, 100, "fold_states/fp/10-a.parquet") is None
        assert save(tx, 20, 300, "fold_states/fp/20-a.parquet") is None
    with catalog.write() as tx:  # the same cut saved again: the old file is reported for deletion
        assert save(tx, 20, 300, "fold_states/fp/20-b.parquet") == "fold_states/fp/20-a.parquet"
    with catalog.read() as tx:
        assert catalog.newest_fold_state(tx, "fp", upto=25, as_of=None) == (
            "f", "fp", 20, 300, 2, "fold_states/fp/20-b.parquet")
        assert catalog.newest_fold_state(tx, "fp", upto=25, as_of=200)[2] == 10  # 20 holds later events
        assert catalog.newest_fold_state(tx, "fp", upto=15, as_of=None)[2] == 10
        assert catalog.newest_fold_state(tx, "fp", upto=5, as_of=None) is None
        assert catalog.newest_fold_state(tx, "other", upto=25, as_of=None) is None
        listed = catalog.fold_states(tx)
    assert [(r[0], r[2], r[3], r[5]) for r in listed] == [
        ("f", 10, 2, "fold_states/fp/10-a.parquet"), ("f", 20, 2, "fold_states/fp/20-b.parquet")]
    with catalog.write() as tx:  # an erasure drops them all, reporting their files for deletion
        assert sorted(catalog.drop_fold_states(tx)) == ["fold_states/fp/10-a.parquet", "fold_states/fp/20-b.parquet"]
    with catalog.read() as tx:
        assert catalog.fold_states(tx) == [] and catalog.newest_fold_state(tx, "fp", upto=25, as_of=None) is None

def test_writers_are_serialised(catalog: CatalogBackend) -> None:
    """Read-modify-write inside write() never loses an update, whatever the threads do."""
    def bump() -> None:
        for _ in range(25):
            with catalog.write() as tx:
                head = catalog.log_state(tx)["head"]
                catalog.set_log_state(tx, head=head + 1)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with catalog.read() as tx:
        assert catalog.log_state(tx)["head"] == 100

def test_closed_catalog_refuses_work(new_catalog) -> None:
    catalog = new_catalog()
    catalog.close()
    with pytest.raises(ek.StoreError, match="closed"):
        with catalog.read():
            pass


def _segment(path: str, first: int, last: int, *, stream_type: str = "account", recorded: int = 100):
    return SimpleNamespace(path=path, stream_type=stream_type, first_position=first, last_position=last,
                           event_count=last - first + 1, size_bytes=1000 + first, min_occurred=first,
                           max_occurred=last, min_recorded=recorded, max_recorded=recorded + 5)


def test_fields(catalog: CatalogBackend) -> None:
    with catalog.write() as tx:
        catalog.set_fields(tx, {"b": "BIGINT", "a": "VARCHAR"})
    with catalog.write() as tx:
        catalog.set_fields(tx, {"b": "DOUBLE"})  # a widened type replaces the old
    with catalog.read() as tx:
        assert catalog.fields(tx) == {"a": "VARCHAR", "b": "DOUBLE"}
        assert list(catalog.fields(tx)) == ["a", "b"]


def test_event_ids(catalog: CatalogBackend) -> None:
    with catalog.write() as tx:
        catalog.add_event_ids(tx, [("e-1", 1), ("e-3", 3)])
        catalog.add_event_ids(tx, iter([("e-4", 4)]))  # any iterable of pairs
    with catalog.read() as tx:
        assert catalog.known_ids(tx, ["e-1", "e-2", "e-3", "e-4"]) == {"e-1": 1, "e-3": 3, "e-4": 4}
        assert catalog.known_ids(tx, []) == {}
    with pytest.raises(Exception):  # an id is recorded once: a second record is a bug, not a re-send
        with catalog.write() as tx:
            catalog.add_event_ids(tx, [("e-1", 9)])
    with catalog.read() as tx:
        assert catalog.known_ids(tx, ["e-1"]) == {"e-1": 1}


def test_stream_listings(catalog: CatalogBackend) -> None:
    with catalog.write() as tx:
        catalog.upsert_streams(tx, [("acct-1", "account", 1, 1), ("acct-2", "account", 1, 2),
                                    ("card-1", "card", 1, 3)])
    with catalog.read() as tx:
        assert catalog.stream_count(tx) == 3
        assert catalog.stream_type_counts(tx) == [("account", 2), ("card", 1)]
        assert catalog.stream_ids_like(tx, "acct-9") == ["acct-1", "acct-2", "card-1"]
        # past the limit: only ids of about the same shape (length within one, same first two letters)
        assert catalog.stream_ids_like(tx, "ACxx-9", limit=2) == ["acct-1", "acct-2"]


def _hot(position: int, stream_id: str, version: int, *, recorded: int = 100, stream_type: str = "account"):
    return (position, stream_id, stream_type, version, "Deposited", f"id-{position}", 50 + position,
            recorded, '{"amount": %d}' % position, None)


def test_hot_log(catalog: CatalogBackend) -> None:
    rows = [_hot(1, "a", 1), _hot(2, "b", 1, stream_type="card"), _hot(3, "a", 2, recorded=200)]
    with catalog.write() as tx:
        catalog.insert_hot(tx, rows)
    with catalog.read() as tx:
        assert catalog.hot_rows(tx, upto=10) == rows  # exactly as written, by position
        assert catalog.hot_rows(tx, upto=2) == rows[:2]
        assert catalog.hot_rows(tx, upto=10, stream_id="a") == [rows[0], rows[2]]
        assert catalog.hot_rows(tx, upto=10, from_position=2) == rows[1:]
        assert catalog.hot_rows(tx, upto=10, recorded_cut=150) == rows[:2]
    with catalog.write() as tx:
        assert catalog.delete_hot(tx) == 3
    with catalog.read() as tx:
        assert catalog.hot_rows(tx, upto=10) == []


def test_segment_list(catalog: CatalogBackend) -> None:
    with catalog.write() as tx:
        one = catalog.add_segment(tx, _segment("segments/1.parquet", 1, 10), ["a", "b"])
        two = catalog.add_segment(tx, _segment("segments/2.parquet", 11, 20, recorded=300), ["b", "c"])
        three = catalog.add_segment(tx, _segment("segments/3.parquet", 21, 30, stream_type="card"), ["d"])
    assert len({one, two, three}) == 3
    with catalog.read() as tx:
        live = catalog.live_segments(tx)
        assert [s[1] for s in live] == ["segments/1.parquet", "segments/2.parquet", "segments/3.parquet"]
        assert live[0] == (one, "segments/1.parquet", "account", 1, 10, 10, 1001, 1, 10, 100, 105)
        assert [s[1] for s in catalog.live_segments(tx, upto=11)] == ["segments/1.parquet", "segments/2.parquet"]
        read = catalog.read_segments(tx, upto=30)
        assert read[0] == ("segments/1.parquet", 1, 10, 100, "account")
        assert [r[0] for r in catalog.read_segments(tx, upto=30, stream_id="b")] == [
            "segments/1.parquet", "segments/2.parquet"]
        assert [r[0] for r in catalog.read_segments(tx, upto=30, from_position=15)] == [
            "segments/2.parquet", "segments/3.parquet"]
        assert [r[0] for r in catalog.read_segments(tx, upto=30, recorded_cut=200)] == [
            "segments/1.parquet", "segments/3.parquet"]
        assert [r[0] for r in catalog.read_segments(tx, upto=5)] == ["segments/1.parquet"]
        assert catalog.segment_streams(tx, [one, two]) == ["a", "b", "c"]
        assert catalog.segments_live(tx, [one, two]) and not catalog.segments_live(tx, [one, 999_999])
        assert catalog.segment_paths(tx) == {"segments/1.parquet", "segments/2.parquet", "segments/3.parquet"}


def test_retiring_and_forgetting_segments(catalog: CatalogBackend) -> None:
    with catalog.write() as tx:
        one = catalog.add_segment(tx, _segment("segments/1.parquet", 1, 10), ["a"])
        two = catalog.add_segment(tx, _segment("segments/2.parquet", 11, 20), ["a"])
        merged = catalog.add_segment(tx, _segment("segments/m.parquet", 1, 20), catalog.segment_streams(tx, [one, two]))
        catalog.retire_segments(tx, [one, two], at=1000.0)
    with catalog.read() as tx:
        assert [s[0] for s in catalog.live_segments(tx)] == [merged]
        assert not catalog.segments_live(tx, [one])
        assert [r[0] for r in catalog.read_segments(tx, upto=20, stream_id="a")] == ["segments/m.parquet"]
        assert catalog.retired_segments(tx, before=999.0) == []
        assert catalog.retired_segments(tx, before=1001.0) == [(one, "segments/1.parquet"), (two, "segments/2.parquet")]
        assert "segments/1.parquet" in catalog.segment_paths(tx)  # retired files stay known until forgotten
    with catalog.write() as tx:
        catalog.forget_segment(tx, one)
    with catalog.read() as tx:
        assert catalog.segment_paths(tx) == {"segments/2.parquet", "segments/m.parquet"}
        assert catalog.retired_segments(tx, before=1001.0) == [(two, "segments/2.parquet")]


def test_positions_taken_by_a_failed_write_are_given_back(catalog: CatalogBackend) -> None:
    """The counter moves only with a commit: a rolled-back write leaves no gap."""
    def take(n: int, *, fail: bool = False) -> int:
        with catalog.write() as tx:
            head = catalog.log_state(tx)["head"]
            catalog.insert_hot(tx, [_hot(head + 1 + i, "a", head + 1 + i) for i in range(n)])
            catalog.set_log_state(tx, head=head + n)
            if fail:
                raise RuntimeError("refused")
        return head + 1

    assert take(2) == 1
    with pytest.raises(RuntimeError):
        take(5, fail=True)
    assert take(1) == 3
    with catalog.read() as tx:
        assert [r[0] for r in catalog.hot_rows(tx, upto=100)] == [1, 2, 3]


def test_size_is_reported(catalog: CatalogBackend) -> None:
    assert catalog.size_bytes() > 0


# -- operational reads, tracking and group commit (issue 11) -----------------------------------------


def test_stored_checkpoint_tells_none_from_zero(catalog: CatalogBackend) -> None:
    with catalog.write() as tx:
        assert catalog.stored_checkpoint(tx, "c") is None
        catalog.set_checkpoint(tx, "c", 0)
    with catalog.read() as tx:
        assert catalog.stored_checkpoint(tx, "c") == 0


def test_point_reads_of_the_hot_log(catalog: CatalogBackend) -> None:
    rows = [_hot(1, "a", 1), _hot(2, "b", 1, stream_type="card"), _hot(3, "a", 2), _hot(4, "a", 3)]
    rows[1] = rows[1][:4] + ("Opened",) + rows[1][5:]
    with catalog.write() as tx:
        catalog.insert_hot(tx, rows)
    with catalog.read() as tx:
        assert catalog.hot_stream_rows(tx, "a") == [rows[0], rows[2], rows[3]]
        assert catalog.hot_stream_rows(tx, "a", backwards=True, limit=1) == [rows[3]]
        assert catalog.hot_stream_rows(tx, "a", from_version=2, to_version=2) == [rows[2]]
        assert catalog.hot_stream_rows(tx, "zz") == []
        assert catalog.hot_page(tx, from_position=2, limit=2) == rows[1:3]
        assert catalog.hot_page(tx, from_position=1, to_position=3, event_types=["Deposited"]) == [rows[0], rows[2]]
        assert catalog.hot_rows(tx, upto=10, from_position=2, limit=1) == [rows[1]]


def test_where_a_streams_sealed_events_are(catalog: CatalogBackend) -> None:
    with catalog.read() as tx:
        assert catalog.sealed_upto(tx) == 0 and not catalog.stream_sealed(tx, "a")
        assert catalog.stream_segment_files(tx, "a") == []
    with catalog.write() as tx:
        one = catalog.add_segment(tx, _segment("segments/1.parquet", 1, 10), ["a", "b"])
        catalog.add_segment(tx, _segment("segments/2.parquet", 11, 20), ["a"])
    with catalog.read() as tx:
        assert catalog.sealed_upto(tx) == 20
        assert catalog.stream_sealed(tx, "b") and not catalog.stream_sealed(tx, "c")
        assert catalog.stream_segment_files(tx, "a") == [("segments/1.parquet", 1, 10), ("segments/2.parquet", 11, 20)]
    with catalog.write() as tx:
        catalog.retire_segments(tx, [one], at=1000.0)
    with catalog.read() as tx:
        assert not catalog.stream_sealed(tx, "b")
        assert catalog.stream_segment_files(tx, "a") == [("segments/2.parquet", 11, 20)]


def test_a_savepoint_undoes_one_part_of_a_write(catalog: CatalogBackend) -> None:
    """Group commit rolls back one append of a shared transaction and keeps the others."""
    with catalog.write() as tx:
        catalog.savepoint(tx, "SAVEPOINT", "first")
        catalog.set_checkpoint(tx, "kept", 1)
        catalog.savepoint(tx, "RELEASE", "first")
        catalog.savepoint(tx, "SAVEPOINT", "second")
        catalog.set_checkpoint(tx, "undone", 2)
        catalog.savepoint(tx, "ROLLBACK TO", "second")
        catalog.savepoint(tx, "RELEASE", "second")
    with catalog.read() as tx:
        assert catalog.stored_checkpoint(tx, "kept") == 1 and catalog.stored_checkpoint(tx, "undone") is None
def test_a_savepoint_undoes_or_keeps_writes_never_sent_yet(catalog: CatalogBackend) -> None:
    """Group commit's savepoints around appends whose writes the PostgreSQL catalog defers (issue 12):
    rolled back, none of them is stored; released, all of them are; reads inside see them."""
    row = lambda p, sid: (p, sid, "account", 1, "Opened", f"id-{p}", 5, 5, "{}", None)  # noqa: E731
    with catalog.write() as tx:
        catalog.savepoint(tx, "SAVEPOINT", "refused")
        catalog.insert_hot(tx, [row(1, "a")])
        catalog.upsert_streams(tx, [("a", "account", 1, 1)])
        catalog.add_event_ids(tx, [("id-1", 1)])
        catalog.savepoint(tx, "ROLLBACK TO", "refused")
        catalog.savepoint(tx, "RELEASE", "refused")
        catalog.savepoint(tx, "SAVEPOINT", "kept")
        catalog.insert_hot(tx, [row(1, "b")])
        catalog.upsert_streams(tx, [("b", "account", 1, 1)])
        catalog.savepoint(tx, "RELEASE", "kept")
        catalog.savepoint(tx, "SAVEPOINT", "read_then_refused")
        assert catalog.stream_heads(tx, ["a", "b"]) == {"b": ("account", 1)}
        catalog.upsert_streams(tx, [("c", "account", 1, 2)])
        assert catalog.stream_heads(tx, ["c"]) == {"c": ("account", 1)}
        catalog.savepoint(tx, "ROLLBACK TO", "read_then_refused")
        catalog.savepoint(tx, "RELEASE", "read_then_refused")
        catalog.set_log_state(tx, head=1, hot_count=1)
    with catalog.read() as tx:
        assert catalog.stream_heads(tx, ["a", "b", "c"]) == {"b": ("account", 1)}
        assert [r[1] for r in catalog.hot_rows(tx, upto=10)] == ["b"]
        assert catalog.known_ids(tx, ["id-1"]) == {}


def test_a_write_whose_deferred_statement_fails_stores_nothing(catalog: CatalogBackend) -> None:
    """The PostgreSQL catalog sends some writes only at the next statement or at COMMIT (issue 12): one
    that fails there still fails the write, and nothing of the write is stored."""
    row = (1, "a", "account", 1, "Opened", "id-1", 5, 5, "{}", None)
    with pytest.raises(Exception) as failed:
        with catalog.write() as tx:
            catalog.upsert_streams(tx, [("a", "account", 1, 1)])
            catalog.insert_hot(tx, [row])
            catalog.insert_hot(tx, [row])  # the same position twice: the hot log's key refuses it
            catalog.set_log_state(tx, head=1, hot_count=1)
    assert "unique" in str(failed.value).lower() or "duplicate" in str(failed.value).lower()
    with catalog.read() as tx:
        assert catalog.log_state(tx)["head"] == 0
        assert catalog.stream_heads(tx, ["a"]) == {} and catalog.hot_rows(tx, upto=10) == []
    with catalog.write() as tx:  # the catalog is usable afterwards
        catalog.set_log_state(tx, head=1)
    with catalog.read() as tx:
        assert catalog.log_state(tx)["head"] == 1


def test_a_write_reads_the_stream_heads_that_earlier_writes_committed(catalog: CatalogBackend) -> None:
    """Stream heads read inside a write are what was committed, never what a rolled-back savepoint or a
    write that failed at COMMIT wrote (the PostgreSQL catalog keeps heads this process knows, issue 12)."""
    row = lambda p, sid: (p, sid, "account", 1, "Opened", f"id-{p}", 5, 5, "{}", None)  # noqa: E731
    with catalog.write() as tx:
        assert catalog.stream_heads(tx, ["a", "b"]) == {}
        catalog.upsert_streams(tx, [("a", "account", 1, 1)])
        catalog.set_log_state(tx, head=1)
    with catalog.write() as tx:
        assert catalog.stream_heads(tx, ["a", "b"]) == {"a": ("account", 1)}
        catalog.savepoint(tx, "SAVEPOINT", "refused")
        catalog.upsert_streams(tx, [("b", "account", 1, 2)])
        catalog.savepoint(tx, "ROLLBACK TO", "refused")
        catalog.savepoint(tx, "RELEASE", "refused")
        catalog.set_log_state(tx, head=2)
    with catalog.write() as tx:
        assert catalog.stream_heads(tx, ["a", "b"]) == {"a": ("account", 1)}
    with pytest.raises(Exception):
        with catalog.write() as tx:  # fails at COMMIT on the PostgreSQL catalog: the writes went with it
            assert catalog.stream_heads(tx, ["a", "c"]) == {"a": ("account", 1)}
            catalog.upsert_streams(tx, [("a", "account", 2, 3), ("c", "account", 1, 3)])
            catalog.insert_hot(tx, [row(3, "c")])
            catalog.insert_hot(tx, [row(3, "c")])  # (the head left where it was: only the failure tells)
    with catalog.write() as tx:
        assert catalog.stream_heads(tx, ["a", "b", "c"]) == {"a": ("account", 1)}
        catalog.upsert_streams(tx, [("a", "account", 5, 9), ("d", "card", 1, 9)])  # without reading them first
        assert catalog.stream_heads(tx, ["a", "d"]) == {"a": ("account", 5), "d": ("card", 1)}
    with catalog.write() as tx:
        assert catalog.stream_heads(tx, ["a", "b", "c", "d"]) == {"a": ("account", 5), "d": ("card", 1)}
    with catalog.read() as tx:
        assert catalog.stream_heads(tx, ["a", "b", "c", "d"]) == {"a": ("account", 5), "d": ("card", 1)}


def test_a_write_reads_its_own_counters_chain_head_and_declarations(catalog: CatalogBackend) -> None:
    """Inside a write, log_state, chain_head and personal_version follow the write's own statements,
    and ROLLBACK TO a savepoint takes them back (the PostgreSQL catalog keeps them in memory, issue 12)."""
    link = (1, "append", 1, 2, 10, '{"events":2}', bytes(32), b"\x01" * 32)
    with catalog.write() as tx:
        catalog.savepoint(tx, "SAVEPOINT", "kept")
        catalog.set_log_state(tx, head=2, last_recorded=10, hot_count=2)
        catalog.add_link(tx, link)
        catalog.savepoint(tx, "RELEASE", "kept")
        assert catalog.log_state(tx)["head"] == 2 and tuple(catalog.chain_head(tx)) == (1, b"\x01" * 32)
        catalog.savepoint(tx, "SAVEPOINT", "undone")
        catalog.set_log_state(tx, head=5, hot_count=5)
        catalog.add_link(tx, (2, "append", 3, 5, 11, '{"events":3}', b"\x01" * 32, b"\x02" * 32))
        catalog.declare_personal(tx, "account", "*", ["name"], "stream_id")
        assert catalog.log_state(tx)["head"] == 5 and catalog.log_state(tx)["personal_version"] == 1
        assert catalog.chain_head(tx)[0] == 2
        catalog.savepoint(tx, "ROLLBACK TO", "undone")
        catalog.savepoint(tx, "RELEASE", "undone")
        state = catalog.log_state(tx)
        assert (state["head"], state["hot_count"], state["personal_version"]) == (2, 2, 0)
        assert tuple(catalog.chain_head(tx)) == (1, b"\x01" * 32)
    with catalog.write() as tx:  # the next write starts from what was committed
        assert catalog.log_state(tx)["head"] == 2 and tuple(catalog.chain_head(tx)) == (1, b"\x01" * 32)
        catalog.declare_personal(tx, "account", "*", ["name"], "stream_id")
    with catalog.write() as tx:
        assert catalog.log_state(tx)["personal_version"] == 1


def test_hash_chain_links(catalog: CatalogBackend) -> None:
    """Links go in and come back whole, in seq order, filtered by kind and range (issue 13)."""
    with catalog.read() as tx:
        assert catalog.chain_head(tx) is None and catalog.links(tx) == []
        assert catalog.last_link_seq(tx, "seal") == 0
        assert catalog.chain_since(tx) == 1  # a new catalog keeps a chain from its first position
    links = [(1, "append", 1, 2, 10, '{"events":2}', bytes(32), b"\x01" * 32),
             (2, "seal", 1, 2, 11, '{"files":[]}', b"\x01" * 32, b"\x02" * 32),
             (3, "append", 3, 3, 12, '{"events":1}', b"\x02" * 32, b"\x03" * 32)]
    with catalog.write() as tx:
        for link in links:
            catalog.add_link(tx, link)
    with catalog.read() as tx:
        assert [tuple(r) for r in catalog.links(tx)] == links
        assert [r[0] for r in catalog.links(tx, kind="append")] == [1, 3]
        assert [r[0] for r in catalog.links(tx, from_seq=2, upto_seq=2)] == [2]
        assert tuple(catalog.chain_head(tx)) == (3, b"\x03" * 32)
        assert catalog.last_link_seq(tx, "seal") == 2


def test_append_state_reads_counters_stream_heads_and_chain_head_together(catalog: CatalogBackend) -> None:
    """``append_state`` is ``log_state``, ``stream_heads`` and ``chain_head`` in one read (issue 11, item 2)."""
    with catalog.read() as tx:
        assert catalog.append_state(tx, ["a"]) == (catalog.log_state(tx), {}, None)
    with catalog.write() as tx:
        catalog.set_log_state(tx, head=4, last_recorded=99, hot_count=4)
        catalog.upsert_streams(tx, [("a", "account", 3, 3), ("b", "card", 1, 4)])
        catalog.add_link(tx, (1, "append", 1, 4, 99, '{"events":4}', bytes(32), b"\x07" * 32))
        inside = catalog.append_state(tx, ["b"])  # inside the write, it sees the write's own changes
    assert inside[0]["head"] == 4 and inside[1] == {"b": ("card", 1)} and tuple(inside[2]) == (1, b"\x07" * 32)
    with catalog.read() as tx:
        state, heads, chain = catalog.append_state(tx, ["a", "b", "c"])
        assert state == catalog.log_state(tx) and state["hot_count"] == 4 and state["last_recorded"] == 99
        assert heads == {"a": ("account", 3), "b": ("card", 1)}
        assert tuple(chain) == (1, b"\x07" * 32)
        assert catalog.append_state(tx, ["c"])[1] == {}


def test_segment_hashes_and_the_rows_verify_reads(catalog: CatalogBackend) -> None:
    """A segment's SHA-256 is recorded with it and can be set later (adoption); verify's listings."""
    seg = SimpleNamespace(path="segments/stream_type=a/1-2-x.parquet", stream_type="a", first_position=1,
                          last_position=2, event_count=2, size_bytes=10, min_occurred=1, max_occurred=2,
                          min_recorded=3, max_recorded=3, sha256="ab" * 32)
    with catalog.write() as tx:
        sid = catalog.add_segment(tx, seg, ["s1", "s2"])
        catalog.upsert_streams(tx, [("s1", "a", 1, 1), ("s2", "a", 1, 2)])
        catalog.add_event_ids(tx, [("id-1", 1)])
    with catalog.read() as tx:
        assert catalog.segment_hashes(tx, [seg.path, "nope"]) == {seg.path: "ab" * 32}
        rows = catalog.segment_rows(tx)
        assert [r[1] for r in rows] == [seg.path] and rows[0][11] is None and rows[0][12] == "ab" * 32
        assert sorted(catalog.stream_segment_pairs(tx)) == [("s1", sid), ("s2", sid)]
        assert sorted(catalog.all_streams(tx)) == [("s1", "a", 1, 1), ("s2", "a", 1, 2)]
        assert catalog.supplied_ids(tx) == [("id-1", 1)]
    with catalog.write() as tx:
        catalog.set_segment_hash(tx, seg.path, "cd" * 32)
    with catalog.read() as tx:
        assert catalog.segment_hashes(tx, [seg.path]) == {seg.path: "cd" * 32}


def test_personal_declarations_and_subject_keys(catalog: CatalogBackend) -> None:
    """Declarations bump personal_version; keys are made, found by subject and id, and destroyed."""
    with catalog.write() as tx:
        catalog.declare_personal(tx, "stream_type", "customer", ["name", "email"], "stream_id")
        catalog.add_subject_keys(tx, [("k1", "cust-1", b"a" * 32), ("k2", "cust-2", b"b" * 32)])
    with catalog.read() as tx:
        assert catalog.personal_state(tx) == (1, 0)
        assert catalog.log_state(tx)["personal_version"] == 1
        assert catalog.personal_declarations(tx) == [("stream_type", "customer", '["name", "email"]', "stream_id")]
        assert catalog.subject_keys(tx, ["cust-1", "cust-9"]) == {"cust-1": ("k1", b"a" * 32)}
        assert catalog.keys_by_id(tx, ["k2"]) == {"k2": b"b" * 32}
    with catalog.write() as tx:
        assert catalog.erase_subject(tx, "cust-1") == (1, True)
        assert catalog.erase_subject(tx, "cust-1") == (0, True)
        assert catalog.erase_subject(tx, "cust-9") == (0, False)
    with catalog.read() as tx:
        assert catalog.personal_state(tx) == (1, 1)
        assert catalog.subject_keys(tx, ["cust-1"]) == {}
        assert catalog.keys_by_id(tx, ["k1", "k2"]) == {"k1": None, "k2": b"b" * 32}


def test_an_erased_key_is_gone_from_the_catalogs_storage(catalog: CatalogBackend) -> None:
    """erase_subject leaves no copy of the key in the catalog's files (SQLite: secure_delete; PostgreSQL:
    the old row version is vacuumed away after the commit)."""
    import os

    key, other = os.urandom(32), os.urandom(32)
    with catalog.write() as tx:
        catalog.add_subject_keys(tx, [("k1", "cust-1", key), ("k2", "cust-2", other)])
    assert key in stored_bytes(catalog)
    with catalog.write() as tx:
        catalog.erase_subject(tx, "cust-1")
    stored = stored_bytes(catalog)
    assert key not in stored and other in stored
