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


def _tiny(i: int, n: int = 10) -> pd.DataFrame:
    return pd.DataFrame({"stream_id": [f"s{(i * n + j) % 7}" for j in range(n)], "event_type": "Deposited",
                         "amount": [float(i * n + j) for j in range(n)]})


def _segments(store) -> int:
    return store.info().segments


def test_many_small_bulk_appends_keep_the_segment_count_bounded(tmp_path, monkeypatch):
    """36 bulk appends of 10 events with a fan-in of 4: at most 3 segments per tier, the same events."""
    from eventkit.store import compaction_policy

    monkeypatch.setattr(compaction_policy, "FAN_IN", 4)
    store = ek.open_store(tmp_path / "s", bulk_threshold=1, grace_seconds=0)
    counts = []
    for i in range(36):
        store.append_frame(_tiny(i))
        counts.append(_segments(store))
    # Tiers of 4-15, 16-63 and 64-255 events (segments of 10, 40, 160): <= 3 each, like the
    # digits of a base-4 counter; without the policy there would be 36 segments.
    assert max(counts) <= 3 * 3 and counts[-1] == 2 + 1  # 360 = 2 x 160 + 1 x 40
    got = store.read_all()
    assert got["position"].tolist() == list(range(1, 361))
    assert got["amount"].tolist() == [float(x) for x in range(360)]
    on_disk = list((tmp_path / "s" / "segments").rglob("*.parquet"))
    assert len(on_disk) == _segments(store)  # replaced files go after the grace period (0 here)


def test_auto_compact_off_leaves_every_segment(tmp_path):
    store = ek.open_store(tmp_path / "s", bulk_threshold=1, auto_compact=False)
    for i in range(FAN_IN + 2):
        store.append_frame(_tiny(i))
    assert _segments(store) == FAN_IN + 2


def test_a_failed_automatic_compaction_warns_and_the_append_stands(tmp_path, monkeypatch):
    """The append is committed before the merge: a failing merge never makes it look failed."""
    from eventkit.store import maintenance

    store = ek.open_store(tmp_path / "s", bulk_threshold=1)
    for i in range(FAN_IN - 1):
        store.append_frame(_tiny(i))

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(maintenance, "merge_segments", broken)
    with pytest.warns(ek.EventKitWarning, match="automatic compaction .* failed"):
        result = store.append_frame(_tiny(FAN_IN - 1))
    assert result.last_position == FAN_IN * 10 and store.head == FAN_IN * 10
    monkeypatch.undo()
    store.append_frame(_tiny(FAN_IN))  # the next commit compacts
    assert _segments(store) == 2
