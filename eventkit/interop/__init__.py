"""Bridges between eventkit and other event-sourcing tools.

- :mod:`eventkit.interop.eventsourcing`: a persistence module for the ``eventsourcing`` library.
- :mod:`eventkit.interop.import_eventsourcing`: copy an eventsourcing SQLite database's history
  into a store, incrementally.
"""
