"""Consumers: at-least-once subscriptions, exactly-once projections (also under SIGKILL), follow."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import eventkit as ek
from eventkit.store.projections import Projection
from eventkit.store.subscriptions import CheckpointConflict, move_checkpoint
from eventkit.store.upcasting import Upcaster

CONSUMER = str(Path(__file__).with_name("_consumer.py"))


def fill(store: ek.Store, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        store.append(f"acct-{i % 3}", [ek.Event("Deposited" if i % 2 else "Opened", {"amount": float(i)})],
                     stream_type="account")


# -- subscriptions ------------------------------------------------------------------------------


def test_subscription_catches_up_in_position_order_and_resumes(store):
    fill(store, 10)
    seen: list[pd.DataFrame] = []
    sub = store.subscribe(seen.append, name="audit", batch_size=4)
    assert sub.position == 0
    assert sub.run_once() == 10
    assert [len(b) for b in seen] == [4, 4, 2]
    assert pd.concat(seen).position.tolist() == list(range(1, 11))
    assert {"amount", "event_type", "stream_id", "metadata"} <= set(seen[0].columns)
    assert sub.position == 10
    assert sub.run_once() == 0
    fill(store, 3, start=10)
    again = store.subscribe(seen.append, name="audit")    # a new object (a restart) resumes
    assert again.run_once() == 3
    assert pd.concat(seen).position.tolist() == list(range(1, 14))


def test_filtered_subscription_moves_its_checkpoint_past_other_events(fresh_store):
    fill(fresh_store, 9)
    seen = []
    sub = fresh_store.subscribe(seen.append, name="deposits", event_types=["Deposited"], batch_size=2)
    assert sub.run_once() == 4
    assert set(pd.concat(seen).event_type) == {"Deposited"}
    assert sub.position == 9


def test_a_failing_handler_leaves_the_checkpoint_before_its_batch(fresh_store):
    """At-least-once: the batch whose handler raised is handed over again."""
    fill(fresh_store, 6)
    calls = []

    def flaky(batch):
        calls.append(batch.position.tolist())
        if len(calls) == 2:
            raise RuntimeError("boom")

    sub = fresh_store.subscribe(flaky, name="flaky", batch_size=3)
    with pytest.raises(RuntimeError):
        sub.run_once()
    assert sub.position == 3
    assert sub.run_once() == 3
    assert calls == [[1, 2, 3], [4, 5, 6], [4, 5, 6]]


def test_subscription_sees_upcast_events(fresh_store):
    fresh_store.append("a", [ek.Event("Deposited", {"amt": 5})])
    fresh_store.register_upcaster(Upcaster("Deposited", rename={"amt": "amount"}))
    seen = []
    fresh_store.subscribe(seen.append, name="s").run_once()
    assert seen[0].amount.tolist() == [5]


def test_checkpoints_are_listed_and_reset(fresh_store):
    fill(fresh_store, 3)
    sub = fresh_store.subscribe(lambda b: None, name="one")
    sub.run_once()
    cps = fresh_store.checkpoints()
    assert cps.name.tolist() == ["one"] and cps.position.tolist() == [3]
    sub.reset()
    assert sub.position == 0


def test_two_consumers_under_one_name_conflict(fresh_store):
    fill(fresh_store, 2)
    fresh_store.subscribe(lambda b: None, name="x").run_once()
    with pytest.raises(CheckpointConflict, match="another process"):
        move_checkpoint(fresh_store, "x", 0, 1)


@pytest.mark.parametrize("kwargs, message", [
    (dict(handler=None, name="x"), "callable"),
    (dict(handler=print, name="bad name"), "name must be"),
    (dict(handler=print, name="x", batch_size=0), "batch_size"),
    (dict(handler=print, name="x", event_types=[1]), "event_types"),
])
def test_bad_subscription_arguments(fresh_store, kwargs, message):
    handler = kwargs.pop("handler")
    with pytest.raises(ek.InvalidInput, match=message):
        fresh_store.subscribe(handler, **kwargs)


# -- projections ------------------------------------------------------------------------------------


def test_projection_appends_rows_and_is_readable_by_duckdb(store):
    fill(store, 10)
    proj = store.project(lambda b: b[["event_id", "position", "amount"]], name="ids", batch_size=4)
    assert proj.run_once() == 10
    df = proj.df()
    assert df.position.tolist() == list(range(1, 11))
    assert len(proj.files) == 3
    n = duckdb.sql(f"SELECT count(*) FROM read_parquet({proj.files})").fetchall()[0][0]
    assert n == 10
    assert proj.sql("SELECT sum(amount) AS s FROM projection").fetchall()[0][0] == sum(range(10))
    assert all(Path(f).parent == store.path / "projections" / "ids" for f in proj.files)


def test_keyed_projection_is_an_upsert_table(fresh_store):
    fill(fresh_store, 10)

    def last_amount(batch):
        return batch[["stream_id", "amount", "position"]]

    proj = fresh_store.project(last_amount, name="last", key="stream_id", batch_size=3)
    proj.run_once()
    df = proj.df()
    assert df.stream_id.tolist() == ["acct-0", "acct-1", "acct-2"]
    assert df.amount.tolist() == [9.0, 7.0, 8.0]
    proj.compact()
    assert len(proj.files) == 1 and proj.df().equals(df)


def test_projection_compacts_its_parts_without_changing_rows(fresh_store):
    fill(fresh_store, 40)
    proj = Projection(fresh_store, lambda b: b[["event_id", "position"]], name="p", batch_size=3, compact_every=4)
    proj.run_once()
    assert len(proj.files) <= 5
    assert proj.df().position.tolist() == list(range(1, 41))


def test_uncommitted_part_files_are_removed_at_restart(fresh_store):
    """A part written but never committed (a crash before the checkpoint moved) is not in the model."""
    fill(fresh_store, 6)

    class Crash(Projection):
        def _before_commit(self, first, last):
            if first >= 3:
                raise KeyboardInterrupt  # stands in for a kill between the file and the commit

    proj = Crash(fresh_store, lambda b: b[["event_id", "position"]], name="p", batch_size=3)
    with pytest.raises(KeyboardInterrupt):
        proj.run_once()
    assert proj.position == 3
    assert len(list(proj.path.glob("part-*"))) == 2      # one committed, one left behind
    assert proj.df().position.tolist() == [1, 2, 3]
    fill(fresh_store, 2, start=6)                          # the next batch is a different range
    again = Projection(fresh_store, lambda b: b[["event_id", "position"]], name="p", batch_size=3)
    assert again.run_once() == 5
    assert again.recovered == 1
    assert again.df().position.tolist() == list(range(1, 9))


def test_handler_rows_without_the_key_are_an_error(fresh_store):
    fill(fresh_store, 2)
    proj = fresh_store.project(lambda b: b[["position"]], name="p", key="stream_id")
    with pytest.raises(ek.InvalidInput, match="lack key column"):
        proj.run_once()
    assert proj.position == 0


def test_projection_handler_may_return_nothing(fresh_store):
    fill(fresh_store, 5)
    proj = fresh_store.project(lambda b: None, name="nothing")
    assert proj.run_once() == 5 and proj.position == 5
    assert proj.df().empty


def test_reset_rebuilds_the_projection(fresh_store):
    fill(fresh_store, 4)
    proj = fresh_store.project(lambda b: b[["event_id"]], name="p")
    proj.run_once()
    proj.reset()
    assert proj.position == 0 and proj.df().empty
    proj.run_once()
    assert len(proj.df()) == 4


@pytest.mark.slow
def test_killed_consumer_projects_every_event_exactly_once(tmp_path):
    """SIGKILL the projection's process at random points while events arrive; nothing twice, nothing lost."""
    path = tmp_path / "store"
    total = 1500
    writer_store = ek.open_store(path, seal_threshold=300)
    done = threading.Event()

    def write():
        rng = random.Random(7)
        written = 0
        while written < total:
            n = min(rng.randint(1, 25), total - written)
            writer_store.append(f"s-{rng.randint(0, 40)}", [ek.Event("Tick", {"i": written + k}) for k in range(n)])
            written += n
            time.sleep(0.04)  # spread the appends over the kills
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    rng = random.Random(11)
    recovered = 0
    kills = in_window = 0
    try:
        while kills < 6 or not done.is_set():
            # Every other run kills itself between writing a part file and committing it; the
            # run after it must find and remove that file. The others are killed at random.
            self_kill = kills % 2 == 0
            args = [sys.executable, CONSUMER, str(path), str(total), str(kills)]
            proc = subprocess.Popen(args + ([str(rng.randint(1, 3))] if self_kill else []),
                                    stdout=subprocess.PIPE, text=True)
            assert proc.stdout.readline().startswith("started")
            if self_kill:
                proc.wait(timeout=60)
            else:
                time.sleep(rng.uniform(0.05, 0.6))
                proc.send_signal(signal.SIGKILL)
            out, _ = proc.communicate(timeout=10)
            kills += 1
            if self_kill and proc.returncode == -signal.SIGKILL:
                in_window += 1
                check = subprocess.run(args[:3] + ["0", "98"], capture_output=True, text=True, timeout=60)
                assert check.returncode == 0, check.stderr
                found = sum(int(line.split()[1]) for line in check.stdout.splitlines() if line.startswith("recovered"))
                assert found >= 1, "a part file written before the kill was not recovered"
                recovered += found
            recovered += sum(int(line.split()[1]) for line in out.splitlines() if line.startswith("recovered"))
    finally:
        writer.join()
        writer_store.close()
    assert in_window >= 2, "no run was killed between writing a part and committing it"
    final = subprocess.run([sys.executable, CONSUMER, str(path), str(total), "99"],
                           check=False, capture_output=True, text=True, timeout=60)
    assert final.returncode == 0, final.stderr
    assert "done" in final.stdout

    with ek.open_store(path) as store:
        ids = store.read_all()[["event_id", "position"]]
        proj = Projection(store, lambda b: None, name="ids")
        df = proj.df()
    assert len(ids) == total
    assert not df.event_id.duplicated().any(), "an event was projected twice"
    assert set(df.event_id) == set(ids.event_id), "an event was skipped"
    assert sorted(df.position) == list(range(1, total + 1))
    print(f"{kills} kills, {recovered} uncommitted part files removed at restarts")


# -- follow ------------------------------------------------------------------------------------------


def test_follow_tails_new_events_until_timeout(fresh_store):
    fill(fresh_store, 3)

    def later():
        time.sleep(0.3)
        with ek.open_store(fresh_store.path) as other:
            fill(other, 4, start=3)

    t = threading.Thread(target=later)
    t.start()
    batches = list(fresh_store.follow(poll=0.05, timeout=1.0))
    t.join()
    got = pd.concat(batches).position.tolist()
    assert got == [4, 5, 6, 7]                      # only events appended after follow started


def test_follow_with_a_handler_and_a_name_resumes(fresh_store):
    fill(fresh_store, 5)
    seen = []
    assert fresh_store.follow(seen.append, name="live", poll=0.01, timeout=0.2) == 5
    fill(fresh_store, 2, start=5)
    assert fresh_store.follow(seen.append, name="live", poll=0.01, timeout=0.2) == 2
    assert pd.concat(seen).position.tolist() == list(range(1, 8))


def test_follow_from_a_position(fresh_store):
    fill(fresh_store, 5)
    batches = list(fresh_store.follow(from_position=4, poll=0.01, timeout=0.1))
    assert pd.concat(batches).position.tolist() == [4, 5]


def test_follow_stops_quietly_on_keyboard_interrupt(fresh_store, monkeypatch):
    fill(fresh_store, 2)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fresh_store._commits, "wait", interrupt)
    assert list(fresh_store.follow(poll=10)) == []


def test_follow_wakes_on_a_commit_not_on_its_poll_period(fresh_store):
    """An append through the store wakes a follower at once, though its poll period is 100 s (issue 11)."""
    fill(fresh_store, 1)
    stop = threading.Event()
    got = []

    def tail():
        for batch in fresh_store.follow(poll=100, timeout=30, stop=stop):
            got.extend(batch.position)
            stop.set()

    t = threading.Thread(target=tail)
    t.start()
    time.sleep(0.2)
    fill(fresh_store, 1, start=1)
    t.join(timeout=20)
    assert not t.is_alive() and got == [2]


def test_follow_stops_from_another_thread(fresh_store):
    """stop.set() from another thread ends a follow with no timeout, quietly (issue 11)."""
    stop = threading.Event()
    done = threading.Event()

    def tail():
        assert fresh_store.follow(lambda b: None, stop=stop) == 0
        done.set()

    t = threading.Thread(target=tail)
    t.start()
    time.sleep(0.2)
    stop.set()
    t.join(timeout=20)
    assert done.is_set()
