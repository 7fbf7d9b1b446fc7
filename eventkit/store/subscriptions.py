"""Event-driven consumers: catch-up subscriptions, exactly-once projections, and ``follow``.

A consumer reads the log in position order, in batches (pandas DataFrames with the envelope,
``metadata`` and one column per payload field, exactly as :meth:`Store.read_all` returns them,
upcasts applied), and keeps a durable **checkpoint** (the last position it has dealt with) in the
catalog's ``checkpoints`` table. Restarted, it continues after its checkpoint.

Delivery guarantees:

- :class:`Subscription` — **at least once**. The checkpoint moves after the handler returns, so
  a crash between the two hands the same batch to the handler again after a restart. Make the
  handler idempotent (e.g. key what it writes by ``event_id``) or use a projection.
- :class:`~eventkit.store.projections.Projection` — **exactly once** in its read model. The handler returns rows; they are
  written to a new Parquet file named by the batch's position range (``part-<from>-<to>``), and
  then *one* catalog transaction moves the checkpoint from ``<from>`` to ``<to>``. The read model
  is the chain of part files up to the checkpoint; a file beyond it (written, never committed)
  is deleted at the next start. So a crash anywhere never applies an event twice or skips one.

Example:
    >>> sub = store.subscribe(lambda batch: print(len(batch)), name="printer")
    >>> sub.run_once()                                   # catch up to the head; returns events seen
    >>> balances = store.project(
    ...     lambda b: b.loc[b.event_type == "Deposited", ["event_id", "stream_id", "amount"]],
    ...     name="deposits")
    >>> balances.run_once(); balances.df()               # a DataFrame; balances.files for DuckDB
    >>> for batch in store.follow(timeout=60):           # a live notebook cell: new events as they come
    ...     print(batch[["position", "event_type"]])
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from eventkit.store.envelope import check_name
from eventkit.common.errors import InvalidInput
from eventkit.store.store_reads import names, seconds, whole_number
from eventkit.store.tracking import CheckpointConflict

# The Store facade (eventkit.store.event_store) passes itself in. It is not imported: it sits above this
# module in the store layer and imports point down.
Store = Any

Handler = Callable[[pd.DataFrame], Any]



# -- checkpoints ------------------------------------------------------------------------------------


def read_checkpoint(store: Store, name: str) -> int:
    """The position a consumer has dealt with (0 when it has never run)."""
    with store._catalog.read() as tx:
        return store._catalog.checkpoint(tx, name)


def move_checkpoint(store: Store, name: str, old: int, new: int) -> None:
    """Move checkpoint ``name`` from ``old`` to ``new`` in one catalog transaction (compare and set)."""
    catalog = store._catalog
    with catalog.write() as tx:
        current = catalog.checkpoint(tx, name)
        if current != old:
            raise CheckpointConflict(
                f"checkpoint {name!r} is at {current}, not {old}: another process is consuming under the "
                "same name; give each consumer its own name")
        catalog.set_checkpoint(tx, name, new)


def checkpoints(store: Store) -> pd.DataFrame:
    """Every consumer's checkpoint: name, position, updated_at."""
    with store._catalog.read() as tx:
        rows = store._catalog.checkpoints(tx)
    df = pd.DataFrame(rows, columns=["name", "position", "updated_at"])
    df["updated_at"] = pd.to_datetime(df["updated_at"], unit="s", utc=True)
    return df


def check_consumer_name(name: Any, what: str) -> str:
    # One rule for every name that becomes a folder or file (see _envelope.check_name).
    return check_name(name, f"a {what} name", names="a folder and a checkpoint")


def type_names(values: Any, what: str) -> list[str] | None:
    return names(values, what)


class EventBatches:
    """Batches of events after a position, in position order, with the position they reach."""

    def __init__(self, store: Store, event_types: Any, stream_types: Any, batch_size: int) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise InvalidInput("batch_size must be a positive int", values=[batch_size])
        self.store = store
        self.event_types = type_names(event_types, "event_types")
        self.stream_types = type_names(stream_types, "stream_types")
        self.batch_size = batch_size

    def batches(self, after: int, head: int | None = None) -> Iterator[tuple[pd.DataFrame, int]]:
        """Yield ``(events, upto)`` until ``head`` (default: the head now); ``upto`` is the new checkpoint.

        A short batch reaches the head, so a filtered consumer's checkpoint still moves past the
        events it does not want.
        """
        head = self.store.head if head is None else head
        while after < head:
            frame = self.store.read_all(from_position=after + 1, to_position=head, event_types=self.event_types,
                                        stream_types=self.stream_types, limit=self.batch_size)
            upto = int(frame["position"].iloc[-1]) if len(frame) == self.batch_size else head
            yield frame, upto
            after = upto


# -- at-least-once subscriptions ------------------------------------------------------------------


class Subscription:
    """A catch-up consumer with a durable checkpoint; at-least-once delivery.

    Use :meth:`Store.subscribe` to make one.

    Args:
        store: The store.
        handler: ``handler(events)`` with a DataFrame batch, in position order; its return
            value is ignored. If it raises, the checkpoint stays before that batch.
        name: The checkpoint's name; one running consumer per name.
        event_types: Only these event types (None: all).
        stream_types: Only these stream types (None: all).
        batch_size: At most this many events per handler call.

    Example:
        >>> seen = []
        >>> sub = store.subscribe(seen.append, name="audit", event_types=["Deposited"])
        >>> sub.run_once()          # number of events handed to the handler
        >>> sub.position            # the durable checkpoint
    """

    def __init__(self, store: Store, handler: Handler, *, name: str, event_types: Any = None,
                 stream_types: Any = None, batch_size: int = 1000) -> None:
        if not callable(handler):
            raise InvalidInput(f"a subscription handler must be callable, not {handler!r}")
        self.store = store
        self.handler = handler
        self.name = check_consumer_name(name, "subscription")
        self._reader = EventBatches(store, event_types, stream_types, batch_size)

    def __repr__(self) -> str:
        return f"Subscription({self.name!r}, position={self.position})"

    @property
    def position(self) -> int:
        """The last position dealt with (durable)."""
        return read_checkpoint(self.store, self.name)

    def run_once(self) -> int:
        """Catch up to the store's head as of now; returns how many events the handler got.

        Each batch carries ``batch.attrs["checkpoint"] == (name, upto)``: a handler that turns
        events into new events appends them with ``checkpoint=batch.attrs["checkpoint"]``, so its
        output and the subscription's position commit together (exactly once); the subscription
        then finds its checkpoint moved and leaves it.
        """
        n = 0
        after = self.position
        for frame, upto in self._reader.batches(after):
            if len(frame):
                frame.attrs["checkpoint"] = (self.name, upto)
                self.handler(frame)
            if read_checkpoint(self.store, self.name) != upto:  # else the handler committed it with its output
                move_checkpoint(self.store, self.name, after, upto)
            n, after = n + len(frame), upto
        return n

    def run(self, *, poll: float = 0.5, timeout: float | None = None, stop: threading.Event | None = None) -> int:
        """Keep catching up, polling every ``poll`` s, until ``timeout`` s, Ctrl-C, or ``stop`` (a
        ``threading.Event``) is set from another thread; returns events handled."""
        return run_loop(self.run_once, poll_seconds(poll), seconds(timeout, "timeout"), check_stop(stop))

    def reset(self, position: int = 0) -> None:
        """Set the checkpoint (0: replay everything at the next run).

        Raises:
            InvalidInput: ``position`` is not a whole number from 0 to the store's head (a checkpoint
                past the head would skip events not yet appended); the checkpoint is left as it was.
        """
        head = self.store.head
        if isinstance(position, (bool, np.bool_)) or not isinstance(position, (int, np.integer)) \
                or not 0 <= position <= head:
            raise InvalidInput(f"reset takes a position from 0 to the store's head ({head}): the last position "
                               f"the subscription has dealt with (0: replay everything)",
                               column="position", values=[position])
        move_checkpoint(self.store, self.name, self.position, int(position))


def poll_seconds(value: Any) -> float:
    poll = seconds(value, "poll")
    if poll is None or not 0 < poll < float("inf"):
        raise InvalidInput("poll must be a number of seconds above 0 (how often to look for other processes' commits)",
                           column="poll", values=[value])
    return poll


def check_stop(stop: Any) -> threading.Event | None:
    """``stop=``: None or a ``threading.Event`` (anything else would never stop the loop, or fail in it)."""
    if stop is not None and not (hasattr(stop, "is_set") and hasattr(stop, "wait")):
        raise InvalidInput(f"stop must be a threading.Event, not {stop!r}", column="stop", values=[stop])
    return stop


def run_loop(step: Callable[[], int], poll: float, timeout: float | None, stop: threading.Event | None = None) -> int:
    deadline = None if timeout is None else time.monotonic() + timeout
    total = 0
    try:
        while stop is None or not stop.is_set():
            total += step()
            if deadline is not None and time.monotonic() >= deadline:
                return total
            wait = poll if deadline is None else min(poll, max(0.0, deadline - time.monotonic()))
            if stop is None:
                time.sleep(wait)
            else:
                stop.wait(wait)
        return total
    except KeyboardInterrupt:  # stopping a live notebook cell is the normal way to end
        return total


def follow(store: Store, handler: Handler | None = None, *, name: str | None = None, poll: float = 0.05,
           timeout: float | None = None, event_types: Any = None, stream_types: Any = None,
           batch_size: int = 1000, from_position: int | None = None, stop: threading.Event | None = None) -> Any:
    """Tail new events: a generator of DataFrame batches, or call ``handler`` with each batch.

    Without ``name`` it starts at the head (only events appended from now on; ``from_position``
    starts elsewhere) and keeps no checkpoint. With ``name`` it resumes from that durable
    checkpoint and moves it after each batch (at-least-once). It wakes as soon as this store object
    commits, and sees other processes' commits within ``poll`` seconds. It stops, quietly, after
    ``timeout`` seconds, on Ctrl-C (KeyboardInterrupt), or when ``stop`` (a ``threading.Event``)
    is set from another thread.

    Returns:
        A generator of DataFrames when ``handler`` is None; else the number of events handled.

    Example:
        >>> for batch in store.follow(timeout=30):             # in a live notebook cell
        ...     print(batch[["position", "stream_id", "event_type"]])
        >>> store.follow(lambda b: print(len(b)), name="ticker", timeout=10)
        >>> stop = threading.Event()  # stop.set() from another thread ends the loop
        >>> threading.Thread(target=store.follow, args=(print,), kwargs={"stop": stop}).start()
    """
    if name is not None:
        check_consumer_name(name, "follow")
        if from_position is not None:
            raise InvalidInput("follow takes name= (resume from a checkpoint) or from_position=, not both")
    if handler is not None and not callable(handler):
        raise InvalidInput(f"follow's handler must be callable, not {handler!r}")
    poll, timeout = poll_seconds(poll), seconds(timeout, "timeout")
    reader = EventBatches(store, event_types, stream_types, batch_size)
    if from_position is not None:
        start = max(whole_number(from_position, "from_position") - 1, 0)
    elif name is None:
        start = store.head
    else:
        start = None
    check_stop(stop)
    gen = _follow(store, reader, name, start, poll, timeout, stop)
    if handler is None:
        return gen
    n = 0
    for frame in gen:
        handler(frame)
        n += len(frame)
    return n


def _follow(store: Store, reader: EventBatches, name: str | None, after: int | None, poll: float,
            timeout: float | None, stop: threading.Event | None) -> Iterator[pd.DataFrame]:
    deadline = None if timeout is None else time.monotonic() + timeout
    if after is None:
        after = read_checkpoint(store, name)  # type: ignore[arg-type]
    try:
        while stop is None or not stop.is_set():
            for frame, upto in reader.batches(after):
                if len(frame):
                    yield frame
                if name is not None:  # the consumer has taken the batch: at-least-once
                    move_checkpoint(store, name, after, upto)
                after = upto
                if deadline is not None and time.monotonic() >= deadline:
                    return
            if deadline is not None and time.monotonic() >= deadline:
                return
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            store._commits.wait(after=after, timeout=remaining, stop=stop, poll=poll)
    except KeyboardInterrupt:
        return


