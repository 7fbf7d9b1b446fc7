"""Hostile arguments to the operational reads and consumers: flags that are not flags, checkpoints
reset to positions the log does not have."""

from __future__ import annotations

import numpy as np
import pytest

import eventkit as ek
from conftest import store_fingerprint


@pytest.mark.parametrize("output", ["records", "pandas", "arrow"])
@pytest.mark.parametrize("bad", ["false", "yes", None, 1, 0.0])
def test_backwards_that_is_not_true_or_false_is_refused(fresh_store, output, bad):
    """read_stream(backwards="false") read newest first in a frame (any non-empty text is true) and
    raised a bare TypeError for records; backwards=None did the opposite on each path."""
    fresh_store.append("a", [ek.Event("E"), ek.Event("E")])
    with pytest.raises(ek.InvalidInput, match="backwards must be True or False"):
        fresh_store.read_stream("a", backwards=bad, output=output)


def test_backwards_takes_numpy_booleans(fresh_store):
    fresh_store.append("a", [ek.Event("E"), ek.Event("E")])
    assert [r.version for r in fresh_store.read_stream("a", backwards=np.bool_(True), output="records")] == [2, 1]
    assert fresh_store.read_stream("a", backwards=np.bool_(False))["version"].tolist() == [1, 2]


@pytest.mark.parametrize("bad", [-5, 2**70, "3", 1.5, True, 4])
def test_a_subscription_reset_to_a_position_the_log_cannot_have_is_refused(fresh_store, bad):
    """sub.reset(-5) stored a negative checkpoint, reset(1.5) and reset(True) silently became 1,
    reset("3") and reset(2**70) raised bare ValueError/OverflowError, and reset(4) past the head
    (3) made the subscription skip the next event appended without handing it over."""
    fresh_store.append("a", [ek.Event("E")] * 3)
    sub = fresh_store.subscribe(lambda batch: None, name="sub")
    sub.run_once()
    before = store_fingerprint(fresh_store.path)
    with pytest.raises(ek.InvalidInput, match="reset"):
        sub.reset(bad)
    assert store_fingerprint(fresh_store.path) == before
    assert sub.position == 3


def test_a_subscription_reset_within_the_log_replays_from_there(fresh_store):
    fresh_store.append("a", [ek.Event("E")] * 3)
    seen = []
    sub = fresh_store.subscribe(lambda batch: seen.extend(batch["position"]), name="sub")
    sub.run_once()
    sub.reset(np.int64(1))
    assert sub.run_once() == 2 and seen == [1, 2, 3, 2, 3]
    sub.reset(3)
    assert sub.run_once() == 0


@pytest.mark.parametrize("output", ["records", "pandas"])
@pytest.mark.parametrize("column", ["event_types", "stream_ids", "stream_types"])
@pytest.mark.parametrize("bad", [["E\x00"], [1], [None], b"E", 5, ["\ud800"]])
def test_a_name_filter_that_names_nothing_the_store_can_hold_is_refused(fresh_store, output, column, bad):
    """read_all(event_types=["E\\x00"], output="records") returned every event of type "E" (SQLite's JSON
    text ends at the NUL) where the frame path returned none; event_types=b"E" or [1] returned nothing
    silently (bytes iterate as numbers), and event_types=5 raised a bare TypeError."""
    fresh_store.append("a", [ek.Event("E")] * 2)
    with pytest.raises(ek.InvalidInput, match=column):
        fresh_store.read_all(output=output, **{column: bad})


def test_a_subscription_filter_with_a_nul_is_refused(fresh_store):
    fresh_store.append("a", [ek.Event("E")] * 2)
    with pytest.raises(ek.InvalidInput, match="event_types"):
        fresh_store.subscribe(lambda batch: None, name="s", event_types=["E\x00"])


@pytest.mark.parametrize("bad", [{"poll": -1}, {"poll": "1"}, {"poll": 0}, {"timeout": "5"}, {"timeout": float("nan")},
                                 {"stop": "yes"}])
@pytest.mark.parametrize("kind", ["subscribe", "project"])
def test_a_consumer_run_with_bad_waiting_arguments_is_refused(fresh_store, kind, bad):
    """Projection.run(poll=-1) raised a bare ValueError from time.sleep, poll="1" a TypeError, and
    timeout=NaN ran forever; Subscription.run checked them, Projection.run did not."""
    fresh_store.append("a", ek.Event("E"))
    consumer = getattr(fresh_store, kind)(lambda batch: None, name="c")
    with pytest.raises(ek.InvalidInput, match=next(iter(bad))):
        consumer.run(**{"timeout": 1, **bad})


@pytest.mark.parametrize("kind", ["subscribe", "project"])
def test_a_consumer_run_in_a_thread_stops_when_told(fresh_store, kind):
    """run() in a background thread could be ended only by its timeout: follow() took stop=, run() did
    not. Now stop (a threading.Event) set from another thread ends it within a poll."""
    import threading

    fresh_store.append("a", ek.Event("E"))
    seen = []
    consumer = getattr(fresh_store, kind)(lambda batch: seen.append(len(batch)), name="c")
    stop = threading.Event()
    done = []
    worker = threading.Thread(target=lambda: done.append(consumer.run(poll=0.05, stop=stop)))
    worker.start()
    stop.set()
    worker.join(10)
    assert not worker.is_alive() and done in ([0], [1])


def test_a_policy_that_crashes_after_committing_its_output_does_not_repeat_it(fresh_store):
    """A subscription handler appends its output with checkpoint=batch.attrs["checkpoint"], then crashes;
    the re-run starts after that batch: every input's output exactly once (behaved well; pinned)."""
    for i in range(5):
        fresh_store.append(f"in-{i}", ek.Event("In"))
    crashes = [True]

    def policy(batch):
        fresh_store.append_streams({f"out-{p}": ek.Event("Out") for p in batch["position"]},
                                   checkpoint=batch.attrs["checkpoint"])
        if crashes.pop() if crashes else False:
            raise RuntimeError("crash after the commit")

    sub = fresh_store.subscribe(policy, name="policy", event_types=["In"], batch_size=2)
    with pytest.raises(RuntimeError):
        sub.run_once()
    assert sub.position == 2
    sub.run_once()
    fresh_store.append("in-9", ek.Event("In"))
    sub.run_once()
    outs = sorted(fresh_store.read_all(event_types=["Out"])["stream_id"])
    assert outs == sorted(f"out-{p}" for p in (1, 2, 3, 4, 5, 11))
