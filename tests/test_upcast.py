"""Upcasting: events stored in an old shape are read in the current one, by every read path."""

from __future__ import annotations

import pandas as pd
import pytest

import eventkit as ek
from eventkit.store.upcasting import Upcaster


def old_and_new(store: ek.Store) -> None:
    """Deposits in three shapes: v1 {amt}, v2 {amount, currency}, v3 MoneyDeposited {amount, currency, cents}."""
    store.append("acct-1", [ek.Event("Opened", {"owner": "Ann"}),
                            ek.Event("Deposited", {"amt": 10})], stream_type="account")
    store.append("acct-2", [ek.Event("Deposited", {"amt": 7})], stream_type="account")
    store.append("acct-1", [ek.Event("Deposited", {"amount": 2.5, "currency": "EUR"}, metadata={"schema_version": "2"})])
    store.append("acct-2", [ek.Event("MoneyDeposited", {"amount": 1.0, "currency": "GBP", "cents": 100},
                                     metadata={"schema_version": "3"})])


V1_TO_V2 = Upcaster("Deposited", from_version=1, to_version=2, rename={"amt": "amount"}, set={"currency": "'USD'"})
V2_TO_V3 = Upcaster("Deposited", from_version=2, set={"cents": "CAST(round(amount * 100) AS BIGINT)"},
                    to_event_type="MoneyDeposited")


def test_reads_see_only_the_current_shape(store):
    old_and_new(store)
    store.register_upcaster(V1_TO_V2)
    store.register_upcaster(V2_TO_V3)
    df = store.read_all()
    deposits = df[df.event_type != "Opened"]
    assert set(deposits.event_type) == {"MoneyDeposited"}
    assert deposits.amount.tolist() == [10, 7, 2.5, 1.0]
    assert deposits.currency.tolist() == ["USD", "USD", "EUR", "GBP"]
    assert deposits.cents.tolist() == [1000, 700, 250, 100]
    assert deposits.amt.isna().all()
    assert (deposits.metadata.map(lambda m: dict(m)["schema_version"]) == "3").all()
    assert store.read_stream("acct-2").event_type.tolist() == ["MoneyDeposited", "MoneyDeposited"]
    total = store.sql("SELECT sum(data.cents) FROM events WHERE event_type = 'MoneyDeposited'").fetchall()[0][0]
    assert total == 2050


def test_folds_see_upcast_events(store):
    old_and_new(store)
    store.register_upcaster(V1_TO_V2)
    store.register_upcaster(V2_TO_V3)
    fold = ek.Fold("account", stream_type="account",
                   fields={"balance": ek.sum("amount", event_types=["MoneyDeposited"]), "n": ek.count()})
    state = fold.state(store).set_index("stream_id")
    assert state.balance.to_dict() == {"acct-1": 12.5, "acct-2": 8.0}

    def deposited(s, e):
        s["cents"] += e.cents

    py = ek.PyFold("cents", stream_type="account", initial=lambda: {"cents": 0},
                   handlers={"MoneyDeposited": deposited})
    assert py.state(store, workers=1).set_index("stream_id").cents.to_dict() == {"acct-1": 1250, "acct-2": 800}


def test_stored_events_never_change(tmp_path):
    path = tmp_path / "s"
    with ek.open_store(path) as store:
        old_and_new(store)
        store.register_upcaster(V1_TO_V2)
        store.seal()  # maintenance moves the raw events, not the upcast view
        assert store.read_all().amt.isna().all()
    with ek.open_store(path) as plain:  # upcasters are per store object: code, not data
        raw = plain.read_all()
        assert raw.amt.dropna().tolist() == [10, 7]
        assert raw.event_type.tolist().count("Deposited") == 3


def test_no_upcasters_leave_the_view_untouched(fresh_store):
    old_and_new(fresh_store)
    snap = fresh_store.snapshot()
    assert snap.upcast is None
    fresh_store.register_upcaster(V1_TO_V2)
    assert "CASE WHEN" in fresh_store.snapshot().events_sql()


def test_known_at_cut_applies_before_upcasting(store):
    old_and_new(store)
    store.register_upcaster(V1_TO_V2)
    df = store.read_all(known_at=2)
    assert df.amount.tolist()[-1] == 10 and df.currency.tolist()[-1] == "USD"
    assert len(df) == 2


def test_defaults_drop_and_type_widening(fresh_store):
    fresh_store.append("a", [ek.Event("Deposited", {"amt": 3, "note": "x"}),
                             ek.Event("Deposited", {"amount": 1.5, "note": "kept", "fee": 2.0},
                                      metadata={"schema_version": "2"})])
    fresh_store.append("a", [ek.Event("Deposited", {"amt": 4, "fee": 1.0})])
    fresh_store.register_upcaster(Upcaster("Deposited", rename={"amt": "amount"}, defaults={"fee": "0.0"},
                                           drop=["note"]))
    df = fresh_store.read_all()
    assert df.amount.tolist() == [3.0, 1.5, 4.0]          # BIGINT amt joins DOUBLE amount
    assert df.fee.tolist() == [0.0, 2.0, 1.0]              # default only where missing
    # drop= removes the field from the events it upcasts (v1) only: the v2 event keeps its note.
    assert [None if pd.isna(v) else v for v in df.note] == [None, "kept", None]


def test_expressions_use_envelope_columns(fresh_store):
    fresh_store.append("a", [ek.Event("Opened", {}, occurred_at="2024-03-05T10:00:00Z")])
    fresh_store.register_upcaster(Upcaster("Opened", set={"opened_day": "occurred_at::DATE"}))
    assert pd.Timestamp(fresh_store.read_all().opened_day[0]).date().isoformat() == "2024-03-05"


@pytest.mark.parametrize("make, message", [
    (lambda: Upcaster("Deposited", from_version=2, to_version=2), "to_version must be above"),
    (lambda: Upcaster("Deposited", from_version=0), "to_version must be above"),
    (lambda: Upcaster("", rename={"a": "b"}), "event type"),
    (lambda: Upcaster("Deposited", rename={"a": "b"}, set={"b": "1"}), "two new values"),
    (lambda: Upcaster("Deposited", set={"b": 1}), "SQL expressions as text"),
])
def test_bad_upcasters_are_rejected(make, message):
    with pytest.raises(ek.InvalidInput, match=message):
        make()


def test_bad_expression_is_rejected_at_registration(fresh_store):
    old_and_new(fresh_store)
    with pytest.raises(ek.InvalidInput, match="not valid SQL over the payload fields"):
        fresh_store.register_upcaster(Upcaster("Deposited", set={"x": "no_such_field + 1"}))
    assert fresh_store.upcasters == []
    assert fresh_store.read_all().amt.notna().any()  # the store still reads


def test_two_upcasters_for_one_shape_is_an_error(fresh_store):
    fresh_store.register_upcaster(V1_TO_V2)
    fresh_store.register_upcaster(V1_TO_V2)  # the same one again is fine
    with pytest.raises(ek.InvalidInput, match="already registered"):
        fresh_store.register_upcaster(Upcaster("Deposited", rename={"amt": "value"}))


def test_schema_version_in_metadata_is_read_as_an_int(fresh_store):
    fresh_store.append("a", [ek.Event("Deposited", {"amt": 1}, metadata={"schema_version": "1"}),
                             ek.Event("Deposited", {"amt": 2}, metadata={"other": "x"})])
    fresh_store.register_upcaster(V1_TO_V2)
    df = fresh_store.read_all()
    assert df.amount.tolist() == [1, 2]
    assert dict(df.metadata[1]) == {"other": "x", "schema_version": "2"}
    assert isinstance(df, pd.DataFrame)
