"""The errors eventkit raises. Every one derives from :class:`EventKitError`."""

from __future__ import annotations

from typing import Any, Iterable, Sequence


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


class VersionTaken(WrongExpectedVersion):
    """An explicit ``version`` is not above the stream's current version: another writer got there first.

    A :class:`WrongExpectedVersion`, so code that retries on a concurrency conflict handles it.
    """

    def __init__(self, stream_id: str, version: int, actual: int) -> None:
        self.version = version
        EventKitError.__init__(
            self,
            f"version {version} of stream {stream_id!r} is not above the stream's current version {actual} "
            "(another append took it); nothing was written: read the stream and retry with new versions",
        )
        self.stream_id, self.expected, self.actual = stream_id, version - 1, actual


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


class EventKitWarning(UserWarning):
    """An answer that is probably not what was meant: a selector that matches nothing, a stream
    that does not exist. The warning names what is missing and the closest existing name.

    Turn these into errors with ``warnings.simplefilter("error", ek.EventKitWarning)``.
    """


class SealDeferredWarning(EventKitWarning):
    """An append was committed but the automatic seal after it failed; a later append retries it.

    The appended events are stored (in the hot log): do not re-send them.
    """


def did_you_mean(name: str, candidates: Iterable[str], *, shown: int = 8) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, else a short list of what exists."""
    import difflib

    names = sorted({c for c in candidates if isinstance(c, str)})
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    if not names:
        return ""
    listed = ", ".join(repr(n) for n in names[:shown])
    return f"; there are: {listed}{', ...' if len(names) > shown else ''}"


def warn(message: str) -> None:
    """Issue an :class:`EventKitWarning` attributed to the first caller outside eventkit."""
    import os
    import sys
    import warnings

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # eventkit/, above common/
    level, frame = 2, sys._getframe(1)  # stacklevel 2 is the frame that called warn()
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, EventKitWarning, stacklevel=level)
