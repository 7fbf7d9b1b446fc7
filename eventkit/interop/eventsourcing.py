"""A persistence module for the `eventsourcing` library: its applications keep their events in an eventkit store.

Set ``PERSISTENCE_MODULE=eventkit.interop.eventsourcing`` and ``EVENTKIT_STORE=<folder>`` in an
application's environment; its events then land in that store, where analysts fold, query and
chart them like any other. Built on the store's public API only (``append_streams`` with explicit
versions and a tracking ``checkpoint``, ``read_stream`` / ``read_all`` with ``output="records"``,
``checkpoint``, ``head``).

The mapping (also in the README, "eventsourcing applications"):

- ``originator_id`` -> ``stream_id``: ``str(originator_id)`` (a UUID in its hyphenated form).
  Read back as a UUID (``ORIGINATOR_ID_TYPE=uuid``, the default) or as text (``text``).
- ``originator_version`` -> ``version = originator_version + 1``: eventsourcing numbers from 0 or 1,
  eventkit from 1, so an aggregate created at version 1 has eventkit versions 2, 3, ...
- ``topic`` -> ``event_type``, unchanged (e.g. ``bank.domain:Account.Deposited``).
- ``state`` -> the payload field ``state`` (BLOB), byte for byte: whatever the transcoder,
  compressor and cipher made of the event. With the default JSON transcoder and no cipher, SQL
  reads it as ``json_extract(decode(data.state), '$.amount')``.
- notification id -> ``position``; tracking ``(application_name, notification_id)`` -> the
  consumer checkpoint ``application_name``, committed with the events (a name a checkpoint cannot
  have, such as ``Bänk`` or ``My App``, becomes ``es_B_nk.<16 hex digits>``, see :func:`_consumer`).
- stream type: ``EVENTKIT_STREAM_TYPE``, else the application's name, else ``eventsourcing``.
- a recorder for another purpose (``aggregate_recorder("snapshots")``) uses the store at
  ``<EVENTKIT_STORE>.<purpose>``, so snapshots never mix with the events analysts fold.
"""

from __future__ import annotations

import hashlib
import re
import threading
from typing import Any, Sequence
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    DataError,
    InfrastructureFactory,
    IntegrityError,
    Notification,
    OperationalError,
    ProcessRecorder,
    StoredEvent,
    Subscription,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.utils import Environment, resolve_topic

from eventkit.common.errors import EventKitError, InvalidInput, StoreError, WrongExpectedVersion
from eventkit.store.envelope import Event, check_name
from eventkit.store.event_store import Store, open_store
from eventkit.store.tracking import CheckpointConflict

STATE = "state"
_NAME = re.compile(r"[^A-Za-z0-9_.\-]")


def _stream_id(originator_id: UUID | str) -> str:
    return str(originator_id)


def _consumer(application_name: str) -> str:
    """The checkpoint name of an application's tracking position.

    eventsourcing lets an application have any name (a class name may be ``Bänk``; ``name`` may hold
    spaces), but a checkpoint name is 1-128 of ``[A-Za-z0-9_.-]``. A name the store takes is kept; any other
    becomes ``es_<its letters, others as _>.<16 hex digits of its SHA-256>``: one checkpoint per name.
    """
    try:
        return check_name(application_name, "a consumer name", names="a checkpoint")
    except InvalidInput:
        pass
    text = str(application_name)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"es_{_NAME.sub('_', text)[:100]}.{digest}"


class _Recorder:
    """What every recorder here shares: the store and the translation of eventkit's errors."""

    def __init__(self, store: Store, *, stream_type: str = "eventsourcing", id_type: str = "uuid") -> None:
        self.store = store
        self.stream_type = stream_type
        self.id_type = id_type

    def _originator(self, stream_id: str) -> UUID | str:
        if self.id_type == "uuid":
            try:
                parsed = UUID(stream_id)
            except ValueError:
                return stream_id
            # Only the canonical form was a UUID: '{...}', 'urn:uuid:...' or upper case was a text id.
            return parsed if str(parsed) == stream_id else stream_id
        return stream_id

    @staticmethod
    def _translate(error: EventKitError) -> Exception:
        if isinstance(error, (WrongExpectedVersion, CheckpointConflict)):
            return IntegrityError(str(error))
        if isinstance(error, StoreError):
            return OperationalError(str(error))
        return DataError(str(error))

    def _pairs(self, stored_events: Sequence[StoredEvent]) -> list[tuple[str, Event]]:
        last: dict[str, int] = {}
        pairs = []
        for s in stored_events:
            sid = _stream_id(s.originator_id)
            version = int(s.originator_version) + 1
            if sid in last and version <= last[sid]:
                # eventkit appends a stream's events in increasing versions; a repeat is a conflict.
                raise IntegrityError(f"originator {sid} version {s.originator_version} repeats or goes back in one insert")
            last[sid] = version
            pairs.append((sid, Event(s.topic, {STATE: bytes(s.state)}, version=version)))
        return pairs

    def _append(self, stored_events: Sequence[StoredEvent], tracking: Tracking | None) -> list[int]:
        pairs = self._pairs(stored_events)
        if not pairs and tracking is None:
            return []
        checkpoint = None if tracking is None else (_consumer(tracking.application_name), int(tracking.notification_id))
        try:
            result = self.store.append_streams(pairs, stream_type=self.stream_type, checkpoint=checkpoint)
        except InvalidInput as e:
            if e.column == "version":
                raise IntegrityError(str(e)) from e
            raise self._translate(e) from e
        except EventKitError as e:
            raise self._translate(e) from e
        return list(result.positions)

    def select_events(self, originator_id: UUID | str, *, gt: int | None = None, lte: int | None = None,
                      desc: bool = False, limit: int | None = None) -> Sequence[StoredEvent]:
        # eventkit versions are originator_version + 1, from 1 to 2**63 - 1: a bound past either end
        # selects nothing or leaves the range open, as any integer bound does in eventsourcing's recorders.
        first = None if gt is None or gt < -1 else gt + 2  # originator_version > gt
        last = None if lte is None or lte + 1 >= 2**63 else lte + 1
        if (first is not None and first >= 2**63) or (last is not None and last < 0):
            return []
        records = self.store.read_stream(
            _stream_id(originator_id), from_version=first, to_version=last,
            backwards=desc, limit=limit, output="records",
        )
        return [StoredEvent(originator_id=originator_id, originator_version=r.version - 1,
                            topic=r.event_type, state=r.data.get(STATE, b"")) for r in records]


class EventKitAggregateRecorder(_Recorder, AggregateRecorder):
    """Stored events of aggregates in an eventkit store (``insert_events`` returns None)."""

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        self._append(stored_events, None)
        return None


class EventKitApplicationRecorder(_Recorder, ApplicationRecorder):
    """Stored events plus the application's notification log: the store's positions."""

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        return self._append(stored_events, None)

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *, inclusive_of_start: bool = True) -> Sequence[Notification]:
        first = 1 if start is None else (start if inclusive_of_start else start + 1)
        if stop is not None and stop < first:
            return []
        records = self.store.read_all(from_position=max(first, 1), to_position=stop, limit=limit,
                                      event_types=list(topics) or None, output="records")
        return [Notification(id=r.position, originator_id=self._originator(r.stream_id),
                             originator_version=r.version - 1, topic=r.event_type, state=r.data.get(STATE, b""))
                for r in records]

    def max_notification_id(self) -> int | None:
        return self.store.head or None

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription[ApplicationRecorder]:
        return EventKitSubscription(self, gt=gt, topics=topics)


class EventKitTrackingRecorder(_Recorder, TrackingRecorder):
    """Tracking records as eventkit consumer checkpoints (one position per application name)."""

    def insert_tracking(self, tracking: Tracking) -> None:
        self._append([], tracking)

    def max_tracking_id(self, application_name: str) -> int | None:
        return self.store.checkpoint(_consumer(application_name))


class EventKitProcessRecorder(EventKitTrackingRecorder, EventKitApplicationRecorder, ProcessRecorder):
    """A process application's new events and its upstream position, in one transaction."""

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        return self._append(stored_events, kwargs.get("tracking"))


class EventKitSubscription(Subscription[EventKitApplicationRecorder]):
    """New notifications as they are recorded: woken by commits in this process, polling for others."""

    def __init__(self, recorder: EventKitApplicationRecorder, gt: int | None = None, topics: Sequence[str] = ()) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._buffer: list[Notification] = []
        self._stopped = threading.Event()

    def stop(self) -> None:
        super().stop()
        self._stopped.set()  # a waiting __next__ in another thread sees it within the store's poll

    def __next__(self) -> Notification:
        while not self._buffer:
            if self._has_been_stopped:
                raise StopIteration
            store = self._recorder.store
            head = store.head  # read first: a commit after it wakes the wait below at once
            page = self._recorder.select_notifications(start=self._last_notification_id or 0, limit=500,
                                                       topics=self._topics, inclusive_of_start=False)
            if page:
                self._buffer = list(page)
                self._last_notification_id = page[-1].id
                break
            store.wait_for_commit(after=head, timeout=1.0, stop=self._stopped)
        if self._has_been_stopped:
            raise StopIteration
        return self._buffer.pop(0)


class Factory(InfrastructureFactory[EventKitTrackingRecorder]):
    """The infrastructure factory eventsourcing finds in this module.

    Environment settings: ``EVENTKIT_STORE`` (the store folder, required), ``EVENTKIT_DURABILITY``
    (``normal`` or ``full``), ``EVENTKIT_STREAM_TYPE``, ``ORIGINATOR_ID_TYPE`` (``uuid`` or ``text``).
    """

    EVENTKIT_STORE = "EVENTKIT_STORE"
    EVENTKIT_DURABILITY = "EVENTKIT_DURABILITY"
    EVENTKIT_STREAM_TYPE = "EVENTKIT_STREAM_TYPE"
    ORIGINATOR_ID_TYPE = "ORIGINATOR_ID_TYPE"

    aggregate_recorder_class = EventKitAggregateRecorder
    application_recorder_class = EventKitApplicationRecorder
    tracking_recorder_class = EventKitTrackingRecorder
    process_recorder_class = EventKitProcessRecorder

    def __init__(self, env: Environment | Any | None) -> None:
        super().__init__(env)
        path = self.env.get(self.EVENTKIT_STORE)
        if not path:
            raise OSError(f"eventkit store folder not found in the environment with keys: "
                          f"{', '.join(self.env.create_keys(self.EVENTKIT_STORE))}")
        self.path = path
        self.durability = self.env.get(self.EVENTKIT_DURABILITY, "normal")
        self.id_type = self.env.get(self.ORIGINATOR_ID_TYPE, "uuid").lower()
        if self.id_type not in ("uuid", "text"):
            raise OSError(f"invalid {self.ORIGINATOR_ID_TYPE} {self.id_type!r}: must be 'uuid' or 'text'")
        self.stream_type = self.env.get(self.EVENTKIT_STREAM_TYPE) or _NAME.sub("_", self.env.name or "")[:128] \
            or "eventsourcing"
        self._stores: dict[str, Store] = {}
        self._lock = threading.Lock()

    def store(self, purpose: str = "events") -> Store:
        """The eventkit store behind recorders of ``purpose`` (opened once per factory)."""
        path = self.path if purpose == "events" else f"{self.path}.{purpose}"
        with self._lock:
            if path not in self._stores:
                self._stores[path] = open_store(path, durability=self.durability)
            return self._stores[path]

    def _make(self, cls: type, purpose: str = "events") -> Any:
        return cls(self.store(purpose), stream_type=self.stream_type, id_type=self.id_type)

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        return self._make(self.aggregate_recorder_class, purpose)

    def application_recorder(self) -> ApplicationRecorder:
        topic = self.env.get(self.APPLICATION_RECORDER_TOPIC)
        return self._make(resolve_topic(topic) if topic else self.application_recorder_class)

    def tracking_recorder(self, tracking_recorder_class: type[EventKitTrackingRecorder] | None = None
                          ) -> EventKitTrackingRecorder:
        if tracking_recorder_class is None:
            topic = self.env.get(self.TRACKING_RECORDER_TOPIC)
            tracking_recorder_class = resolve_topic(topic) if topic else self.tracking_recorder_class
        return self._make(tracking_recorder_class)

    def process_recorder(self) -> ProcessRecorder:
        topic = self.env.get(self.PROCESS_RECORDER_TOPIC)
        return self._make(resolve_topic(topic) if topic else self.process_recorder_class)

    def close(self) -> None:
        with self._lock:
            for store in self._stores.values():
                store.close()
            self._stores.clear()


__all__ = [
    "EventKitAggregateRecorder",
    "EventKitApplicationRecorder",
    "EventKitProcessRecorder",
    "EventKitSubscription",
    "EventKitTrackingRecorder",
    "Factory",
]
