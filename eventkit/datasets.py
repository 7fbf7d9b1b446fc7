"""Public import path ``eventkit.datasets``; the code lives in :mod:`eventkit.samples.flights`."""
from __future__ import annotations

from eventkit.samples.flights import FLIGHT_EVENT_TYPES, nycflights13_events

__all__ = ['FLIGHT_EVENT_TYPES', 'nycflights13_events']
