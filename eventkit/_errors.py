"""The errors eventkit raises. Every one derives from :class:`EventKitError`."""

from __future__ import annotations

from typing import Any, Sequence


class EventKitError(Exception):
    """Base of every error eventkit raises."""


class InvalidInput(EventKitError, ValueError):
    """Input that eventkit cannot accept: says which column, which values, and why.

    Attributes:
        column: The offending column or field, when there is one.
        values: A few offending values (at most five).
    """

    def __init__(self, message: str, *, column: str | None = None, values: Sequence[Any] = ()) -> None:
        self.column = column
        self.values = list(values)[:5]
        if self.values:
            shown = ", ".join(repr(v) for v in self.values)
            message = f"{message} (e.g. {shown})"
        super().__init__(message)


class SchemaConflict(InvalidInput):
    """A payload field arrived with a type the store cannot reconcile with its own."""


class WrongExpectedVersion(EventKitError):
    """The optimistic-concurrency check failed: the stream is not at the version expected.

    Attributes:
        stream_id: The stream whose version did not match.
        expected: What the caller expected (a version or a sentinel).
        actual: The stream's version when the append was tried (0: the stream does not exist).
    """

    def __init__(self, stream_id: str, expected: Any, actual: int) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"wrong expected version for stream {stream_id!r}: expected {expected!r}, "
            f"actual version is {actual}"
        )


class DuplicateEventId(EventKitError):
    """An event id already in the store (or twice in one append) with different content."""


class StoreError(EventKitError):
    """The store cannot be opened or used: not a store, a newer format, a damaged catalog."""


class InvalidFold(EventKitError, ValueError):
    """A fold definition or its arguments are wrong (missing field, type mismatch, bad time)."""


class SeriesTooLarge(EventKitError):
    """A dense snapshot series would exceed the row budget (``max_rows=``); nothing was built.

    Attributes:
        rows: The rows the series would have.
        streams: The streams in it.
        points: The grid points it spans.
    """

    def __init__(self, message: str, *, rows: int, streams: int, points: int) -> None:
        self.rows = rows
        self.streams = streams
        self.points = points
        super().__init__(message)
