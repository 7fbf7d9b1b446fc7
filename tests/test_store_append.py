"""The append contract (DESIGN invariants 2-5), run against every storage mode."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

import eventkit as ek

UTC = dt.timezone.utc


def deposits(stream_ids, amounts=None, **extra) -> pd.DataFrame:
    amounts = amounts or [float(i + 1) for i in range(len(stream_ids))]
    return pd.DataFrame({"stream_id": stream_ids, "event_type": "Deposited", "amount": amounts, **extra})


def test_append_returns_positions_and_version(store):
    r = store.append("acct-1", [ek.Event("Opened", {"owner": "ann"}), ek.Event("Deposited", {"amount": 10})],
                     expected_version=ek.NO_STREAM, stream_type="account")
    assert (r.first_position, r.last_position, r.version) == (1, 2, 2)
    assert list(r.positions) == [1, 2]
    r2 = store.append("acct-1", ek.Event("Deposited", {"amount": 5}), expected_version=2)
    assert (r2.first_position, r2.version) == (3, 3)
    assert store.stream_version("acct-1") == 3
    assert store.stream_version("nope") == 0
    assert store.head == 3


@pytest.mark.parametrize(
    "expected, exists, ok",
    [
        (ek.ANY, False, True), (ek.ANY, True, True),
        (ek.NO_STREAM, False, True), (ek.NO_STREAM, True, False),
        (ek.STREAM_EXISTS, False, False), (ek.STREAM_EXISTS, True, True),
        (0, False, True), (0, True, False), (1, True, True), (2, True, False),
    ],
)
def test_expected_version(store, expected, exists, ok):
    if exists:
        store.append("s", ek.Event("Opened"))
    if ok:
        store.append("s", ek.Event("Touched"), expected_version=expected)
    else:
        with pytest.raises(ek.WrongExpectedVersion) as err:
            store.append("s", ek.Event("Touched"), expected_version=expected)
        assert err.value.stream_id == "s"
        assert err.value.actual == (1 if exists else 0)
        assert "'s'" in str(err.value) and "actual version is" in str(err.value)


def test_wrong_expected_version_is_an_eventkit_error():
    assert issubclass(ek.WrongExpectedVersion, ek.EventKitError)
    assert issubclass(ek.InvalidInput, ek.EventKitError)


def test_append_frame_many_streams_in_frame_order(store):
    r = store.append_frame(deposits(["a", "b", "a", "c", "a"]), stream_type="account")
    assert (r.first_position, r.last_position) == (1, 5)
    assert r.versions == {"a": 3, "b": 1, "c": 1}
    df = store.read_all()
    assert df["position"].tolist() == [1, 2, 3, 4, 5]
    assert df["stream_id"].tolist() == ["a", "b", "a", "c", "a"]
    assert df["version"].tolist() == [1, 1, 2, 1, 3]
    assert df["amount"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert set(df["stream_type"]) == {"account"}


def test_append_frame_accepts_arrow(store):
    table = pa.table({"stream_id": ["x", "y"], "event_type": ["E", "E"], "n": [1, 2]})
    store.append_frame(table)
    assert store.read_all()["n"].tolist() == [1, 2]


def test_append_frame_explicit_versions_allow_gaps(store):
    store.append_frame(deposits(["a", "a", "b"], version=[2, 5, 1]))
    assert store.stream_version("a") == 5
    store.append_frame(deposits(["a"], version=[9]))
    assert store.read_stream("a")["version"].tolist() == [2, 5, 9]


def test_append_frame_expected_versions_mapping(store):
    store.append_frame(deposits(["a", "b"]))
    r = store.append_frame(deposits(["a", "b", "c"]), expected_versions={"a": 1, "c": ek.NO_STREAM})
    assert r.versions == {"a": 2, "b": 2, "c": 1}
    with pytest.raises(ek.WrongExpectedVersion):
        store.append_frame(deposits(["a", "b"]), expected_versions=ek.NO_STREAM)


def test_failed_multi_stream_append_changes_nothing(store):
    """Invariant 4: one conflicting stream fails the whole append, for every stream."""
    store.append_frame(deposits(["a", "b"]))
    before = store.read_all()
    with pytest.raises(ek.WrongExpectedVersion):
        store.append_frame(deposits(["a", "b", "new"]), expected_versions={"a": 1, "b": 7})
    pd.testing.assert_frame_equal(store.read_all(), before)
    assert store.stream_version("new") == 0 and store.head == 2


def test_positions_unique_increasing_and_recorded_at_monotonic(store):
    """Invariant 2 and 3 over a mix of single and frame appends."""
    for i in range(20):
        if i % 3:
            store.append(f"s{i % 4}", [ek.Event("E", {"i": i}), ek.Event("F", {"i": i})])
        else:
            store.append_frame(deposits([f"s{j % 4}" for j in range(i, i + 5)]))
    df = store.read_all()
    assert df["position"].is_unique and df["position"].is_monotonic_increasing
    assert df["position"].tolist() == list(range(1, len(df) + 1))
    assert df["recorded_at"].is_monotonic_increasing
    for _, g in df.groupby("stream_id"):
        assert g["version"].is_unique and g["version"].is_monotonic_increasing


def test_occurred_at_defaults_to_recorded_and_naive_means_utc(store):
    store.append("s", [ek.Event("A"), ek.Event("B", occurred_at=dt.datetime(2024, 5, 1, 12, 0))])
    df = store.read_stream("s")
    assert df["occurred_at"][0] == df["recorded_at"][0]
    assert df["occurred_at"][1] == pd.Timestamp("2024-05-01 12:00", tz="UTC")


def test_occurred_at_time_zones_convert_to_utc(store):
    frame = pd.DataFrame({
        "stream_id": ["s", "s"], "event_type": ["A", "B"],
        "occurred_at": pd.to_datetime(["2024-05-01 12:00", "2024-05-01 13:00"]).tz_localize("Europe/Paris"),
    })
    store.append_frame(frame)
    assert store.read_stream("s")["occurred_at"].tolist() == [
        pd.Timestamp("2024-05-01 10:00", tz="UTC"), pd.Timestamp("2024-05-01 11:00", tz="UTC")]


def test_metadata_round_trips(store):
    store.append("s", ek.Event("A", {"x": 1}, metadata={"correlation_id": "c-1", "n": 3}))
    store.append_frame(pd.DataFrame({"stream_id": ["t"], "event_type": ["B"], "metadata": [{"causation_id": "e-9"}]}))
    md = store.sql("SELECT stream_id, metadata['correlation_id'] AS c, metadata['causation_id'] AS k, metadata['n'] AS n "
                   "FROM events ORDER BY position").fetchall()
    assert md == [("s", "c-1", None, "3"), ("t", None, "e-9", None)]


# -- idempotency (invariant 5) ------------------------------------------------------------------


def test_resending_identical_append_reports_original(store):
    events = [ek.Event("Deposited", {"amount": 10}, event_id="e-1"), ek.Event("Deposited", {"amount": 5}, event_id="e-2")]
    first = store.append("acct", events, expected_version=ek.NO_STREAM)
    store.append("other", ek.Event("X"))
    again = store.append("acct", events, expected_version=ek.NO_STREAM)
    assert again.duplicate and not first.duplicate
    assert (again.first_position, again.last_position, again.versions) == (1, 2, {"acct": 2})
    assert store.head == 3


def test_resending_identical_frame_reports_original(store):
    frame = deposits(["a", "b", "a"], event_id=["i1", "i2", "i3"])
    first = store.append_frame(frame)
    again = store.append_frame(frame)
    assert again.duplicate and again.versions == first.versions == {"a": 2, "b": 1}
    assert store.head == 3


def test_same_id_other_content_is_an_error(store):
    store.append("acct", ek.Event("Deposited", {"amount": 10}, event_id="e-1"))
    with pytest.raises(ek.DuplicateEventId, match="e-1"):
        store.append("acct", ek.Event("Deposited", {"amount": 11}, event_id="e-1"))
    with pytest.raises(ek.DuplicateEventId):
        store.append_frame(deposits(["acct"], [10.0], event_id=["e-1"]).assign(event_type="Withdrawn"))
    assert store.head == 1


def test_partly_stored_ids_are_an_error(store):
    store.append("acct", ek.Event("Deposited", {"amount": 10}, event_id="e-1"))
    with pytest.raises(ek.DuplicateEventId, match="all or nothing"):
        store.append("acct", [ek.Event("Deposited", {"amount": 10}, event_id="e-1"), ek.Event("X", event_id="e-2")])
    assert store.head == 1


def test_int_and_float_payloads_compare_equal_on_resend(store):
    store.append("a", ek.Event("D", {"amount": 10}, event_id="x"))
    store.append("a", ek.Event("D", {"amount": 1.5}))  # widens the field to DOUBLE
    assert store.append("a", ek.Event("D", {"amount": 10}, event_id="x")).duplicate


def test_generated_ids_are_unique_and_recognised_when_sent_back(store):
    """Ids the store makes encode its position, so a copy sent back is caught without an index."""
    store.append_frame(deposits(["a", "b", "a"]))
    store.append("c", ek.Event("X", {"amount": 1.0}))
    back = store.read_all()
    assert back["event_id"].is_unique
    again = store.append_frame(back[["stream_id", "event_type", "event_id", "amount"]].iloc[:3])
    assert again.duplicate and (again.first_position, again.last_position) == (1, 3)
    with pytest.raises(ek.DuplicateEventId):
        store.append("c", ek.Event("X", {"amount": 2.0}, event_id=back["event_id"].iloc[3]))
    future = back["event_id"].iloc[0][:-12] + f"{999:012x}"
    with pytest.raises(ek.DuplicateEventId, match="not written yet"):
        store.append("c", ek.Event("X", event_id=future))
    assert store.head == 4


def test_other_stores_ids_are_ordinary_ids(tmp_path):
    one, two = ek.open_store(tmp_path / "one"), ek.open_store(tmp_path / "two")
    one.append("a", ek.Event("X", {"n": 1}))
    copied = one.read_all()[["stream_id", "event_type", "event_id", "n"]]
    assert not two.append_frame(copied).duplicate
    assert two.append_frame(copied).duplicate


def test_resending_append_where_some_events_carry_ids_reports_the_original(store):
    """Issue 7 item 5: a re-send of a mixed-id append reports the original positions and versions."""
    store.append("acct", ek.Event("Opened"))
    events = [ek.Event("Deposited", {"amount": 1.0}), ek.Event("Deposited", {"amount": 2.0}, event_id="m-2"),
              ek.Event("Deposited", {"amount": 3.0})]
    first = store.append("acct", events)
    store.append("acct", ek.Event("Deposited", {"amount": 9.0}))
    again = store.append("acct", events)
    assert again.duplicate
    assert (again.first_position, again.last_position, again.versions) == (2, 4, {"acct": 4}) == (
        first.first_position, first.last_position, first.versions)
    frame = deposits(["a", "b", "a"], event_id=[None, "f-2", None])
    first = store.append_frame(frame)
    again = store.append_frame(frame)
    assert again.duplicate and (again.first_position, again.last_position, again.versions) == (
        first.first_position, first.last_position, first.versions)
    assert store.head == 8


def test_resend_with_ids_matching_but_other_id_less_events_is_an_error(store):
    """The id-less events of a mixed-id re-send must be the stored ones too, in the same places."""
    store.append("acct", [ek.Event("Deposited", {"amount": 1.0}), ek.Event("Deposited", {"amount": 2.0}, event_id="m-2")])
    with pytest.raises(ek.DuplicateEventId, match="m-2"):
        store.append("acct", [ek.Event("Deposited", {"amount": 5.0}), ek.Event("Deposited", {"amount": 2.0}, event_id="m-2")])
    with pytest.raises(ek.DuplicateEventId, match="m-2"):
        store.append("acct", [ek.Event("Deposited", {"amount": 2.0}, event_id="m-2"), ek.Event("Deposited", {"amount": 1.0})])
    assert store.head == 2


def test_nat_occurred_at_means_when_recorded_on_every_path(store):
    """A NaT occurred_at is a null: "when recorded" in an ek.Event as in a frame column (one rule)."""
    store.append("a", ek.Event("X", occurred_at=pd.NaT))
    store.append_frame(pd.DataFrame({"stream_id": ["b"], "event_type": "X",
                                     "occurred_at": pd.Series([pd.NaT], dtype="datetime64[us, UTC]")}))
    df = store.read_all()
    assert (df["occurred_at"] == df["recorded_at"]).all()
