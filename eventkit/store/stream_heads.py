"""What an append checks per stream and reports back: the stream type, the expected version, explicit
versions, and :class:`AppendResult`.

Shared by the one-event append path (:mod:`.event_store`) and the bulk append (:mod:`.maintenance`).
May use :mod:`eventkit.common` and :mod:`.envelope`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from eventkit.common.errors import InvalidInput, VersionTaken, WrongExpectedVersion
from eventkit.store.envelope import ANY, DEFAULT_STREAM_TYPE, version_matches


@dataclass(frozen=True)
class AppendResult:
    """What an append did.

    Attributes:
        first_position: Position of the append's first event.
        last_position: Position of its last event (an append's positions are contiguous).
        versions: Each stream's version after the append.
        duplicate: True when the append was a re-send of one already stored: nothing was
            written and this reports the original append.
    """

    first_position: int
    last_position: int
    versions: dict[str, int] = field(default_factory=dict)
    duplicate: bool = False

    @property
    def positions(self) -> range:
        return range(self.first_position, self.last_position + 1)

    @property
    def version(self) -> int:
        """The stream's new version, for an append to a single stream."""
        if len(self.versions) != 1:
            raise InvalidInput(f"this append touched {len(self.versions)} streams; use .versions")
        return next(iter(self.versions.values()))


def resolve_stream_type(stream_id: str, existing: str | None, given: set[str | None]) -> str:
    given.discard(None)
    if len(given) > 1:
        raise InvalidInput(f"stream {stream_id!r} is given several stream types in one append", column="stream_type", values=sorted(given))
    wanted = next(iter(given), None)
    if existing is not None and wanted is not None and wanted != existing:
        raise InvalidInput(
            f"stream {stream_id!r} is of type {existing!r}; it cannot take events as {wanted!r}",
            column="stream_type", values=[wanted],
        )
    return existing or wanted or DEFAULT_STREAM_TYPE


def check_expected(stream_id: str, expected: dict[Any, Any], current: int) -> None:
    want = expected.get(stream_id, expected.get(None, ANY))
    if not version_matches(want, current):
        raise WrongExpectedVersion(stream_id, want, current)


def check_explicit_versions(stream_id: str, current: int, versions: Sequence[int]) -> None:
    if versions and versions[0] <= current:
        raise VersionTaken(stream_id, int(versions[0]), current)
    prev = current
    for v in versions:
        if v <= prev:
            raise InvalidInput(
                f"version column for stream {stream_id!r} must increase strictly and start above the "
                f"stream's current version {current}: {v} follows {prev}",
                column="version", values=[v],
            )
        prev = v
