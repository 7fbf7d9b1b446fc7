"""Tracking: a consumer's position commits with the events it writes, and never moves backwards."""

from __future__ import annotations

import pandas as pd
import pytest

import eventkit as ek
from conftest import store_fingerprint


def test_checkpoint_commits_with_the_events(store):
    """append(..., checkpoint=) stores the consumer's position; store.checkpoint reads it."""
    assert store.checkpoint("billing") is None
    store.append("inv-1", ek.Event("Invoiced", {"amount": 3}), checkpoint=("billing", 41))
    assert store.checkpoint("billing") == 41
    store.append_frame(pd.DataFrame({"stream_id": ["inv-2"], "event_type": ["Invoiced"], "amount": [4]}),
                       checkpoint=("billing", 42))
    assert store.checkpoint("billing") == 42
    assert store.head == 2


def test_a_position_not_above_the_stored_one_is_refused_and_nothing_is_written(store, tmp_path):
    """The same input processed twice produces its output once: the second append is refused whole."""
    store.append("inv-1", ek.Event("Invoiced"), checkpoint=("billing", 7))
    before = store_fingerprint(store.path)
    for position in (7, 6):
        with pytest.raises(ek.CheckpointConflict, match="'billing' is already at position 7"):
            store.append("inv-9", ek.Event("Invoiced"), checkpoint=("billing", position))
        with pytest.raises(ek.CheckpointConflict):
            store.append_frame(pd.DataFrame({"stream_id": ["x"], "event_type": ["E"]}), checkpoint=("billing", position))
    assert store_fingerprint(store.path) == before
    assert store.head == 1 and store.stream_version("inv-9") == 0 and store.checkpoint("billing") == 7


def test_a_failed_append_leaves_the_checkpoint(store):
    """A version conflict rolls the checkpoint back with the events."""
    store.append("a", ek.Event("E"))
    with pytest.raises(ek.WrongExpectedVersion):
        store.append("a", ek.Event("E"), expected_version=ek.NO_STREAM, checkpoint=("p", 1))
    assert store.checkpoint("p") is None


def test_checkpoint_alone_and_across_streams(store):
    """append_streams with no events moves only the position; with events, several streams at once."""
    r = store.append_streams({}, checkpoint=("p", 0))
    assert store.checkpoint("p") == 0 and list(r.positions) == []
    r = store.append_streams({"a": [ek.Event("E"), ek.Event("E")], "b": ek.Event("F")},
                             expected_versions={"a": ek.NO_STREAM}, checkpoint=("p", 3))
    assert r.versions == {"a": 2, "b": 1} and store.checkpoint("p") == 3
    with pytest.raises(ek.CheckpointConflict):
        store.append_streams({}, checkpoint=("p", 3))


@pytest.mark.parametrize("bad", ["p", ("p",), ("p", -1), ("p", 1.5), ("../x", 1), ("p", True)])
def test_bad_checkpoints_are_refused_up_front(fresh_store, bad):
    with pytest.raises(ek.InvalidInput):
        fresh_store.append("a", ek.Event("E"), checkpoint=bad)
    assert fresh_store.head == 0


def test_subscription_conflicts_are_the_same_error():
    assert issubclass(ek.CheckpointConflict, ek.StoreError)


def test_a_subscription_that_writes_events_does_so_exactly_once(fresh_store):
    """A handler appending with checkpoint=batch.attrs["checkpoint"]: a crash after its append neither
    repeats nor loses its output."""
    for i in range(3):
        fresh_store.append(f"order-{i}", ek.Event("Placed", {"total": i}))
    crashes = [True]

    def invoice(batch):
        placed = batch[batch.event_type == "Placed"]
        fresh_store.append_streams({f"invoice-{r.stream_id}": ek.Event("Invoiced", {"total": r.total})
                                    for r in placed.itertuples()}, checkpoint=batch.attrs["checkpoint"])
        if crashes.pop() if crashes else False:
            raise RuntimeError("crashed after committing")

    sub = fresh_store.subscribe(invoice, name="invoicing", event_types=["Placed"])
    with pytest.raises(RuntimeError):
        sub.run_once()
    assert sub.position == 3
    assert sub.run_once() == 0  # nothing handed again
    fresh_store.append("order-9", ek.Event("Placed", {"total": 9}))
    assert sub.run_once() == 1
    invoiced = fresh_store.read_all(event_types=["Invoiced"])
    assert sorted(invoiced["stream_id"]) == ["invoice-order-0", "invoice-order-1", "invoice-order-2", "invoice-order-9"]
    assert fresh_store.checkpoint("invoicing") == sub.position == fresh_store.head - 1
