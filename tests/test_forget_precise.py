"""The erasure flag is per field (issue 13, item 4): a value reads as erased only when that field held an
encrypted value whose key is gone. A personal field an event simply never had (NULL, never set) is not
erased, even on an event that lost another personal field."""

from __future__ import annotations

import pandas as pd
import pytest

import eventkit as ek


@pytest.fixture
def shop(tmp_path) -> ek.Store:
    """Ann registered with a name and no email; Bob with both. Ann is forgotten."""
    store = ek.open_store(tmp_path / "shop")
    store.declare_personal(stream_type="customer", fields=["name", "email"])
    store.append("c-1", [ek.Event("Registered", {"name": "Ann", "tier": 1}, occurred_at="2024-01-01")],
                 stream_type="customer")
    store.append("c-2", [ek.Event("Registered", {"name": "Bob", "email": "bob@example.com", "tier": 1},
                                  occurred_at="2024-01-01")], stream_type="customer")
    store.forget("c-1")
    yield store
    store.close()


def test_reads_say_which_fields_were_erased(shop):
    """``erased`` says the event lost a personal field; ``erased_fields`` says which: an absent email is no erased one."""
    frame = shop.read_all().set_index("stream_id")
    assert frame.loc["c-1", "erased"] and not frame.loc["c-2", "erased"]
    assert list(frame.loc["c-1", "erased_fields"]) == ["name"] and list(frame.loc["c-2", "erased_fields"]) == []
    missing_email = frame.email.isna() & ~frame.erased_fields.map(lambda f: "email" in f)
    assert missing_email.to_dict() == {"c-1": True, "c-2": False}
    assert shop.sql("SELECT stream_id FROM events WHERE list_contains(erased_fields, 'email')").fetchall() == []
    assert shop.sql("SELECT stream_id FROM events WHERE erased").fetchall() == [("c-1",)]
    record = shop.read_stream("c-1", output="records")[0]
    assert record.erased and record.erased_fields == ("name",) and "email" not in record.data


def test_a_fold_reading_only_a_never_set_field_is_not_flagged(shop):
    emails = ek.Fold("emails", stream_type="customer", fields={"email": ek.last("email"),
                                                               "without": ek.count(where="email IS NULL")})
    state = emails.state(shop).set_index("stream_id")
    assert state.without.to_dict() == {"c-1": 1, "c-2": 0}
    assert state.erased.to_dict() == {"c-1": False, "c-2": False}
    names = ek.Fold("names", stream_type="customer", fields={"name": ek.last("name")})
    assert names.state(shop).set_index("stream_id").erased.to_dict() == {"c-1": True, "c-2": False}
    series = emails.snapshots(shop, every="1D", start="2024-01-01", end="2024-01-02")
    assert not series.erased.any()
    total = emails.aggregate(shop, every="1D", values={"without": "sum"}, start="2024-01-01", end="2024-01-02")
    assert total.without.tolist() == [1, 1] and not total.erased.any()


def test_a_python_fold_loading_only_a_never_set_field_is_not_flagged(shop):
    def seen(state, event):
        state["email"] = event.email
        state["lost"] = list(event.erased_fields)

    fold = ek.PyFold("emails", stream_type="customer", initial=lambda: {"email": None, "lost": []},
                     columns=["email"], handlers={"Registered": seen})
    state = fold.state(shop, workers=1).set_index("stream_id")
    assert state.erased.to_dict() == {"c-1": False, "c-2": False}
    assert state.lost.to_dict() == {"c-1": ["name"], "c-2": []}
    named = ek.PyFold("names", stream_type="customer", initial=lambda: {"name": None}, columns=["name"],
                      handlers={"Registered": lambda s, e: s.__setitem__("name", e.name)})
    assert named.state(shop, workers=1).set_index("stream_id").erased.to_dict() == {"c-1": True, "c-2": False}


def test_a_scenario_keeps_the_fields_and_a_change_that_sets_one_clears_it(shop):
    scn = ek.Scenario(shop)
    emails = ek.Fold("emails", stream_type="customer", fields={"email": ek.last("email")})
    assert not emails.state(scn).erased.any()
    events = scn.read_all().set_index("stream_id")
    assert list(events.loc["c-1", "erased_fields"]) == ["name"] and events.loc["c-1", "erased"]
    renamed = scn.change(where="stream_id = 'c-1'", set={"name": "'Anonymous'"})
    after = renamed.read_all().set_index("stream_id")
    assert after.loc["c-1", "name"] == "Anonymous" and not after.loc["c-1", "erased"]
    assert list(after.loc["c-1", "erased_fields"]) == []
    assert not ek.Fold("names", stream_type="customer", fields={"name": ek.last("name")}).state(renamed).erased.any()


def test_stores_without_personal_fields_have_neither_column(tmp_path):
    with ek.open_store(tmp_path / "plain") as plain:
        plain.append("c-1", [ek.Event("Registered", {"name": "Ann"})], stream_type="customer")
        assert not {"erased", "erased_fields"} & set(plain.read_all().columns)
        assert not {"erased", "erased_fields"} & set(plain.sql("SELECT * FROM events").columns)
        assert not {"erased", "erased_fields"} & set(ek.Scenario(plain).read_all().columns)
        assert isinstance(plain.read_all(), pd.DataFrame)


def _note(state, event):
    state["n"] += 1
    state["erased"] = state["erased"] or event.erased
    state["lost"] = sorted({*state["lost"], *event.erased_fields})


NOTES = ek.PyFold("notes", stream_type="customer", initial=lambda: {"n": 0, "erased": False, "lost": []},
                  handlers={"*": _note})


def test_one_python_fold_runs_on_stores_with_and_without_personal_fields(shop, tmp_path):
    """Handlers see ``event.erased`` and ``event.erased_fields`` on every store: False and () where nothing can be erased."""
    with ek.open_store(tmp_path / "plain") as plain:
        plain.append("c-1", [ek.Event("Registered", {"name": "Ann"})], stream_type="customer")
        state = NOTES.state(plain, workers=1)
        assert state[["n", "erased", "lost"]].to_dict("records") == [{"n": 1, "erased": False, "lost": []}]
        assert NOTES.changes(plain, workers=1).erased.tolist() == [False]
    state = NOTES.state(shop, workers=1).set_index("stream_id")
    assert state.lost.to_dict() == {"c-1": ["name"], "c-2": []} and state.erased.to_dict() == {"c-1": True, "c-2": False}


def test_a_payload_field_named_erased_keeps_its_value(tmp_path):
    with ek.open_store(tmp_path / "plain") as plain:
        plain.append("c-1", [ek.Event("Registered", {"erased": "yes"})], stream_type="customer")
        fold = ek.PyFold("f", stream_type="customer", initial=lambda: {"v": None},
                         handlers={"*": lambda s, e: s.__setitem__("v", (e.erased, e.erased_fields))})
        assert fold.state(plain, workers=1).v.tolist() == [("yes", ())]


def test_erased_fields_read_as_tuples_everywhere(shop):
    """Frames, scenario frames, records and Python fold events give the same thing: a tuple of field names."""
    assert shop.read_stream("c-1").erased_fields.tolist() == [("name",)]
    assert shop.read_stream("c-2").erased_fields.tolist() == [()]
    assert ek.Scenario(shop).read_all().set_index("stream_id").erased_fields.to_dict() == {"c-1": ("name",), "c-2": ()}
    assert shop.read_stream("c-1", output="records")[0].erased_fields == ("name",)
