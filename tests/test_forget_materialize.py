"""A scenario written out (``Scenario.materialize``) keeps the erasure and the protection (issue 13, item 4):
the new store declares the same personal fields, holds live personal values encrypted (so they can be forgotten
there too), and reads erased values as NULL with ``erased`` and ``erased_fields`` like every other output."""

from __future__ import annotations

import pandas as pd
import pytest

import eventkit as ek


@pytest.fixture
def shop(tmp_path) -> ek.Store:
    store = ek.open_store(tmp_path / "shop")
    store.declare_personal(stream_type="customer", fields=["name", "email"])
    store.declare_personal(event_type="OrderPlaced", fields=["address"], subject="customer_id")
    store.append("c-1", [ek.Event("Registered", {"name": "Ann", "tier": 1}, occurred_at="2024-01-01")],
                 stream_type="customer")
    store.append("c-2", [ek.Event("Registered", {"name": "Bob", "email": "bob@example.com", "tier": 1},
                                  occurred_at="2024-01-01")], stream_type="customer")
    for oid, cid, address in (("o-1", "c-1", "1 Main St"), ("o-2", "c-2", "2 Main St")):
        store.append(oid, [ek.Event("OrderPlaced", {"customer_id": cid, "address": address, "total": 5.0},
                                    occurred_at="2024-01-02")], stream_type="order")
    store.forget("c-1")
    # Ann comes back: a new key, readable values again.
    store.append("c-1", [ek.Event("Renamed", {"name": "Ann B"}, occurred_at="2024-01-03")], stream_type="customer")
    yield store
    store.close()


COLUMNS = ["stream_id", "version", "name", "email", "address", "erased"]


def _events(source) -> pd.DataFrame:
    frame = source.read_all()
    frame["erased_fields"] = frame.erased_fields.map(list)
    return frame.sort_values(["stream_id", "version"]).reset_index(drop=True)[COLUMNS + ["erased_fields"]]


def test_a_materialized_scenario_reads_like_the_scenario(shop, tmp_path):
    scn = ek.Scenario(shop).drop(streams=["o-2"])
    with scn.materialize(tmp_path / "copy") as copy:
        got, want = _events(copy), _events(scn)
        pd.testing.assert_frame_equal(got, want)
        assert got.set_index(["stream_id", "version"]).erased_fields.to_dict() == {
            ("c-1", 1): ["name"], ("c-1", 2): [], ("c-2", 1): [], ("o-1", 1): ["address"]}
        assert got.set_index(["stream_id", "version"]).name.to_dict()[("c-1", 2)] == "Ann B"
        names = ek.Fold("names", stream_type="customer", fields={"first": ek.first("name"), "last": ek.last("name")})
        pd.testing.assert_frame_equal(names.state(copy).drop(columns="position"),
                                      names.state(scn).drop(columns="position"))
        copy.verify()


def test_a_materialized_store_holds_personal_values_encrypted_and_can_forget_them(shop, tmp_path):
    with ek.Scenario(shop).materialize(tmp_path / "copy") as copy:
        copy.seal()
        assert not any(b"bob@example.com" in p.read_bytes() for p in (tmp_path / "copy").rglob("*") if p.is_file())
        assert copy.forget("c-2") == 1
        bob = copy.read_stream("c-2")
        assert bob.name.isna().all() and list(bob.erased_fields[0]) == ["email", "name"]
        copy.verify()


def test_personal_declarations_are_what_declare_personal_takes(shop, tmp_path):
    assert shop.personal_declarations() == [
        {"stream_type": "customer", "fields": ["name", "email"], "subject": "stream_id"},
        {"event_type": "OrderPlaced", "fields": ["address"], "subject": "customer_id"}]
    with ek.open_store(tmp_path / "other") as other:
        for d in shop.personal_declarations():
            other.declare_personal(**d)
        assert other.personal_declarations() == shop.personal_declarations()
