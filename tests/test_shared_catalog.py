"""A store on each catalog (``catalog=`` of ek.open_store): what a user does gives the same answers.

Runs against every catalog implementation (the ``catalog`` fixture; see EVERY_CATALOG in conftest.py):
the store tests of test_store_append, test_store_read, test_seal_compact and test_store_processes do
too. The tests here cover what is particular to a catalog that lives outside the store folder.
"""

from __future__ import annotations

import threading

import pandas as pd
import pytest

import eventkit as ek

from _catalogs import catalog_sql


def test_a_store_reopens_on_its_catalog_with_everything(tmp_path, catalog):
    store = ek.open_store(tmp_path / "s", catalog=catalog, bulk_threshold=100)
    store.append("a", [ek.Event("Opened", {"owner": "x"})], expected_version=ek.NO_STREAM, stream_type="account")
    store.append_frame(pd.DataFrame({"stream_id": ["b"] * 150, "event_type": "Deposited", "amount": range(150)}))
    sub = store.subscribe(lambda batch: None, name="counter")
    sub.run_once()
    fold = ek.Fold("account", fields={"total": ek.sum("amount"), "n": ek.count()})
    fold.save_snapshot(store)
    store.close()
    again = ek.open_store(tmp_path / "s", catalog=catalog, create=False)
    assert again.head == 151 and again.stream_version("b") == 150
    assert again.checkpoints()["position"].tolist() == [151]
    assert again.fold_states()["position"].tolist() == [151]
    assert fold.state(again).set_index("stream_id")["n"].to_dict() == {"a": 1, "b": 150}
    assert again.info().streams == 2 and again.info().size_bytes > 0
    again.close()


def test_writers_in_threads_take_positions_without_gaps(tmp_path, catalog):
    """Two store objects (two catalog connections) appending at once: 1..n, each stream's versions 1..k."""
    ek.open_store(tmp_path / "s", catalog=catalog).close()
    errors: list[BaseException] = []

    def write(k: int) -> None:
        try:
            with ek.open_store(tmp_path / "s", catalog=catalog) as s:
                for i in range(40):
                    while True:
                        v = s.stream_version("shared")
                        try:
                            s.append("shared", [ek.Event("Bumped", {"by": k, "seen": v})], expected_version=v)
                            break
                        except ek.WrongExpectedVersion:
                            continue
                    s.append(f"own-{k}", [ek.Event("Noted", {"i": i})] * 2)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with ek.open_store(tmp_path / "s", catalog=catalog) as s:
        df = s.read_all()
        # the hash chain links of appends that shared a transaction (group commit) follow each other
        assert s.verify().ok
    assert df["position"].tolist() == list(range(1, 3 * 40 * 3 + 1))
    assert df["recorded_at"].is_monotonic_increasing
    shared = df[df.stream_id == "shared"]
    assert shared["version"].tolist() == list(range(1, 121))
    assert (shared["seen"] == shared["version"] - 1).all()  # exactly one writer won each version


def test_create_false_on_an_empty_catalog_is_refused(tmp_path, catalog):
    with pytest.raises(ek.StoreError, match="no eventkit store"):
        ek.open_store(tmp_path / "nothing", catalog=catalog, create=False)


@pytest.mark.postgresql
def test_a_bad_catalog_url_is_refused_before_anything_is_made(tmp_path):
    pytest.importorskip("psycopg")
    with pytest.raises(ek.InvalidInput, match="schema"):
        ek.open_store(tmp_path / "s", catalog="postgresql://localhost/db?schema=a;drop")
    with pytest.raises(ek.StoreError, match="cannot open the catalog"):
        ek.open_store(tmp_path / "s", catalog="postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(ek.InvalidInput, match="catalog must be"):
        ek.open_store(tmp_path / "s", catalog="mysql://localhost/db")
    assert not (tmp_path / "s").exists()


def test_a_catalog_from_before_the_hash_chain_gets_its_tables_and_adopts_its_history(tmp_path, catalog):
    """A catalog made before the chain and crypto-shredding (no chain, personal_fields, subject_keys
    tables, no segments.sha256, no chain_since) is completed on open: one adopt link, verify passes,
    and personal fields can be declared and forgotten."""
    with ek.open_store(tmp_path / "s", catalog=catalog, bulk_threshold=10) as store:
        store.append("a", [ek.Event("Opened", {"n": 1})])
        store.append_frame(pd.DataFrame({"stream_id": ["b"] * 20, "event_type": "Deposited", "n": range(20)}))
    for statement in ("DROP TABLE chain", "DROP TABLE personal_fields", "DROP TABLE subject_keys",
                      "ALTER TABLE segments DROP COLUMN sha256", "DELETE FROM meta WHERE key = 'chain_since'"):
        catalog_sql(tmp_path / "s", catalog, statement)
    with ek.open_store(tmp_path / "s", catalog=catalog, create=False) as store:
        report = store.verify()
        assert report.ok and report.links == 1 and report.head == 21
        store.declare_personal(stream_type="person", fields=["name"])
        store.append("p1", [ek.Event("Registered", {"name": "Ann"})], stream_type="person")
        assert store.read_stream("p1")["name"].tolist() == ["Ann"]
        assert store.forget("p1") == 1
        assert store.read_stream("p1")["name"].isna().all() and store.verify().ok
