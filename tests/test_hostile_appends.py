"""Hostile arguments to the operational API: versions at the edge of 64 bits, expected versions for
streams an append does not touch, waiting times that are not times."""

from __future__ import annotations

import math
import threading

import pandas as pd
import pytest

import eventkit as ek


@pytest.mark.parametrize("how", ["event", "frame"])
def test_a_version_the_next_appends_would_overflow_is_refused(fresh_store, how):
    """An explicit version near 2**63 was stored; the next bulk append then numbered the stream's events
    from -2**63 (64-bit wrap-around) and stored them: versions no longer increased."""
    with pytest.raises(ek.InvalidInput, match="version"):
        if how == "event":
            fresh_store.append("w", [ek.Event("E", version=2**63 - 1)])
        else:
            fresh_store.append_frame(pd.DataFrame({"stream_id": ["w"], "event_type": "E", "version": [2**63 - 1]}))
    assert fresh_store.head == 0
    fresh_store.append("w", [ek.Event("E", version=2**62)])  # the largest version taken
    fresh_store.append_frame(pd.DataFrame({"stream_id": ["w"] * 3, "event_type": "E"}))
    assert fresh_store.read_stream("w")["version"].tolist() == [2**62, 2**62 + 1, 2**62 + 2, 2**62 + 3]


def test_expected_versions_for_a_stream_the_append_does_not_touch_are_refused(fresh_store):
    """A mistyped stream id in expected_versions meant no concurrency check at all, silently."""
    fresh_store.append("acct-1", [ek.Event("Opened")])
    with pytest.raises(ek.InvalidInput, match="acct-l"):
        fresh_store.append_streams({"acct-1": [ek.Event("Debited")]}, expected_versions={"acct-l": 1})
    assert fresh_store.head == 1
    fresh_store.append_streams({"acct-1": [ek.Event("Debited")]}, expected_versions={"acct-1": 1})
    assert fresh_store.head == 2


@pytest.mark.parametrize("bad", [math.nan, -1, "1", True])
def test_waiting_times_that_are_not_times_are_refused(fresh_store, bad):
    """wait_for_commit(timeout=nan) blocked forever; timeout='1' raised a TypeError."""
    done = []

    def wait():
        try:
            fresh_store.wait_for_commit(after=0, timeout=bad)
        except ek.InvalidInput as e:
            done.append(e)

    t = threading.Thread(target=wait, daemon=True)
    t.start()
    t.join(5)
    assert not t.is_alive() and done, f"timeout={bad!r} was not refused"
    for kwargs in ({"timeout": bad}, {"poll": bad}):
        with pytest.raises(ek.InvalidInput, match="timeout|poll"):
            fresh_store.follow(print, **kwargs)


@pytest.mark.parametrize("bad", [1.5, "3", True, -1])
def test_follow_from_a_position_that_is_not_one_is_refused(fresh_store, bad):
    """follow(from_position=1.5) started at 1 and from_position='3' at 3 (int() of anything)."""
    with pytest.raises(ek.InvalidInput, match="from_position"):
        fresh_store.follow(print, from_position=bad, timeout=0)


def test_an_unknown_output_names_every_kind_there_is(fresh_store):
    """The message said 'pandas' or 'arrow' and left out 'records'."""
    fresh_store.append("a", [ek.Event("E")])
    for read in (fresh_store.read_all, lambda **kw: fresh_store.read_stream("a", **kw)):
        with pytest.raises(ek.InvalidInput, match="'records'"):
            read(output="polars")
