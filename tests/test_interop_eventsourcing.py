"""eventkit as a persistence module for the eventsourcing library: that library's own recorder test
cases, subclassed with eventkit's recorders, in each storage mode (issue 11).

Storage modes here: ``hot`` (events stay in the catalog's hot log), ``segments`` (every insert is
sealed into its own Parquet segment at once), ``sealed`` (the store seals every few events, so reads
span segments and the hot log).
"""

from __future__ import annotations

import shutil
import tempfile
import unittest
import uuid
from pathlib import Path

import pytest

pytest.importorskip("eventsourcing")

from eventsourcing.application import Application  # noqa: E402
from eventsourcing.domain import Aggregate, event  # noqa: E402
from eventsourcing.persistence import InfrastructureFactory  # noqa: E402
from eventsourcing.tests.persistence import (  # noqa: E402
    AggregateRecorderTestCase,
    ApplicationRecorderTestCase,
    InfrastructureFactoryTestCase,
    ProcessRecorderTestCase,
    TrackingRecorderTestCase,
)
from eventsourcing.utils import Environment  # noqa: E402

import eventkit as ek  # noqa: E402
from conftest import SealingStore  # noqa: E402
from eventkit.interop.eventsourcing import (  # noqa: E402
    EventKitAggregateRecorder,
    EventKitApplicationRecorder,
    EventKitProcessRecorder,
    EventKitTrackingRecorder,
    Factory,
)


def _store(mode: str, path: Path) -> ek.Store:
    if mode == "hot":
        return ek.open_store(path)
    if mode == "segments":
        return SealingStore(path)
    return ek.open_store(path, seal_threshold=5)


class _InStore:
    MODE = "hot"

    def setUp(self) -> None:
        super().setUp()
        self._dir = Path(tempfile.mkdtemp())
        self._stores: list[ek.Store] = []

    def tearDown(self) -> None:
        for s in self._stores:
            s.close()
        shutil.rmtree(self._dir, ignore_errors=True)
        super().tearDown()

    def store(self) -> ek.Store:
        s = _store(self.MODE, self._dir / f"store{len(self._stores)}")
        self._stores.append(s)
        return s


def _cases(mode: str) -> dict[str, type]:
    class Aggregates(_InStore, AggregateRecorderTestCase):
        MODE = mode

        def create_recorder(self):
            return EventKitAggregateRecorder(self.store())

    class Applications(_InStore, ApplicationRecorderTestCase):
        MODE = mode

        def create_recorder(self):
            return EventKitApplicationRecorder(self.store())

        def test_insert_subscribe(self) -> None:
            self.optional_test_insert_subscribe()

    class Trackings(_InStore, TrackingRecorderTestCase):
        MODE = mode

        def create_recorder(self):
            return EventKitTrackingRecorder(self.store())

    class Processes(_InStore, ProcessRecorderTestCase):
        MODE = mode

        def create_recorder(self):
            return EventKitProcessRecorder(self.store())

    skips: dict[str, object] = {}
    if mode != "hot":
        # The suite's test_performance only prints a timing (seconds when every insert is sealed into a
        # segment); benchmarks/bench_ops.py measures speed. The concurrency test runs in hot and segments.
        reason = "timing printout only; measured in benchmarks/bench_ops.py (runs in hot mode here)"
        skips["test_performance"] = unittest.skip(reason)(lambda self: None)
    if mode == "sealed":
        skips["test_concurrent_no_conflicts"] = unittest.skip(
            "10,000 events sealed 100 times; concurrency runs in the hot and segments modes")(lambda self: None)
    return {f"Test{name}{mode.capitalize()}": type(f"Test{name}{mode.capitalize()}", (cls,),
                                                    {k: v for k, v in skips.items() if hasattr(cls, k)})
            for name, cls in (("AggregateRecorder", Aggregates), ("ApplicationRecorder", Applications),
                              ("TrackingRecorder", Trackings), ("ProcessRecorder", Processes))}


for _mode in ("hot", "segments", "sealed"):
    globals().update(_cases(_mode))
del _mode


class TrackingSubclass(EventKitTrackingRecorder):
    pass


class TestFactory(InfrastructureFactoryTestCase[Factory]):
    """The factory eventsourcing finds from PERSISTENCE_MODULE=eventkit.interop.eventsourcing."""

    def expected_factory_class(self):
        return Factory

    def expected_aggregate_recorder_class(self):
        return EventKitAggregateRecorder

    def expected_application_recorder_class(self):
        return EventKitApplicationRecorder

    def expected_tracking_recorder_class(self):
        return EventKitTrackingRecorder

    def tracking_recorder_subclass(self):
        return TrackingSubclass

    def expected_process_recorder_class(self):
        return EventKitProcessRecorder

    def setUp(self) -> None:
        self._dir = tempfile.mkdtemp()
        self.env = Environment("TestCase")
        self.env[InfrastructureFactory.PERSISTENCE_MODULE] = "eventkit.interop.eventsourcing"
        self.env["EVENTKIT_STORE"] = str(Path(self._dir) / "store")
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        shutil.rmtree(self._dir, ignore_errors=True)


class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.balance = 0

    @event("Deposited")
    def deposit(self, amount: int) -> None:
        self.balance += amount


class Bank(Application):
    def open(self, owner: str) -> uuid.UUID:
        account = Account(owner)
        self.save(account)
        return account.id

    def deposit(self, account_id: uuid.UUID, amount: int) -> None:
        account = self.repository.get(account_id)
        account.deposit(amount)
        self.save(account)


def test_an_application_keeps_its_events_in_a_store_analysts_can_query(tmp_path):
    """An eventsourcing application with PERSISTENCE_MODULE=eventkit.interop.eventsourcing: its events are
    an eventkit stream per aggregate, readable by the application and by SQL."""
    path = tmp_path / "bank"
    env = {"PERSISTENCE_MODULE": "eventkit.interop.eventsourcing", "EVENTKIT_STORE": str(path)}
    app = Bank(env=env)
    acct = app.open("ann")
    app.deposit(acct, 30)
    app.deposit(acct, 12)
    assert app.repository.get(acct).balance == 42
    app.close()
    store = ek.open_store(path)
    frame = store.read_stream(str(acct))
    assert list(frame["version"]) == [2, 3, 4]  # originator versions 1, 2, 3
    assert frame["event_type"].iloc[0].endswith("Account.Opened") and set(frame["stream_type"]) == {"Bank"}
    total = store.sql("SELECT sum(CAST(json_extract(decode(data.state), '$.amount') AS BIGINT)) FROM events").fetchall()
    assert total == [(42,)]
    again = Bank(env=env)  # reopened: the aggregate is rebuilt from the store
    assert again.repository.get(acct).balance == 42
    again.close()
