"""Automatic compaction: many small bulk appends keep a bounded number of segments (issue 12).

The policy (eventkit.store.compaction_policy) is a size-tiered one: FAN_IN segments of one tier
and stream type are merged into one of a higher tier, at most one merge per commit.
"""

from __future__ import annotations

import pandas as pd
import pytest

import eventkit as ek
from eventkit.store.compaction_policy import FAN_IN, plan, tier


def _seg(i: int, n: int, stype: str = "account") -> tuple:
    return (i, f"seg{i}", stype, i * 1000, i * 1000 + n - 1, n)


def test_tiers_grow_by_the_fan_in():
    assert [tier(n, 16) for n in (1, 15, 16, 255, 256, 4095, 4096)] == [0, 0, 1, 1, 2, 2, 3]


def test_plan_merges_the_oldest_full_tier_first():
    """A full tier of the smallest size goes first; a tier one short waits; types never mix."""
    tiny = [_seg(i, 10) for i in range(FAN_IN)]
    other = [_seg(100 + i, 10, "order") for i in range(FAN_IN - 1)]
    big = [_seg(200 + i, 5000) for i in range(FAN_IN)]
    group = plan(big + tiny + other)
    assert [s[0] for s in group] == [s[0] for s in tiny]
    assert plan(other) is None
    assert [s[0] for s in plan(big + other)] == [s[0] for s in big]


def test_plan_never_makes_a_segment_above_max_events():
    """Large segments are left to store.compact(); a full tier merges as many as fit (at least 2)."""
    segs = [_seg(i, 600_000) for i in range(FAN_IN)]
    group = plan(segs, max_events=2_000_000)
    assert len(group) == 3
    assert plan([_seg(i, 2_000_000) for i in range(FAN_IN)], max_events=2_000_000) is None
    with pytest.raises(ValueError):
        plan(segs, fan_in=1)
