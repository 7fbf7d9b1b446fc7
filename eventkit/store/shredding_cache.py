"""The read side's cache of revealed personal values (see :class:`.shredding.KeyRing`), kept only while it pays.

A scan repeats a token wherever an append shared it among equal values (a customer's name on each of
their events): decrypting each once saves most of the work. But looking values up costs a Python call
each (about 1 µs with the bookkeeping), which a column of a different text on every event never repays:
a million such tokens read back spent 1.2 s of 2.7 s in the cache alone. So the cache counts its hits;
once :data:`WARM_UP` lookups found fewer than one in :data:`MIN_HIT_RATE`, calls skip it and decrypt
everything in batch, except every :data:`RECHECK`-th call, which still looks up and fills it (a scan's
values may start to repeat). Which way a call goes changes only its speed, never its answer.
"""

from __future__ import annotations

from typing import Any

WARM_UP = 65_536  # lookups before the hit rate decides anything
MIN_HIT_RATE = 64  # the cache pays while at least one lookup in this many hits
RECHECK = 32  # while it does not pay, one call in this many still uses it
LIMIT = 200_000  # values kept, then started afresh
_WINDOW = 1 << 22  # counts are halved past this many lookups: the rate follows the scan's recent values

MISSING: Any = object()


class RevealCache:
    """token -> revealed text (None once erased), with hit counts; dropped with the keys on an erasure."""

    def __init__(self) -> None:
        self.values: dict[str, str | None] = {}
        self.looked = self.hits = self.calls = 0

    def pays(self) -> bool:
        """Whether this call should look its values up (see the module docstring)."""
        self.calls += 1
        return self.looked < WARM_UP or self.hits * MIN_HIT_RATE >= self.looked or self.calls % RECHECK == 0

    def lookup(self, values: list[str]) -> list[Any]:
        """Each value's cached text, or :data:`MISSING`."""
        get = self.values.get
        found = [get(v, MISSING) for v in values]
        self.looked += len(values)
        self.hits += len(values) - found.count(MISSING)
        if self.looked > _WINDOW:
            self.looked, self.hits = self.looked // 2, self.hits // 2
        return found

    def add(self, values: list[str], texts: list[str | None]) -> None:
        if len(self.values) + len(values) > LIMIT:
            self.values.clear()
        self.values.update(zip(values, texts))
