"""Hostile values against personal fields (crypto-shredding): what the store accepts reads back exactly,
what it cannot it refuses up front, leaving the store byte-identical."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import eventkit as ek
from eventkit.store.file_import import import_file

LOOKS_ENCRYPTED = ["ek2:0123456789abcdef:AAAA", "ek2:", "ek1:whatever"]


def _files(path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file())


@pytest.fixture
def shop(tmp_path):
    with ek.open_store(tmp_path / "s", bulk_threshold=5) as store:
        store.declare_personal(event_type="Registered", fields=["name"], subject="customer_id")
        store.append("c-1", [ek.Event("Registered", {"name": "Ann", "customer_id": "c-1"})])
        yield store


@pytest.mark.parametrize("value", LOOKS_ENCRYPTED)
@pytest.mark.parametrize("bulk", [False, True])
def test_text_shaped_like_a_token_in_an_undeclared_event_is_refused_not_read_as_erased(shop, tmp_path, value, bulk):
    """A field declared personal for one event type, held in plain text by another: a value shaped like
    an encrypted one would read back as NULL (an erased value); it is refused, the store unchanged."""
    shop.seal()
    before = _files(tmp_path / "s")
    with pytest.raises(ek.InvalidInput, match="name"):
        if bulk:
            shop.append_frame(pd.DataFrame({"stream_id": ["x"] * 6, "event_type": "Renamed",
                                            "name": [value] + ["plain"] * 5}))
        else:
            shop.append("x", [ek.Event("Renamed", {"name": value})])
    assert _files(tmp_path / "s") == before


def test_plain_text_in_an_undeclared_event_reads_back(shop):
    shop.append("x", [ek.Event("Renamed", {"name": "Bea"})])
    shop.append_frame(pd.DataFrame({"stream_id": ["y"] * 6, "event_type": "Renamed", "name": list("abcdef")}))
    names = shop.read_all().set_index("position")["name"]
    assert names.tolist() == ["Ann", "Bea", *"abcdef"]


@pytest.mark.parametrize("value", LOOKS_ENCRYPTED)
def test_a_declaration_over_stored_text_shaped_like_a_token_is_refused(tmp_path, value):
    """Events of another type hold the field in plain text, one value shaped like a token: declaring the
    field personal (for a different event type) would make that value read as NULL: refused."""
    with ek.open_store(tmp_path / "s") as store:
        store.append("x", [ek.Event("Renamed", {"name": value})])
        with pytest.raises(ek.InvalidInput, match="name"):
            store.declare_personal(event_type="Registered", fields=["name"], subject="customer_id")
        assert store.read_all()["name"].tolist() == [value]


def test_a_number_subject_is_one_subject_whether_it_arrives_as_int_or_float(tmp_path):
    """A subject field holding numbers: a frame with a missing value makes the column float (pandas), so
    customer 1 arrives as 1 in one append and as 1.0 in another. Both are the same subject: forget("1")
    erases all of them (it erased only the int ones, leaving the float ones readable)."""
    with ek.open_store(tmp_path / "s", bulk_threshold=3) as store:
        store.declare_personal(event_type="Ordered", fields=["addr"], subject="cid")
        store.append("o-1", [ek.Event("Ordered", {"addr": "A", "cid": 1})])
        store.append("o-2", [ek.Event("Ordered", {"addr": "B", "cid": 1.0})])
        store.append_frame(pd.DataFrame({"stream_id": "o-3", "event_type": ["Ordered", "Other", "Ordered", "Ordered"],
                                         "addr": ["C", None, "D", "E"], "cid": [1, None, 1, 1]}))
        store.append_frame(pd.DataFrame({"stream_id": "o-4", "event_type": "Ordered", "addr": list("FGHI"),
                                         "cid": pd.array([1, 1, 2, 2], "Int64")}))
        assert store.forget("1") >= 1
        events = store.read_all()
        left = events[events.cid == 1]
        assert left.addr.isna().all() and left.erased.all()
        assert events[events.cid == 2].addr.tolist() == ["H", "I"]
        assert store.forget("2") == 1


@pytest.mark.parametrize("rows", [1, 6])  # a hot append, a bulk one
def test_a_subject_field_personal_under_another_declaration_still_names_the_subject(tmp_path, rows):
    """customer_id is personal in customer streams and the subject of OrderPlaced's address. A bulk append
    took the subject from the already encrypted column, so the address was keyed under the ciphertext and
    forget("cust-1") refused ('no personal data'), leaving it readable for good."""
    with ek.open_store(tmp_path / "s", bulk_threshold=5) as store:
        store.declare_personal(stream_type="customer", fields=["customer_id"])
        store.declare_personal(event_type="OrderPlaced", fields=["address"], subject="customer_id")
        store.append_frame(pd.DataFrame({"stream_id": "k-1", "stream_type": "customer", "event_type": "OrderPlaced",
                                         "customer_id": ["cust-1"] * rows, "address": ["1 Main St"] * rows}))
        assert store.forget("cust-1") == 1
        events = store.read_all()
        assert events["address"].isna().all() and events["customer_id"].eq("cust-1").all()
        assert store.forget("k-1") == 1
        assert store.read_all()["customer_id"].isna().all()


def test_a_declaration_cannot_drop_a_field_whose_values_are_stored_encrypted(tmp_path):
    """Declaring a stream type again with fewer fields made the dropped field's stored values read as
    their ciphertext ('ek2:...') and escape forget; refused (nothing changes). A field with no stored
    value may still be dropped (a typo in the first declaration)."""
    with ek.open_store(tmp_path / "s") as store:
        store.declare_personal(stream_type="c", fields=["name", "email", "emial"])
        store.append("c-1", [ek.Event("R", {"name": "Ann", "email": "a@x"})], stream_type="c")
        with pytest.raises(ek.InvalidInput, match="email"):
            store.declare_personal(stream_type="c", fields=["name"])
        store.declare_personal(stream_type="c", fields=["name", "email"])  # drops the never-used 'emial'
        assert store.personal_declarations() == [{"stream_type": "c", "fields": ["name", "email"], "subject": "stream_id"}]
        assert store.read_all()["email"].tolist() == ["a@x"]
        store.forget("c-1")
        assert store.read_all()["email"].isna().all()


@pytest.mark.parametrize("kwargs", [
    {"event_type": "E", "fields": ["a"], "subject": "event_type"},  # an envelope column other than stream_id
    {"event_type": "E", "fields": ["a"], "subject": "position"},
    {"stream_type": "", "fields": ["a"]},  # no stream can have this type
    {"stream_type": "a/b", "fields": ["a"]},
    {"event_type": 5, "fields": ["a"]},
    {"event_type": "", "fields": ["a"]},
])
def test_a_declaration_no_event_could_satisfy_is_refused(tmp_path, kwargs):
    """Accepted before, then every append of such an event failed ('no subject field'), or the
    declaration could never apply."""
    with ek.open_store(tmp_path / "s") as store:
        with pytest.raises(ek.InvalidInput):
            store.declare_personal(**kwargs)
        assert store.personal_declarations() == []


def test_ids_derived_from_an_imported_file_do_not_depend_on_personal_values(tmp_path):
    """An import derives each row's event id from its content. With the personal value in that content,
    the id stayed after forget as an MD5 of the row: guessing names and hashing them with the row's other
    (stored, plain) cells gave the erased name back. Personal fields stay out of the derived id; a re-run
    still stores nothing twice (two rows differing only in a personal value stay two events)."""
    ids = []
    for name in ("Ann", "Zoe"):
        csv = tmp_path / f"{name}.csv"
        csv.write_text(f"stream_id,event_type,name,tier\nc-1,Registered,{name},1\nc-1,Renamed,{name}x,1\n"
                       f"c-1,Renamed,{name}y,1\n")
        with ek.open_store(tmp_path / name) as store:
            store.declare_personal(stream_type="customer", fields=["name"])
            assert import_file(store, str(csv), fmt="csv", stream_type="customer").imported == 3
            assert import_file(store, str(csv), fmt="csv", stream_type="customer").imported == 0
            events = store.read_all()
            assert events["name"].tolist() == [name, f"{name}x", f"{name}y"]
            ids.append(events["event_id"].tolist())
    assert ids[0] == ids[1] and len(set(ids[0])) == 3


@pytest.mark.parametrize("rows", [1, 6])
def test_an_empty_subject_is_refused_because_it_could_never_be_forgotten(tmp_path, rows):
    """customer_id "" was accepted as a subject, but forget("") is refused: the values were un-erasable."""
    with ek.open_store(tmp_path / "s", bulk_threshold=5) as store:
        store.declare_personal(event_type="Ordered", fields=["addr"], subject="customer_id")
        with pytest.raises(ek.InvalidInput, match="customer_id"):
            store.append_frame(pd.DataFrame({"stream_id": "o-1", "event_type": "Ordered",
                                             "customer_id": [""] * rows, "addr": ["1 Main St"] * rows}))
        assert store.head == 0
        store.append("o-1", [ek.Event("Ordered", {"customer_id": "a\x00b", "addr": "2 Side St"})])
        assert store.forget("a\x00b") == 1 and store.read_all()["addr"].isna().all()


def test_an_empty_subject_in_a_categorical_column_is_refused(tmp_path):
    with ek.open_store(tmp_path / "s", bulk_threshold=5) as store:
        store.declare_personal(event_type="Ordered", fields=["addr"], subject="customer_id")
        with pytest.raises(ek.InvalidInput, match="customer_id"):
            store.append_frame(pd.DataFrame({"stream_id": "o-1", "event_type": "Ordered",
                                             "customer_id": pd.Categorical(["", "c"] * 3), "addr": ["x"] * 6}))
        assert store.head == 0


@pytest.mark.parametrize("value", [dt.datetime(2020, 1, 1, 12, 30, 0, 5, tzinfo=dt.timezone.utc), dt.date(2020, 1, 2),
                                   b"\x00\xff", True])
def test_a_subject_of_any_type_is_the_same_subject_in_hot_and_bulk_appends(tmp_path, value):
    """A time as the subject was keyed '2020-01-01T12:30:00.000005+00:00' by a hot append and
    '2020-01-01 12:30:00.000005+00:00' by a bulk one (bytes: base64 text against "b'...'"), so one
    forget missed the other's events."""
    with ek.open_store(tmp_path / "s", bulk_threshold=3) as store:
        store.declare_personal(event_type="E", fields=["v"], subject="who")
        store.append("a", [ek.Event("E", {"v": "x", "who": value})])
        as_object = not isinstance(value, (dt.datetime, bool))  # dates and bytes: pandas keeps them as objects
        store.append_frame(pd.DataFrame({"stream_id": ["b"] * 4, "event_type": "E", "v": list("abcd"),
                                         "who": pd.Series([value] * 4, dtype=object if as_object else None)}))
        with store._catalog.read() as conn:
            subjects = [s for (s,) in conn.execute("SELECT subject FROM subject_keys").fetchall()]
        assert len(subjects) == 1, subjects
        assert store.forget(subjects[0]) == 1
        assert store.read_all()["v"].isna().all()


@pytest.mark.parametrize("rows", [3, 40])
def test_a_re_run_finds_rows_an_import_stored_under_ids_with_their_personal_values(tmp_path, monkeypatch, rows):
    """Imports before personal fields were left out of derived ids (or before the field was declared
    personal) stored rows under ids hashed with their personal values. Re-running the same file must not
    store those rows again under the new ids."""
    csv = tmp_path / "customers.csv"
    csv.write_text("stream_id,event_type,name,tier\n" + "".join(f"c-{i % 7},Renamed,N{i},1\n" for i in range(rows)))
    with ek.open_store(tmp_path / "s", bulk_threshold=20) as store:
        store.declare_personal(stream_type="customer", fields=["name"])
        with monkeypatch.context() as m:  # the import as it was: personal values hashed into the ids
            m.setattr(type(store), "personal_state", lambda self: ([], 0))
            assert import_file(store, str(csv), fmt="csv", stream_type="customer").imported == rows
        with csv.open("a") as f:
            f.write("c-1,Renamed,Late,2\n")  # a row added since: it alone imports
        again = import_file(store, str(csv), fmt="csv", stream_type="customer")
        assert (again.imported, again.already_stored) == (1, rows)
        assert len(store.read_all()) == rows + 1
        assert import_file(store, str(csv), fmt="csv", stream_type="customer").imported == 0


@pytest.mark.parametrize("bulk", [False, True])
def test_forget_of_a_number_reaches_keys_stored_under_its_legacy_float_spelling(tmp_path, monkeypatch, bulk):
    """Stores written before number subjects were spelled as digits keyed customer 1 from a float column
    (a frame with a missing value) as "1.0": forget("1") must destroy those keys too, and only those of
    exactly that number ("1.5", "10.0" and "11" stay readable)."""
    from eventkit.store import shredding_writes

    with ek.open_store(tmp_path / "s", bulk_threshold=3 if bulk else 1000) as store:
        store.declare_personal(event_type="Ordered", fields=["addr"], subject="cid")
        with monkeypatch.context() as m:  # the pre-fix spelling: str() of the value as it arrived
            m.setattr(shredding_writes, "subject_text", str)
            store.append_frame(pd.DataFrame({"stream_id": "o-1", "event_type": ["Ordered", "Other"] * 3,
                                             "addr": ["A", None, "B", None, "C", None],
                                             "cid": [1.0, None, 1.5, None, 10.0, None]}))
        store.append("o-2", [ek.Event("Ordered", {"addr": "D", "cid": 1}), ek.Event("Ordered", {"addr": "E", "cid": 11})])
        with store._catalog.read() as tx:
            assert set(store._catalog.subject_keys(tx, ["1", "1.0", "1.5", "10.0", "11"])) == {"1", "1.0", "1.5",
                                                                                               "10.0", "11"}
        assert store.forget("1") == 2  # "1" and "1.0"
        events = store.read_all().query("event_type == 'Ordered'")
        assert events.addr.isna().sum() == 2  # A (1.0) and D (1) erased
        assert sorted(events.addr.dropna()) == ["B", "C", "E"]
        assert events[events.cid == 1].erased.all() and not events[events.cid != 1].erased.any()
        assert store.forget("1") == 0  # idempotent: nothing left under either spelling
        assert "OK" in str(store.verify())
