"""Folds over the NYC flights of 2013 (eventkit.datasets.nycflights13_events), one stream per aircraft."""

from __future__ import annotations

import eventkit as ek

#: One row per aircraft (tail number): what it flew, how late, for which carrier.
aircraft = ek.Fold("aircraft", stream_type="aircraft", fields={
    "carrier": ek.last("carrier"),
    "tailnum": ek.last("tailnum"),  # null for a flight whose aircraft is unknown (its own stream)
    "flights": ek.count(event_types=["Departed"]),
    "cancelled": ek.count(event_types=["Cancelled"]),
    "dep_delay_minutes": ek.sum("dep_delay", event_types=["Departed"]).fill_null(0),
    "late_departures": ek.count(event_types=["Departed"], where="dep_delay > 15"),
    "miles": ek.sum("distance", event_types=["Arrived"]).fill_null(0),
    "air_minutes": ek.sum("air_time", event_types=["Arrived"]).fill_null(0),
})
