"""Fold results that involve erased personal data carry the flag (issue 13, item 4): ``erased`` on the
rows of state, snapshots, changes and states started from a saved state, when the fold reads a
personal field of an event that lost it; folds that read none are unchanged."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

import eventkit as ek
from eventkit.cli import cli


@pytest.fixture
def shop(tmp_path) -> ek.Store:
    store = ek.open_store(tmp_path / "shop")
    store.declare_personal(stream_type="customer", fields=["name", "email"])
    store.declare_personal(event_type="OrderPlaced", fields=["address"], subject="customer_id")
    for cid, name in (("c-1", "Ann"), ("c-2", "Bob")):
        store.append(cid, [ek.Event("Registered", {"name": name, "email": f"{name.lower()}@example.com", "tier": 1},
                                    occurred_at="2024-01-01")], stream_type="customer")
    for oid, cid, address, total in (("o-1", "c-1", "1 Main St", 10.0), ("o-2", "c-2", "2 Main St", 5.0),
                                     ("o-3", "c-1", "3 Side St", 7.0)):
        store.append(oid, [ek.Event("OrderPlaced", {"customer_id": cid, "address": address, "total": total},
                                    occurred_at="2024-01-02")], stream_type="order")
    yield store
    store.close()


MAIN_STREET = ek.Fold("main", stream_type="order", fields={"main_st": ek.sum("total", where="address LIKE '%Main St'")})


def test_a_total_over_erased_values_is_flagged(shop):
    """The natural move: total orders to Main St; after the customer is forgotten their order no longer
    matches, and the state says the figure involves erased data instead of looking complete."""
    before = MAIN_STREET.state(shop)
    assert before.main_st.sum() == 15.0 and not before.erased.any()
    shop.forget("c-1")
    after = MAIN_STREET.state(shop).set_index("stream_id")
    assert after.main_st.sum() == 5.0
    assert after.erased.to_dict() == {"o-1": True, "o-2": False, "o-3": True}
    assert after.erased.any()  # what a total over the rows checks


def test_a_null_last_value_says_it_was_erased(shop):
    fold = ek.Fold("customer", stream_type="customer", fields={"name": ek.last("name"), "events": ek.count()})
    shop.forget("c-1")
    state = fold.state(shop).set_index("stream_id")
    assert pd.isna(state.loc["c-1", "name"]) and state.loc["c-1", "erased"]
    assert state.loc["c-2", "name"] == "Bob" and not state.loc["c-2", "erased"]


def test_folds_reading_no_personal_field_are_unchanged(shop):
    fold = ek.Fold("tiers", stream_type="customer", fields={"tier": ek.last("tier"), "n": ek.count()})
    before = fold.state(shop)
    shop.forget("c-1")
    after = fold.state(shop)
    assert "erased" not in after.columns
    pd.testing.assert_frame_equal(before, after)


def test_snapshots_and_changes_carry_the_flag(shop):
    shop.forget("c-1")
    series = MAIN_STREET.snapshots(shop, every="1D", start="2024-01-02", end="2024-01-03")
    assert series.groupby("stream_id").erased.all().to_dict() == {"o-1": True, "o-2": False, "o-3": True}
    changes = MAIN_STREET.changes(shop, every="1D")
    assert changes.set_index("stream_id").erased.to_dict() == {"o-1": True, "o-2": False, "o-3": True}


def test_a_state_saved_before_the_erasure_is_not_used_after_it(shop):
    """A saved state holds what the fold computed from the values: after a forget it would show them again."""
    fold = ek.Fold("customer", stream_type="customer", fields={"name": ek.last("name")})
    fold.save_snapshot(shop)
    assert fold.state(shop).set_index("stream_id").loc["c-1", "name"] == "Ann"
    shop.forget("c-1")
    state = fold.state(shop).set_index("stream_id")
    assert pd.isna(state.loc["c-1", "name"]) and state.loc["c-1", "erased"]
    fold.save_snapshot(shop)  # saved after it: used, and the flag survives the combination with newer events
    shop.append("c-1", [ek.Event("Seen", {"tier": 2})], stream_type="customer")
    state = fold.state(shop).set_index("stream_id")
    assert pd.isna(state.loc["c-1", "name"]) and state.loc["c-1", "erased"] and not state.loc["c-2", "erased"]


def test_an_erasure_removes_the_saved_states_that_hold_the_erased_values(shop):
    """Crypto-shredding must not leave the erased text in plain files: a saved fold state is plain
    Parquet computed from revealed values, so forget drops every saved state (they are caches; the next
    fold recomputes) with the erasure, and deletes their files."""
    ek.Fold("customer", stream_type="customer", fields={"name": ek.last("name")}).save_snapshot(shop)
    ek.Fold("tiers", stream_type="customer", fields={"tier": ek.last("tier")}).save_snapshot(shop)
    states = shop.path / "fold_states"
    saved = list(states.rglob("*.parquet"))
    assert len(saved) == 2 and any(b"Ann" in p.read_bytes() or _parquet_holds(p, "Ann") for p in saved)
    shop.forget("c-1")
    assert list(states.rglob("*.parquet")) == [] and shop.fold_states().empty
    assert not any(b"Ann" in p.read_bytes() for p in shop.path.rglob("*") if p.is_file() and "segments" not in p.parts)


def _parquet_holds(path, text: str) -> bool:
    import pyarrow.parquet as pq

    return text in str(pq.read_table(path).to_pylist())


def test_the_cli_state_export_shows_the_flag(shop, tmp_path, monkeypatch):
    (tmp_path / "shopfolds.py").write_text(
        "import eventkit as ek\n"
        "main = ek.Fold('main', stream_type='order', fields={'main_st': ek.sum('total', where=\"address LIKE '%Main St'\")})\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    shop.forget("c-1")
    path = str(shop.path) if hasattr(shop, "path") else str(tmp_path / "shop")
    shop.close()
    out = CliRunner().invoke(cli, ["state", path, "shopfolds:main", "-o", str(tmp_path / "main.csv")])
    assert out.exit_code == 0, out.output
    exported = pd.read_csv(tmp_path / "main.csv").set_index("stream_id")
    assert exported.erased.to_dict() == {"o-1": True, "o-2": False, "o-3": True}


def test_totals_over_the_rows_keep_the_flag(shop):
    """ek.aggregate of a state or a series, and a report table of totals, say when a total involves erased values."""
    from eventkit.report.frames import table_frame

    shop.forget("c-1")
    total = ek.aggregate(MAIN_STREET.state(shop), values={"main_st": "sum"})
    assert total.main_st.tolist() == [5.0] and total.erased.tolist() == [True]
    assert ek.aggregate(MAIN_STREET.state(shop)).erased.tolist() == [True]  # a flag, not summed as a number (2)
    daily = ek.aggregate(MAIN_STREET.snapshots(shop, every="1D", start="2024-01-02", end="2024-01-03"),
                         values={"main_st": "sum"})
    assert daily.erased.all() and daily.main_st.tolist() == [5.0, 5.0]
    table = table_frame(shop, MAIN_STREET, {"values": {"main_st": ["main_st", "sum"]}})
    assert table.erased.tolist() == [True]
