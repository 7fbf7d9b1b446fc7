"""The catalog contract: what every catalog (SQLite today, PostgreSQL next) must do behind the seam.

:class:`CatalogContract` is the suite; an implementation runs it by subclassing it and saying how to make
a new, empty catalog (``make_catalog``), the way the eventsourcing library reuses its recorder test
cases for every backend. It covers what :class:`~eventkit.store.catalog_interface.CatalogBackend`
offers; the parts of the store that still run SQLite SQL on the transaction handle (listed in that
module's docstring) are covered by the store tests instead.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import eventkit as ek
from eventkit.store.catalog import Catalog
from eventkit.store.catalog_interface import CatalogBackend


class CatalogContract:
    """Subclass and implement :meth:`make_catalog`; every test then runs against that implementation."""

    def make_catalog(self, tmp_path: Path) -> CatalogBackend:
        raise NotImplementedError

    @pytest.fixture
    def catalog(self, tmp_path: Path):
        cat = self.make_catalog(tmp_path)
        yield cat
        cat.close()

    def test_is_a_catalog(self, catalog: CatalogBackend) -> None:
        assert isinstance(catalog, CatalogBackend)
        assert catalog.id_prefix and catalog.id_prefix == catalog.id_prefix

    def test_a_new_catalog_is_empty(self, catalog: CatalogBackend) -> None:
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

    def test_a_write_commits_whole(self, catalog: CatalogBackend) -> None:
        with catalog.write() as tx:
            catalog.set_log_state(tx, head=3, last_recorded=17)
            catalog.upsert_streams(tx, [("a", "account", 2, 2), ("b", "card", 1, 3)])
        with catalog.read() as tx:
            assert catalog.log_state(tx)["head"] == 3 and catalog.meta_int(tx, "last_recorded") == 17
            assert catalog.stream_heads(tx, ["a", "b", "c"]) == {"a": ("account", 2), "b": ("card", 1)}
            assert catalog.stream_heads(tx, ["b"]) == {"b": ("card", 1)}

    def test_a_failed_write_leaves_nothing(self, catalog: CatalogBackend) -> None:
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

    def test_a_stream_head_moves_forward(self, catalog: CatalogBackend) -> None:
        with catalog.write() as tx:
            catalog.upsert_streams(tx, [("a", "account", 1, 1)])
        with catalog.write() as tx:
            catalog.upsert_streams(tx, [("a", "account", 4, 9)])
        with catalog.read() as tx:
            assert catalog.stream_heads(tx, ["a"]) == {"a": ("account", 4)}

    def test_settings(self, catalog: CatalogBackend) -> None:
        with catalog.write() as tx:
            catalog.set_meta(tx, "grace_seconds", 2.5)
            catalog.set_meta(tx, "hot_count", 7)
        with catalog.read() as tx:
            assert catalog.grace_seconds(tx) == 2.5
            assert catalog.meta_int(tx, "hot_count") == 7

    def test_checkpoints(self, catalog: CatalogBackend) -> None:
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

    def test_fold_states_newest_usable_and_replaced(self, catalog: CatalogBackend) -> None:
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

    def test_hash_chain_links(self, catalog: CatalogBackend) -> None:
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

    def test_personal_declarations_and_subject_keys(self, catalog: CatalogBackend) -> None:
        """Declarations bump personal_version; keys are made, found by subject and id, and destroyed."""
        with catalog.write() as tx:
            catalog.declare_personal(tx, "stream_type", "customer", ["name", "email"], "stream_id")
            catalog.add_subject_keys(tx, [("k1", "cust-1", b"a" * 32), ("k2", "cust-2", b"b" * 32)])
        with catalog.read() as tx:
            assert catalog.personal_state(tx) == (1, 0)
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

    def test_writers_are_serialised(self, catalog: CatalogBackend) -> None:
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

    def test_closed_catalog_refuses_work(self, tmp_path: Path) -> None:
        catalog = self.make_catalog(tmp_path)
        catalog.close()
        with pytest.raises(ek.StoreError, match="closed"):
            with catalog.read():
                pass


class TestSQLiteCatalog(CatalogContract):
    def make_catalog(self, tmp_path: Path) -> CatalogBackend:
        path = tmp_path / "catalog.sqlite"
        Catalog.create(path)
        return Catalog(path)
