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


# -- every other output path (Python folds, fold.aggregate, what-if, report series) -------------------------------

def _address(state, event):
    state["address"] = event.address
    state["seen_erased"] = state["seen_erased"] or event.erased


ADDRESSES = ek.PyFold("addresses", stream_type="order", initial=lambda: {"address": None, "seen_erased": False},
                      handlers={"OrderPlaced": _address})


def test_a_python_fold_reading_a_personal_field_carries_the_flag(shop):
    """The handlers see each event's ``erased``; the output says which states involve erased data."""
    shop.forget("c-1")
    state = ADDRESSES.state(shop, workers=1).set_index("stream_id")
    assert state.address.isna().to_dict() == {"o-1": True, "o-2": False, "o-3": True}
    assert state.seen_erased.to_dict() == {"o-1": True, "o-2": False, "o-3": True}
    assert state.erased.to_dict() == {"o-1": True, "o-2": False, "o-3": True}
    assert list(state.columns) == ["address", "seen_erased", "erased", "version", "position"]
    changes = ADDRESSES.changes(shop, every="1D").set_index("stream_id")
    assert changes.erased.to_dict() == {"o-1": True, "o-2": False, "o-3": True}
    dense = ADDRESSES.snapshots(shop, every="1D", start="2024-01-02", end="2024-01-03")
    assert dense.groupby("stream_id").erased.all().to_dict() == {"o-1": True, "o-2": False, "o-3": True}


def test_a_python_fold_in_worker_processes_carries_the_flag(shop):
    shop.forget("c-1")
    state = ADDRESSES.state(shop, workers=2).set_index("stream_id")
    assert state.erased.to_dict() == {"o-1": True, "o-2": False, "o-3": True}


def test_a_python_fold_loading_no_personal_field_is_unchanged(shop):
    totals = ek.PyFold("totals", stream_type="order", initial=lambda: {"total": 0.0}, columns=["total"],
                       handlers={"OrderPlaced": lambda s, e: s.__setitem__("total", s["total"] + e.total)})
    before = totals.state(shop, workers=1)
    shop.forget("c-1")
    after = totals.state(shop, workers=1)
    assert "erased" not in after.columns
    pd.testing.assert_frame_equal(before, after)


def test_fold_aggregate_marks_totals_over_erased_values(shop):
    """fold.aggregate reads the store itself (not a state frame): its totals say when they involve erased values,
    point by point (a day before the erased event is complete), in each of its three plans."""
    shop.append("o-0", [ek.Event("OrderPlaced", {"customer_id": "c-1", "address": "9 Main St", "total": 1.0},
                                 occurred_at="2024-01-03")], stream_type="order")
    shop.forget("c-1")
    additive = MAIN_STREET.aggregate(shop, every="1D", values={"main_st": "sum"})
    assert additive.erased.tolist() == [True, True] and additive.main_st.tolist() == [5.0, 5.0]
    assert list(additive.columns) == ["as_of", "streams", "main_st", "erased", "complete"]
    fold = ek.Fold("by", stream_type="order", fields={
        "customer": ek.last("customer_id"), "main_st": ek.sum("total", where="address LIKE '%Main St'"),
        "address": ek.last("address")})
    grouped = fold.aggregate(shop, every="1D", by="customer", values={"main_st": "sum"})
    assert grouped.set_index(["as_of", "customer"]).erased.droplevel(0).groupby(level=0).all().to_dict() == {
        "c-1": True, "c-2": False}
    largest = fold.aggregate(shop, every="1D", by="customer", values={"top": ("main_st", "max")})
    assert largest.groupby("customer").erased.all().to_dict() == {"c-1": True, "c-2": False}


def test_fold_aggregate_marks_only_the_points_from_the_erased_event_on(shop):
    shop.declare_personal(event_type="Moved", fields=["street"], subject="customer_id")
    shop.append("o-2", [ek.Event("Moved", {"customer_id": "c-9", "street": "Elm Rd"}, occurred_at="2024-01-05")],
                stream_type="order")
    shop.forget("c-9")
    moved = ek.Fold("moved", stream_type="order", fields={"moves": ek.count(where="street IS NOT NULL")})
    daily = moved.aggregate(shop, every="1D", values={"moves": "sum"}, start="2024-01-02", end="2024-01-05")
    assert daily.erased.tolist() == [False, False, False, True]


def test_fold_aggregate_reading_no_personal_field_is_unchanged(shop):
    fold = ek.Fold("totals", stream_type="order", fields={"total": ek.sum("total")})
    before = fold.aggregate(shop, every="1D", values={"total": "sum"})
    shop.forget("c-1")
    after = fold.aggregate(shop, every="1D", values={"total": "sum"})
    assert "erased" not in after.columns
    pd.testing.assert_frame_equal(before, after)


def test_a_what_if_scenario_shows_the_nulls_and_the_flag(shop):
    shop.forget("c-1")
    scn = ek.Scenario(shop, name="no o-2").drop(streams=["o-2"])
    events = scn.read_all().set_index("stream_id")
    assert events.erased.to_dict() == {"c-1": True, "c-2": False, "o-1": True, "o-3": True}
    assert events.address.isna().to_dict()["o-1"]
    state = MAIN_STREET.state(scn).set_index("stream_id")
    assert state.erased.to_dict() == {"o-1": True, "o-3": True}
    added = ek.Scenario(shop).add(pd.DataFrame({"stream_id": ["o-9"], "event_type": ["OrderPlaced"],
                                                "stream_type": ["order"], "occurred_at": ["2024-01-02"],
                                                "address": ["5 Main St"], "total": [2.0]}))
    assert MAIN_STREET.state(added).set_index("stream_id").erased.to_dict() == {
        "o-1": True, "o-2": False, "o-3": True, "o-9": False}
    assert ADDRESSES.state(scn, workers=1).set_index("stream_id").erased.to_dict() == {"o-1": True, "o-3": True}
    overlay = scn.compare_aggregate(MAIN_STREET, every="1D", values={"main_st": ("main_st", "sum")})
    assert overlay.erased.tolist() == [True, True]


def test_a_report_series_keeps_the_flag(shop):
    from eventkit.report.frames import series_frame

    shop.forget("c-1")
    series = series_frame(shop, MAIN_STREET, {"every": "1D", "values": {"main_st": ["main_st", "sum"]}})
    assert series.erased.tolist() == [True]


def test_stores_without_personal_fields_get_no_flag_anywhere(tmp_path):
    with ek.open_store(tmp_path / "plain") as plain:
        plain.append("o-1", [ek.Event("OrderPlaced", {"address": "1 Main St", "total": 10.0},
                                      occurred_at="2024-01-02")], stream_type="order")
        addresses = ek.PyFold("addresses", stream_type="order", initial=lambda: {"address": None},
                              handlers={"OrderPlaced": lambda s, e: s.__setitem__("address", e.address)})
        outputs = [addresses.state(plain, workers=1), addresses.changes(plain), MAIN_STREET.state(plain),
                   MAIN_STREET.aggregate(plain, every="1D", values={"main_st": "sum"}),
                   ek.Scenario(plain).read_all(), MAIN_STREET.state(ek.Scenario(plain))]
        assert not any("erased" in o.columns for o in outputs)
        assert list(outputs[0].columns) == ["stream_id", "address", "version", "position"]


def test_trend_helpers_keep_the_flag(shop):
    """resample, change and top_movers of a flagged series say which of their rows involve erased values."""
    from eventkit import trends

    shop.forget("c-1")
    series = MAIN_STREET.snapshots(shop, every="1D", start="2024-01-02", end="2024-01-04")
    expect = {"o-1": True, "o-2": False, "o-3": True}
    weekly = trends.resample(series, "1W")
    assert weekly.groupby("stream_id").erased.all().to_dict() == expect
    changed = trends.change(series)
    assert changed.groupby("stream_id").erased.all().to_dict() == expect
    movers = trends.top_movers(series, "main_st", "2024-01-02", "2024-01-04", fill_value=0.0)
    assert movers.set_index("stream_id").erased.to_dict() == expect
    plain = MAIN_STREET.snapshots(shop, every="1D").drop(columns="erased")
    assert "erased" not in trends.change(plain).columns and "erased" not in trends.resample(plain, "1W").columns


def test_a_state_saved_at_the_moment_of_a_forget_does_not_survive(shop):
    """Another process forgets the subject while this one writes a fold state computed before: the state
    (plain text of the erased name) is neither recorded nor left as a file, and the next fold is erased."""
    fold = ek.Fold("customer", stream_type="customer", fields={"name": ek.last("name")})
    other = ek.open_store(shop.path)
    write_once = shop.files.write_once

    def write_then_forget(rel, write):
        out = write_once(rel, write)
        if not other_forgot:
            other_forgot.append(other.forget("c-1"))
        return out

    other_forgot: list[int] = []
    shop.files.write_once = write_then_forget
    try:
        fold.save_snapshot(shop)
    finally:
        shop.files.write_once = write_once
        other.close()
    assert other_forgot == [1]
    assert not any(_parquet_holds(p, "Ann") for p in (shop.path / "fold_states").rglob("*.parquet"))
    state = fold.state(shop).set_index("stream_id")
    assert pd.isna(state.loc["c-1", "name"]) and state.loc["c-1", "erased"] and state.loc["c-2", "name"] == "Bob"
