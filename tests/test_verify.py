"""Proving history: the chain over every kind of commit, verify, signed checkpoints, inclusion proofs,
and their command-line twins (issue 13, items 1-3). Tests taking ``any_catalog`` run against each catalog
(SQLite, PostgreSQL); the command-line ones use the folder's catalog.sqlite, the only one the CLI opens."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest
from click.testing import CliRunner

import eventkit as ek
from eventkit.cli import cli
from eventkit.store.signed_checkpoints import generate_key

from _catalogs import any_catalog, catalog_sql  # noqa: F401  (any_catalog: a fixture)


def build(path, **options):
    store = ek.open_store(path, bulk_threshold=30, **options)
    for i in range(6):
        store.append(f"a{i % 3}", [ek.Event("Deposited", {"amount": float(i)})], stream_type="account")
    store.append_frame(pd.DataFrame({"stream_id": [f"o{i % 4}" for i in range(40)], "event_type": "Placed",
                                     "n": range(40), "stream_type": "order"}))
    store.seal()
    store.append_frame(pd.DataFrame({"stream_id": [f"o{i % 4}" for i in range(40)], "event_type": "Placed",
                                     "n": range(40)}))
    store.compact()
    store.append("a1", [ek.Event("Withdrawn", {"amount": -1.0})])
    return store


def chain(path, catalog=None) -> list[tuple]:
    return [tuple(r) for r in catalog_sql(path, catalog,
                                          "SELECT seq, kind, first_position, last_position FROM chain ORDER BY seq")]


def test_every_commit_is_a_link(tmp_path, any_catalog):
    """Appends, a bulk append, a seal and a compaction each add one link with the positions they cover."""
    with build(tmp_path / "s", catalog=any_catalog) as store:
        links = chain(tmp_path / "s", any_catalog)
        kinds = [k for _, k, _, _ in links]
        assert kinds == ["append"] * 6 + ["segment", "seal", "segment", "compact", "append"]
        assert links[6][2:] == (7, 46) and links[-1][2:] == (87, 87)
        report = store.verify()
        assert report.ok and report.head == store.head == 87 and report.links == 11


def test_a_failed_append_adds_no_link(tmp_path, any_catalog):
    """A refused append (wrong expected version) leaves the chain as it was."""
    with ek.open_store(tmp_path / "s", catalog=any_catalog) as store:
        store.append("a", [ek.Event("E")])
        with pytest.raises(ek.WrongExpectedVersion):
            store.append("a", [ek.Event("E")], expected_version=5)
        assert len(chain(tmp_path / "s", any_catalog)) == 1
        store.verify()


def test_verify_report_names_the_first_bad_link_positions_and_file(tmp_path, any_catalog):
    """A changed file byte: the report gives the link that recorded the file, its positions and path."""
    store = build(tmp_path / "s", catalog=any_catalog)
    store.close()
    path, first, last = catalog_sql(tmp_path / "s", any_catalog, "SELECT path, first_position, last_position "
                                    "FROM segments WHERE retired_at IS NULL ORDER BY 2")[0]
    target = tmp_path / "s" / path
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with ek.open_store(tmp_path / "s", create=False, catalog=any_catalog) as store:
        with pytest.raises(ek.TamperedStore) as info:
            store.verify()
        report = info.value.report
        assert report.first_bad_link is not None
        problem = report.problems[0]
        assert problem.files == [path] and problem.positions == (first, last)
        assert "TAMPERED" in str(info.value) and path in str(info.value)
        assert store.verify(quick=True).ok  # --quick checks sizes only: a same-size change passes it (documented)


def test_read_of_a_modified_segment_fails_and_others_still_read(tmp_path, any_catalog):
    """The read guard: a read touching the changed file fails naming it; a stream elsewhere still reads."""
    store = build(tmp_path / "s", catalog=any_catalog)
    store.close()
    path = catalog_sql(tmp_path / "s", any_catalog,
                       "SELECT path FROM segments WHERE retired_at IS NULL AND stream_type = 'order'")[0][0]
    target = tmp_path / "s" / path
    data = bytearray(target.read_bytes())
    data[100] ^= 1
    target.write_bytes(bytes(data))
    with ek.open_store(tmp_path / "s", create=False, catalog=any_catalog) as store:
        with pytest.raises(ek.TamperedStore, match=path.split("/")[-1]):
            store.read_stream("o1")
        with pytest.raises(ek.TamperedStore):
            store.sql("SELECT count(*) FROM events").fetchall()
        assert len(store.read_stream("a1")) == 3  # its events are in another file and the hot log


def test_checkpoint_then_verify_against_it(tmp_path, any_catalog):
    """A checkpoint signed now: the store extends it after more appends; a rewritten store does not;
    an altered checkpoint or another key is refused."""
    key, pub = generate_key(tmp_path / "key")
    store = build(tmp_path / "s", catalog=any_catalog)
    cp = store.sign_checkpoint(key)
    assert cp["position"] == store.head and cp["links"] >= 11
    store.append("a1", [ek.Event("Deposited", {"amount": 5.0})])
    report = store.verify(against=cp, public_key=pub)
    assert any("extends the checkpoint" in n for n in report.notes)

    altered = {**cp, "position": cp["position"] + 1}
    with pytest.raises(ek.TamperedStore, match="altered"):
        store.verify(against=altered)
    _, other_pub = generate_key(tmp_path / "other")
    with pytest.raises(ek.TamperedStore, match="another key"):
        store.verify(against=cp, public_key=other_pub)
    store.close()

    # Rewrite the store wholesale (a fresh store with other history, re-hashed consistently): it verifies
    # on its own, but not against the checkpoint.
    if any_catalog is None:
        ek.open_store(tmp_path / "fake").close()
        (tmp_path / "s" / "catalog.sqlite").unlink()
        for extra in ("catalog.sqlite-wal", "catalog.sqlite-shm"):
            (tmp_path / "s" / extra).unlink(missing_ok=True)
        import shutil
        shutil.copy(tmp_path / "fake" / "catalog.sqlite", tmp_path / "s" / "catalog.sqlite")
    else:  # the store's schema replaced by a fresh store's
        schema = any_catalog.rpartition("schema=")[2]
        ek.open_store(tmp_path / "fake", catalog=any_catalog.replace(schema, f"{schema}_fake")).close()
        catalog_sql(tmp_path / "s", any_catalog, f"DROP SCHEMA {schema} CASCADE")
        catalog_sql(tmp_path / "s", any_catalog, f"ALTER SCHEMA {schema}_fake RENAME TO {schema}")
    with ek.open_store(tmp_path / "s", create=False, catalog=any_catalog) as rewritten:
        rewritten.append("a1", [ek.Event("Deposited", {"amount": 1e6})])
        assert rewritten.verify().ok
        with pytest.raises(ek.TamperedStore, match="another store|removed|rewritten"):
            rewritten.verify(against=cp, public_key=pub)


@pytest.mark.parametrize("position", [1, 6, 20, 50, 87])
def test_prove_and_check_without_the_store(tmp_path, position, any_catalog):
    """Hot, sealed, bulk and compacted events each get a proof that checks against the checkpoint alone;
    a changed byte of the event, the path or the link makes the check fail."""
    key, pub = generate_key(tmp_path / "key")
    with build(tmp_path / "s", catalog=any_catalog) as store:
        cp = store.sign_checkpoint(key)
        proof = store.prove(position, checkpoint=cp)
        expected = store.read_all(from_position=position, to_position=position).iloc[0]
    proof = json.loads(json.dumps(proof))  # as saved to a file
    event = ek.check_proof(proof, checkpoint=cp, public_key=pub)
    assert event["position"] == position and event["stream_id"] == expected["stream_id"]
    assert event["event_type"] == expected["event_type"]
    forged = {**proof, "event": proof["event"].replace(expected["stream_id"], "zz")}
    with pytest.raises(ek.StoreError):
        ek.check_proof(forged)
    if proof["event_path"]:
        bad_path = {**proof, "event_path": ["00" * 32] + proof["event_path"][1:]}
        with pytest.raises(ek.StoreError):
            ek.check_proof(bad_path)
    bad_link = {**proof, "link": {**proof["link"], "last_position": proof["link"]["last_position"] + 1}}
    with pytest.raises(ek.StoreError, match="altered"):
        ek.check_proof(bad_link)


def test_prove_refuses_a_position_outside_the_store(tmp_path):
    with build(tmp_path / "s") as store:
        with pytest.raises(ek.InvalidInput, match="1..87"):
            store.prove(88)


def test_cli_verify_checkpoint_prove_check_proof(tmp_path):
    """The commands as a user runs them: exit 0 on a sound store, 1 with the report on a tampered one."""
    build(tmp_path / "s").close()
    runner = CliRunner()
    s, key, cp, proof = tmp_path / "s", tmp_path / "k", tmp_path / "cp.json", tmp_path / "p.json"
    ok = runner.invoke(cli, ["verify", str(s)])
    assert ok.exit_code == 0 and "OK" in ok.output, ok.output
    assert runner.invoke(cli, ["keygen", str(key)]).exit_code == 0
    out = runner.invoke(cli, ["checkpoint", str(s), "--key", str(key), "-o", str(cp)])
    assert out.exit_code == 0, out.output
    out = runner.invoke(cli, ["verify", str(s), "--against", str(cp), "--public-key", f"{key}.pub"])
    assert out.exit_code == 0 and "extends the checkpoint" in out.output, out.output
    out = runner.invoke(cli, ["prove", str(s), "20", "--checkpoint", str(cp), "-o", str(proof)])
    assert out.exit_code == 0, out.output
    out = runner.invoke(cli, ["check-proof", str(proof), "--checkpoint", str(cp), "--public-key", f"{key}.pub"])
    assert out.exit_code == 0 and "proof OK: position 20" in out.output, out.output
    with sqlite3.connect(s / "catalog.sqlite") as db:
        db.execute("UPDATE streams SET version = version + 1 WHERE stream_id = 'a1'")
    bad = runner.invoke(cli, ["verify", str(s)])
    assert bad.exit_code == 1 and "TAMPERED" in bad.output and "'a1'" in bad.output, bad.output


def test_a_store_from_before_chains_is_adopted_on_first_writable_open(tmp_path, any_catalog):
    """A store written without a chain (no chain rows, no file hashes, no chain_since) gets one `adopt`
    link on open; it then verifies, and later appends, seals and proofs chain onto it."""
    build(tmp_path / "s", catalog=any_catalog).close()
    for statement in ("DELETE FROM chain", "DELETE FROM meta WHERE key = 'chain_since'",
                      "UPDATE segments SET sha256 = NULL"):
        catalog_sql(tmp_path / "s", any_catalog, statement)
    with ek.open_store(tmp_path / "s", create=False, catalog=any_catalog) as store:
        assert [k for _, k, _, _ in chain(tmp_path / "s", any_catalog)] == ["adopt"]
        assert store.verify().ok
        hot = store.read_all(from_position=87)  # a hot event adopted as found
        proof = store.prove(87)
        assert ek.check_proof(proof)["stream_id"] == hot.stream_id.iloc[0]
        store.append("a2", [ek.Event("Deposited", {"amount": 2.0})])
        store.seal()
        assert store.verify().ok


def test_a_chain_deleted_from_a_chained_store_is_not_re_adopted(tmp_path, any_catalog):
    """Deleting the chain of a store that had one is tampering, not an old store: verify fails."""
    build(tmp_path / "s", catalog=any_catalog).close()
    catalog_sql(tmp_path / "s", any_catalog, "DELETE FROM chain")
    with ek.open_store(tmp_path / "s", create=False, catalog=any_catalog) as store:
        with pytest.raises(ek.TamperedStore, match="no hash chain"):
            store.verify()


def _proves(store, position, cp, pub):
    proof = json.loads(json.dumps(store.prove(position, checkpoint=cp)))
    return ek.check_proof(proof, checkpoint=cp, public_key=pub)


def test_prove_rehashes_one_chunk_of_the_file(tmp_path, monkeypatch):
    """A checkpoint's index links record the root of every CHUNK leaves of each file; prove re-hashes only
    the event's chunk (not the file), and every event of a file of several chunks checks."""
    from eventkit.store import proofs

    monkeypatch.setattr(proofs, "CHUNK", 8)
    key, pub = generate_key(tmp_path / "key")
    with build(tmp_path / "s") as store:
        cp = store.sign_checkpoint(key)
        index = [json.loads(r[0]) for r in catalog_sql(tmp_path / "s", None,
                                                       "SELECT detail FROM chain WHERE kind = 'index'")]
        assert index and all(d["chunk"] == 8 and len(d["chunks"]) == -(-d["events"] // 8) for d in index)
        reads = []
        real = proofs.file_leaves
        monkeypatch.setattr(proofs, "file_leaves", lambda path, lo=None, hi=None: reads.append((lo, hi)) or
                            real(path, lo, hi))
        for position in range(7, 87):
            assert _proves(store, position, cp, pub)["position"] == position
        assert reads and all(lo is not None for lo, _ in reads)  # one chunk each time, never a whole file
        links = len(chain(tmp_path / "s"))
        assert links == cp["links"]  # and no new index link


def test_an_index_link_without_chunk_roots_still_proves(tmp_path):
    """A store indexed by an eventkit before chunk roots (its index links hold only the root): prove falls back
    to the whole file under the same link, and its proofs check against the checkpoint signed then."""
    from eventkit.store import merkle, proofs
    from eventkit.store.chain_links import add_link
    from eventkit.store.envelope import micros_now

    key, pub = generate_key(tmp_path / "key")
    with build(tmp_path / "s") as store:
        with store._catalog.read() as tx:
            live = [(r[1], r[12], r[3], r[4]) for r in store._catalog.segment_rows(tx) if r[11] is None]
        for path, sha, first, last in live:  # as the earlier eventkit indexed: root only
            hashes = proofs.file_leaves(str(store.path / path))[1]
            with store._catalog.write() as tx:
                add_link(store._catalog, tx, "index", first, last, micros_now(),
                         {"file": path, "sha256": sha, "events": len(hashes), "root": merkle.root(hashes).hex()})
        cp = store.sign_checkpoint(key)
        assert cp["links"] == len(chain(tmp_path / "s"))  # nothing re-indexed
        for position in (7, 30, 46, 60, 86):
            assert _proves(store, position, cp, pub)["position"] == position


@pytest.mark.parametrize("group", [1, 2, 62])
def test_verify_groups_of_files_in_the_scan(tmp_path, monkeypatch, group):
    """The scan keeps each stream's files as bit masks per group of GROUP_FILES files: with one, two or 62
    files a group, an intact store verifies and an index entry or stream head edited is found."""
    from eventkit.store import verify as verify_module

    monkeypatch.setattr(verify_module, "GROUP_FILES", group)
    with build(tmp_path / "s") as store:
        report = store.verify()
        assert report.ok and report.files >= 2 and report.events_scanned == store.head
    stream, segment = catalog_sql(tmp_path / "s", None, "SELECT p.stream_id, p.segment_id FROM stream_segments p "
                                  "JOIN segments s USING (segment_id) WHERE s.retired_at IS NULL "
                                  "ORDER BY p.segment_id DESC, p.stream_id LIMIT 1")[0]
    catalog_sql(tmp_path / "s", None, "DELETE FROM stream_segments WHERE stream_id = ? AND segment_id = ?",
                (stream, segment))
    with ek.open_store(tmp_path / "s", create=False) as store:
        with pytest.raises(ek.TamperedStore, match="stream-to-segment index differs from the files in 1 entries"):
            store.verify()
    catalog_sql(tmp_path / "s", None, "UPDATE streams SET version = version + 1 WHERE stream_id = 'a2'")
    with ek.open_store(tmp_path / "s", create=False) as store:
        with pytest.raises(ek.TamperedStore, match="stream heads in the catalog differ"):
            store.verify()
