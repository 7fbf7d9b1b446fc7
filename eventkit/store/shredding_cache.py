"""The read side's cache of revealed personal values (see :class:`.shredding.KeyRing`), kept only while it pays.

A scan repeats a token wherever an append shared it among equal values (a customer's name on each of
their events): decrypting each once saves most of the work. But looking values up costs a Python call
each (about 1 µs with the bookkeeping), which a column of a different text on every event never repays:
a million such tokens read back spent 1.2 s of 2.7 s in the cache alone. So the cache keeps a running
hit rate (each call's share of hits averaged with the rate before it, so it follows the last few calls:
a scan that moves past the values it found cached stops looking within a few calls); while it is under one in
:data:`MIN_HIT_RATE`, calls skip the cache and decrypt everything in batch, except every
:data:`RECHECK`-th call, which still looks up and fills it (a scan's values may start to repeat). Which
way a call goes changes only its speed, never its answer.
"""

from __future__ import annotations

from typing import Any

MIN_HIT_RATE = 64  # the cache pays while at least one lookup in this many hits (the first few calls always look)
RECHECK = 32  # while it does not pay, one call in this many still uses it
LIMIT = 200_000  # values kept, then started afresh

MISSING: Any = object()


class RevealCache:
    """token -> revealed text (None once erased), with a running hit rate; dropped with the keys on an erasure."""

    def __init__(self) -> None:
        self.values: dict[str, str | None] = {}
        self.rate = 1.0  # running share of lookups that hit (see the module docstring)
        self.calls = 0

    def pays(self) -> bool:
        """Whether this call should look its values up (see the module docstring)."""
        self.calls += 1
        return self.rate * MIN_HIT_RATE >= 1 or self.calls % RECHECK == 0

    def lookup(self, values: list[str]) -> list[Any]:
        """Each value's cached text, or :data:`MISSING`."""
        get = self.values.get
        found = [get(v, MISSING) for v in values]
        if values:
            self.rate = (self.rate + 1 - found.count(MISSING) / len(values)) / 2
        return found

    def add(self, values: list[str], texts: list[str | None]) -> None:
        if len(self.values) + len(values) > LIMIT:
            self.values.clear()
        self.values.update(zip(values, texts))
