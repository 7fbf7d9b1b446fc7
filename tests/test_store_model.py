"""Model-based test: random sequences of store operations against an in-memory model of its content.

Hypothesis drives a state machine through appends (single and bulk, hot log and segments, right
and wrong expected versions, explicit versions, own and generated ids), re-sends (same ids: the
original result with ``duplicate=True``; same id, other content: ``DuplicateEventId``), seals,
compactions, reopening, a second handle on the same folder, and reads with filters (stream, event
types, from_position, occurred_between) and ``known_at`` (a position or a recorded_at time). After
every step the store holds exactly what the model says: nothing lost, changed, doubled or
reordered, and a refused append leaves it as it was.

The store's clock is the model's (recorded_at is stamped from a patched ``micros_now``), so time
cuts are known exactly. CI runs a modest budget; ``make test-long`` (HYPOTHESIS_PROFILE=long)
runs twenty times more.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import eventkit as ek
import eventkit.store.maintenance as _maintenance_mod
import eventkit.store.store_appends as _store_mod  # the append path stamps recorded_at

from _budget import budget

# Reading a stream the model has not created yet is one of the moves; its warning is expected.
pytestmark = pytest.mark.filterwarnings("ignore:no stream:eventkit.EventKitWarning")

STREAMS = {"s0": "account", "s1": "account", "s2": "account", "s3": "order", "s4": "order"}
TYPES = ["Opened", "Deposited", "Withdrawn"]
OPTIONS = dict(bulk_threshold=8, seal_threshold=40, grace_seconds=0)
EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
START_US = (pd.Timestamp("2025-01-01", tz="UTC") - EPOCH) // pd.Timedelta("1us")
EXPECT = st.sampled_from(["any", "no_stream", "exists", "right", "wrong"])


def _us(t) -> int:
    return (pd.Timestamp(t).tz_convert("UTC") - EPOCH) // pd.Timedelta("1us")


def _ts(us: int) -> pd.Timestamp:
    return EPOCH + pd.Timedelta(microseconds=us)


class StoreModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="ek-model-"))
        self.path = self.dir / "store"
        self.now = START_US
        self.clock = [mock.patch.object(m, "micros_now", lambda: self.now) for m in (_store_mod, _maintenance_mod)]
        for p in self.clock:
            p.start()
        self.events: list[dict] = []     # the model: every event, in position order
        self.sent: list[tuple] = []      # (how, arguments, original result) of appends with own ids
        self.next_id = 0
        self.handles = [ek.open_store(self.path, **OPTIONS), ek.open_store(self.path, **OPTIONS)]

    def teardown(self) -> None:
        try:
            if hasattr(self, "handles"):
                self.check_everything()
        finally:
            for h in getattr(self, "handles", []):
                h.close()
            for p in self.clock:
                p.stop()
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- the model ------------------------------------------------------------------------------
    def version(self, sid: str) -> int:
        return max((e["version"] for e in self.events if e["stream_id"] == sid), default=0)

    def expected_value(self, sid: str, kind: str):
        v = self.version(sid)
        return {"any": ek.ANY, "no_stream": ek.NO_STREAM, "exists": ek.STREAM_EXISTS,
                "right": v, "wrong": v + 1 if v == 0 else v - 1}[kind]

    def passes(self, sid: str, kind: str) -> bool:
        v = self.version(sid)
        return {"any": True, "no_stream": v == 0, "exists": v > 0, "right": True, "wrong": False}[kind]

    def record(self, rows: list[dict], result) -> None:
        """Add an accepted append's rows to the model and check the result the store gave."""
        recorded = max(self.now, max((e["recorded_at"] for e in self.events), default=0))
        first = len(self.events) + 1
        for i, r in enumerate(rows):
            r = dict(r, position=first + i, recorded_at=recorded)
            if r["occurred_at"] is None:
                r["occurred_at"] = recorded
            if r.get("version") is None:
                r["version"] = self.version(r["stream_id"]) + 1
            self.events.append(r)
        assert not result.duplicate
        assert (result.first_position, result.last_position) == (first, first + len(rows) - 1)
        assert result.versions == {r["stream_id"]: self.version(r["stream_id"]) for r in rows}

    def new_ids(self, n: int, own: bool) -> list[str | None]:
        if not own:
            return [None] * n
        self.next_id += n
        return [f"id-{self.next_id - n + i}" for i in range(n)]

    # -- appends --------------------------------------------------------------------------------
    @rule(h=st.integers(0, 1), sid=st.sampled_from(sorted(STREAMS)), n=st.integers(1, 3), kind=EXPECT,
          own_ids=st.booleans(), backdate=st.sampled_from([None, 0, 1, 86_400_000_000]),
          types=st.lists(st.sampled_from(TYPES), min_size=3, max_size=3), amounts=st.lists(st.integers(-5, 50), min_size=3, max_size=3))
    def append(self, h, sid, n, kind, own_ids, backdate, types, amounts):
        ids = self.new_ids(n, own_ids)
        occurred = None if backdate is None else self.now - backdate
        rows = [dict(stream_id=sid, stream_type=STREAMS[sid], event_type=types[i], event_id=ids[i],
                     occurred_at=occurred, amount=amounts[i]) for i in range(n)]
        events = [ek.Event(r["event_type"], {"amount": r["amount"]}, event_id=r["event_id"],
                           occurred_at=None if occurred is None else _ts(occurred)) for r in rows]
        args = (sid, events, self.expected_value(sid, kind))
        self._append(h, "append", args, rows, self.passes(sid, kind))

    @rule(h=st.integers(0, 1), data=st.data(), n=st.integers(1, 20), own_ids=st.booleans(),
          expect=st.sampled_from(["none", "one", "mapping"]), kind=EXPECT, explicit=st.sampled_from([None, "good", "bad"]))
    def append_frame(self, h, data, n, own_ids, expect, kind, explicit):
        sids = data.draw(st.lists(st.sampled_from(sorted(STREAMS)), min_size=n, max_size=n))
        ids = self.new_ids(n, own_ids)
        backdates = data.draw(st.lists(st.sampled_from([None, 0, 3_600_000_000]), min_size=n, max_size=n))
        rows = [dict(stream_id=s, stream_type=STREAMS[s], event_type=data.draw(st.sampled_from(TYPES)),
                     event_id=ids[i], occurred_at=None if backdates[i] is None else self.now - backdates[i],
                     amount=data.draw(st.integers(-5, 50))) for i, s in enumerate(sids)]
        frame = pd.DataFrame({
            "stream_id": sids, "stream_type": [r["stream_type"] for r in rows],
            "event_type": [r["event_type"] for r in rows], "amount": [r["amount"] for r in rows],
            "occurred_at": pd.array([None if r["occurred_at"] is None else _ts(r["occurred_at"]) for r in rows],
                                    dtype="datetime64[us, UTC]"),
        })
        if own_ids:
            frame["event_id"] = ids
        ok = True
        if explicit is not None:  # strictly increasing per stream, above its version, gaps allowed
            nxt = {s: self.version(s) for s in set(sids)}
            versions = []
            for r in rows:
                nxt[r["stream_id"]] += data.draw(st.integers(1, 3))
                versions.append(nxt[r["stream_id"]])
                r["version"] = versions[-1]
            if explicit == "bad":  # the first row of a stream at or below the stream's version
                versions[0] = self.version(sids[0])
                ok = False
            frame["version"] = versions
        if expect == "none":
            expected = None
        elif expect == "one":
            expected = self.expected_value(sids[0], kind)
            ok = ok and all(self.passes(s, kind) if kind != "right" else self.version(s) == self.version(sids[0])
                            for s in set(sids))
        else:
            expected = {sids[0]: self.expected_value(sids[0], kind)}
            ok = ok and self.passes(sids[0], kind)
        self._append(h, "append_frame", (frame, expected), rows, ok)

    def call(self, h, how, args):
        store = self.handles[h]
        if how == "append":
            return store.append(args[0], args[1], expected_version=args[2], stream_type=STREAMS[args[0]])
        return store.append_frame(args[0], expected_versions=args[1])

    def _append(self, h, how, args, rows, ok):
        before = len(self.events)
        if ok:
            result = self.call(h, how, args)
            self.record(rows, result)
            if rows[0]["event_id"] is not None:
                self.sent.append((how, args, result, rows))
        else:
            with pytest.raises((ek.WrongExpectedVersion, ek.InvalidInput)):
                self.call(h, how, args)
            assert self.handles[h].head == before

    @precondition(lambda self: self.sent)
    @rule(data=st.data(), h=st.integers(0, 1))
    def resend(self, data, h):
        """Re-sending an append with its own ids stores nothing and reports the original result."""
        how, args, original, _ = data.draw(st.sampled_from(self.sent))
        again = self.call(h, how, args)
        assert again.duplicate
        assert (again.first_position, again.last_position, again.versions) == (
            original.first_position, original.last_position, original.versions)
        assert self.handles[h].head == len(self.events)

    @precondition(lambda self: self.sent)
    @rule(data=st.data(), h=st.integers(0, 1))
    def resend_changed(self, data, h):
        """The same id with other content is refused, and nothing is written."""
        _, _, _, rows = data.draw(st.sampled_from(self.sent))
        r = rows[0]
        with pytest.raises(ek.DuplicateEventId):
            self.handles[h].append(r["stream_id"], [ek.Event(r["event_type"], {"amount": r["amount"] + 1},
                                                            event_id=r["event_id"])])
        assert self.handles[h].head == len(self.events)

    # -- maintenance and handles ----------------------------------------------------------------
    @rule(h=st.integers(0, 1))
    def seal(self, h):
        self.handles[h].seal()
        assert self.handles[h].info().hot_events == 0

    @rule(h=st.integers(0, 1), size=st.sampled_from([5, 30, 10**6]))
    def compact(self, h, size):
        self.handles[h].compact(target_events=size)

    @rule()
    def reopen(self):
        for s in self.handles:
            s.close()
        self.handles = [ek.open_store(self.path, **OPTIONS), ek.open_store(self.path, **OPTIONS)]

    @rule(step=st.sampled_from([0, 1, 1_000_000, 86_400_000_000]))
    def tick(self, step):
        self.now += step

    @rule(back=st.sampled_from([1, 3_600_000_000]))
    def clock_goes_back(self, back):
        """A wall clock stepping back: recorded_at still never decreases."""
        self.now -= back

    # -- reads ----------------------------------------------------------------------------------
    def times(self, field: str, data) -> int | None:
        values = sorted({e[field] for e in self.events})
        if not values or data.draw(st.booleans()):
            return None
        return data.draw(st.sampled_from(values)) + data.draw(st.sampled_from([-1, 0, 1]))

    @rule(h=st.integers(0, 1), data=st.data())
    def read_all_filtered(self, h, data):
        kw, keep = {}, list(self.events)
        if data.draw(st.booleans()):
            types = data.draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=2, unique=True))
            kw["event_types"] = types
            keep = [e for e in keep if e["event_type"] in types]
        if data.draw(st.booleans()):
            p = data.draw(st.integers(1, len(self.events) + 2))
            kw["from_position"] = p
            keep = [e for e in keep if e["position"] >= p]
        lo, hi = self.times("occurred_at", data), self.times("occurred_at", data)
        if lo is not None or hi is not None:
            kw["occurred_between"] = (None if lo is None else _ts(lo), None if hi is None else _ts(hi))
            keep = [e for e in keep if (lo is None or e["occurred_at"] >= lo) and (hi is None or e["occurred_at"] < hi)]
        keep = self.cut(kw, keep, data)
        self.same(self.handles[h].read_all(**kw), keep)

    @rule(h=st.integers(0, 1), sid=st.sampled_from(sorted(STREAMS)), data=st.data())
    def read_stream(self, h, sid, data):
        kw: dict = {}
        keep = self.cut(kw, [e for e in self.events if e["stream_id"] == sid], data)
        keep.sort(key=lambda e: e["version"])
        self.same(self.handles[h].read_stream(sid, **kw), keep, order="version")

    def cut(self, kw: dict, keep: list[dict], data) -> list[dict]:
        """Maybe add a known_at (a position, or a recorded_at time near an event's) and apply it."""
        how = data.draw(st.sampled_from(["none", "position", "time"]))
        if how == "position":
            k = data.draw(st.integers(0, len(self.events) + 1))
            kw["known_at"] = k
            return [e for e in keep if e["position"] <= k]
        if how == "time":
            t = self.times("recorded_at", data)
            if t is not None:
                kw["known_at"] = _ts(t)
                return [e for e in keep if e["recorded_at"] <= t]
        return keep

    def same(self, got: pd.DataFrame, want: list[dict], order: str = "position") -> None:
        assert len(got) == len(want), (len(got), len(want))
        if not want:
            return
        assert got[order].is_monotonic_increasing
        rows = []
        for r in got.to_dict("records"):
            rows.append((int(r["position"]), r["stream_id"], r["stream_type"], int(r["version"]), r["event_type"],
                         _us(r["occurred_at"]), _us(r["recorded_at"]), int(r["amount"])))
        assert rows == [(e["position"], e["stream_id"], e["stream_type"], e["version"], e["event_type"],
                         e["occurred_at"], e["recorded_at"], e["amount"]) for e in want]
        own = {e["position"]: e["event_id"] for e in want if e["event_id"] is not None}
        got_ids = dict(zip(got["position"], got["event_id"]))
        assert all(got_ids[p] == i for p, i in own.items())
        assert got["event_id"].notna().all() and got["event_id"].is_unique

    # -- invariants -----------------------------------------------------------------------------
    @invariant()
    def head_and_versions(self):
        for s in self.handles:
            assert s.head == len(self.events)
        s = self.handles[0]
        for sid in STREAMS:
            assert s.stream_version(sid) == self.version(sid)

    def check_everything(self) -> None:
        for s in self.handles:
            self.same(s.read_all(), self.events)
        got = self.handles[0].read_all()
        assert got["recorded_at"].is_monotonic_increasing
        files = set((self.path / "segments").rglob("*.parquet")) if (self.path / "segments").exists() else set()
        assert len(files) >= self.handles[0].info().segments  # every live segment has its file


StoreModel.TestCase.settings = settings(max_examples=budget(40), stateful_step_count=30)
TestStoreModel = StoreModel.TestCase
