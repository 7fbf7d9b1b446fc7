"""verify's chain walk in bulk (eventkit.store.chain_walk) reports exactly what the step-by-step walk reports
(the code it replaced, kept for chains whose columns lose their types): the same problems, first bad link,
positions and files, the same live files, unsealed appends and head, on a real chain of every kind of link
and on random edits of it (a field changed, a detail's character changed, a row deleted, swapped,
duplicated, or its kind changed)."""

from __future__ import annotations

import random

import pandas as pd
import pytest

import eventkit as ek
from eventkit.store.chain_walk import _Walk, replay
from eventkit.store.verify import Problem


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> list[tuple]:
    with ek.open_store(tmp_path_factory.mktemp("walk") / "s") as s:
        s.declare_personal(stream_type="c", fields=["name"])
        for i in range(40):
            s.append(f"c-{i % 7}", [ek.Event("E", {"name": f"n{i}", "n": i})], stream_type="c")
            if i % 13 == 5:
                s.append_frame(pd.DataFrame({"stream_id": [f"y-{k % 50}" for k in range(20_000)], "stream_type": "y",
                                             "event_type": "B", "n": range(20_000)}))
            if i in (20, 30):
                s.seal()
                s.compact()
            if i == 25:
                s.forget("c-1")
        with s._catalog.read() as tx:
            rows = s._catalog.links(tx)
    assert {r[1] for r in rows} >= {"append", "segment", "seal", "compact", "erase"}
    return rows


def _outcome(walk, rows):
    problems: list[Problem] = []
    try:
        live, pending, head = walk(rows, problems)
    except Exception as e:  # noqa: BLE001 - both walks must fail alike on rows no walk can read
        return type(e).__name__
    return [str(p) for p in problems], [p.link for p in problems], live, [link.seq for link in pending], head


def _bulk(rows, problems):
    return replay(rows, problems, Problem)


def _steps(rows, problems):
    return _Walk(rows, problems, Problem).all_steps()


def _edit(rows: list[tuple], rng: random.Random) -> list[tuple]:
    m = [list(r) for r in rows]
    for _ in range(rng.choice([1, 1, 2])):
        i, what = rng.randrange(len(m)), rng.randrange(10)
        if what in (0, 1, 2, 3):
            m[i][(0, 2, 3, 4)[what]] += rng.choice([-1, 1])
        elif what == 4:
            detail, k = m[i][5], rng.randrange(len(m[i][5]))
            m[i][5] = detail[:k] + rng.choice('0123456789abcdefABX",{} ') + detail[k + 1:]
        elif what == 5:
            m[i][6] = bytes(32) if rng.random() < 0.5 else m[i][7]
        elif what == 6:
            del m[i]
        elif what == 7:
            j = rng.randrange(len(m))
            m[i], m[j] = m[j], m[i]
        elif what == 8:
            m.insert(i, list(m[i]))
        else:
            m[i][1] = rng.choice(["append", "seal", "segment", "compact", "erase", "adopt"])
    return [tuple(r) for r in m]


def test_the_bulk_walk_of_an_intact_chain_finds_nothing(chain):
    got = _outcome(_bulk, chain)
    assert got == _outcome(_steps, chain) and got[0] == [] and got[3]  # no problem; the appends since the last seal


@pytest.mark.parametrize("seed", range(4))
def test_the_bulk_walk_reports_what_the_step_by_step_walk_reports(chain, seed):
    rng = random.Random(seed)
    for _ in range(150):
        edited = _edit(chain, rng)
        assert _outcome(_bulk, edited) == _outcome(_steps, edited)
