"""Declarative and Python folds: state, fold order, bitemporal time travel, parallel runs.

Every test runs on real stores (tests/_foldhelpers.real_store): several appends, each stamped by
the store at the frame's recorded_at, so a time ``known_at`` cuts the store's own recorded_at.
The storage tests run in every mode: hot log, segments (bulk appends), sealed, compacted, and
persisted fold states (save_snapshot at a middle position and at the head).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import eventkit.fold.reducers as r
from eventkit.common.errors import EventKitError, InvalidFold
from eventkit.fold.declarative import Fold
from eventkit.fold.python_fold import PyFold, on

from _foldhelpers import frame_to_dict, make_events, real_store, ts

MODES = ("hot", "segments", "sealed", "compacted", "persisted")


def build(df, path, mode, folds=()):
    """A real store in ``mode`` holding ``df``; "persisted" also saves each declarative fold's state
    at the middle position and at the head, so later folds start from them where valid."""
    store = real_store(df, path, "hot" if mode == "persisted" else mode)
    if mode == "persisted":
        for fold in folds:
            if isinstance(fold, Fold):
                fold.save_snapshot(store, known_at=len(df) // 2)
                fold.save_snapshot(store)
        assert len(store.fold_states()) == 2 * sum(isinstance(f, Fold) for f in folds)
    return store


@pytest.fixture(params=MODES)
def make_store(request, tmp_path):
    stores = []

    def make(df, folds=()):
        stores.append(build(df, tmp_path, request.param, folds))
        return stores[-1]

    yield make
    for s in stores:
        s.close()


@pytest.fixture
def one_store(tmp_path):
    """A real hot-log store, for tests about fold definitions rather than storage."""
    stores = []

    def make(df):
        stores.append(real_store(df, tmp_path))
        return stores[-1]

    yield make
    for s in stores:
        s.close()


# A late-arriving deposit (p4) and a correction (p5) of the first deposit, both backdated.
LEDGER = [
    dict(stream_id="acct-1", event_type="Opened", occurred_at="2024-01-01", amount=None, status="open"),
    dict(stream_id="acct-1", event_type="Deposited", occurred_at="2024-01-02", amount=100, status=None),
    dict(stream_id="acct-1", event_type="Withdrawn", occurred_at="2024-01-05", amount=30, status=None),
    dict(stream_id="acct-1", event_type="Deposited", occurred_at="2024-01-03",
         recorded_at="2024-01-10", amount=50, status=None),
    dict(stream_id="acct-1", event_type="DepositCorrected", occurred_at="2024-01-02",
         recorded_at="2024-01-12", amount=-20, status=None),
    dict(stream_id="acct-2", event_type="Opened", occurred_at="2024-01-04", amount=None, status="open"),
    dict(stream_id="acct-2", event_type="Closed", occurred_at="2024-01-08", amount=None, status="closed"),
]

LEDGER_FOLD = Fold("ledger", stream_type="account", fields={
    "balance": r.sum("amount", event_types=["Deposited", "DepositCorrected"])
               - r.sum("amount", event_types="Withdrawn"),
    "last_amount": r.last("amount"),
    "last_type": r.last_event_type(["Opened", "Deposited", "Withdrawn", "DepositCorrected", "Closed"]),
})


class LedgerPy(PyFold):
    stream_type = "account"

    def initial(self):
        return {"balance": 0, "last_amount": None, "last_type": None}

    @on("Deposited", "DepositCorrected")
    def credit(self, s, e):
        s["balance"] += e.amount

    @on("Withdrawn")
    def debit(self, s, e):
        s["balance"] -= e.amount

    @on("*")
    def any_event(self, s, e):
        pass

    def result(self, s):
        return s


def _ledger_py_track(s, e):
    # Fields every event updates, regardless of type (mirrors last() and last_event_type()).
    s["last_amount"] = e.amount
    s["last_type"] = e.event_type


class LedgerPyFull(LedgerPy):
    """Handlers that also track the last amount / type, in version order."""

    @on("Deposited", "DepositCorrected")
    def credit(self, s, e):
        s["balance"] += e.amount
        _ledger_py_track(s, e)

    @on("Withdrawn")
    def debit(self, s, e):
        s["balance"] -= e.amount
        _ledger_py_track(s, e)

    @on("*")
    def any_event(self, s, e):
        _ledger_py_track(s, e)


# (as_of, known_at) -> acct-1 (balance, last_amount, last_type), worked out by hand.
BITEMPORAL_TABLE = [
    ("2024-01-04", "2024-01-04", (100, 100, "Deposited")),    # p1 p2
    ("2024-01-04", "2024-01-11", (150, 50, "Deposited")),     # + late deposit p4 (occurred 01-03)
    ("2024-01-04", None, (130, -20, "DepositCorrected")),     # + correction p5 (occurred 01-02)
    ("2024-01-06", "2024-01-06", (70, 30, "Withdrawn")),      # p1 p2 p3
    # Fold order is version order: p4 (occurred 01-03) folds after p3 (occurred 01-05).
    ("2024-01-06", "2024-01-11", (120, 50, "Deposited")),
    ("2024-01-06", None, (100, -20, "DepositCorrected")),
    (None, 3, (70, 30, "Withdrawn")),                         # an int known_at is a position
    (None, None, (100, -20, "DepositCorrected")),
    ("2024-01-01T12:00:00", None, (0, None, "Opened")),
]


@pytest.fixture(scope="module", params=MODES)
def ledger_store(request, tmp_path_factory):
    """LEDGER in a real store of each mode, built once per module (the tests only read)."""
    store = build(make_events(LEDGER), tmp_path_factory.mktemp("ledger"), request.param, [LEDGER_FOLD])
    yield store
    store.close()


def test_ledger_store_holds_the_frame_recorded_at(ledger_store):
    """The time cuts below hit the store's own recorded_at: it holds the frame's stamps, in 5 appends."""
    got = ledger_store.read_all()
    want = make_events(LEDGER)
    assert got["recorded_at"].tolist() == want["recorded_at"].tolist()
    assert got["recorded_at"].nunique() == 5 and got["position"].tolist() == list(range(1, 8))


@pytest.mark.parametrize("fold", [LEDGER_FOLD, LedgerPyFull()], ids=["declarative", "python"])
@pytest.mark.parametrize("as_of,known_at,want", BITEMPORAL_TABLE)
def test_bitemporal_late_arriving_and_corrected_events(ledger_store, fold, as_of, known_at, want):
    """A backdated event recorded later changes as_of answers, not answers known_at earlier."""
    got = frame_to_dict(fold.state(ledger_store, as_of=as_of, known_at=known_at))
    row = got["acct-1"]
    assert (row["balance"], row["last_amount"], row["last_type"]) == want


@pytest.mark.parametrize("known_at,balance", [
    ("2024-01-10T00:00:00Z", 120), ("2024-01-09T23:59:59.999999Z", 70), ("2024-01-10T00:00:00.000001Z", 120),
    ("2024-01-12T00:00:00Z", 100), ("2024-01-11T23:59:59.999999Z", 120),
])
@pytest.mark.parametrize("fold", [LEDGER_FOLD, LedgerPyFull()], ids=["declarative", "python"])
def test_known_at_bound_is_inclusive_to_the_microsecond(ledger_store, fold, known_at, balance):
    """known_at=T keeps events recorded at T exactly and drops those recorded one microsecond later."""
    got = frame_to_dict(fold.state(ledger_store, known_at=known_at))
    assert got["acct-1"]["balance"] == balance


def test_bitemporal_stream_existence(ledger_store):
    """A stream appears once one of its events is in both cuts."""
    store = ledger_store
    assert list(LEDGER_FOLD.state(store, as_of="2024-01-03")["stream_id"]) == ["acct-1"]
    assert list(LEDGER_FOLD.state(store, as_of="2024-01-04")["stream_id"]) == ["acct-1", "acct-2"]
    assert LEDGER_FOLD.state(store, known_at=0).empty


def test_fold_order_is_version_order_not_occurred_at(make_store):
    """last()/first() follow stream version even when occurred_at says otherwise."""
    df = make_events([
        dict(stream_id="s", event_type="Set", occurred_at="2024-01-05", status="v1"),
        dict(stream_id="s", event_type="Set", occurred_at="2024-01-01", status="v2"),  # backdated
    ])
    f = Fold("f", fields={"first": r.first("status"), "last": r.last("status"),
                          "when": r.last("occurred_at")})
    store = make_store(df, [f])
    row = frame_to_dict(f.state(store))["s"]
    assert (row["first"], row["last"], row["when"]) == ("v1", "v2", ts("2024-01-01"))
    # as_of keeps only v2 (occurred 01-01); it is both first and last of what remains.
    row = frame_to_dict(f.state(store, as_of="2024-01-02"))["s"]
    assert (row["first"], row["last"], row["version"]) == ("v2", "v2", 2)


def test_state_columns_and_filters(make_store):
    df = make_events(LEDGER + [dict(stream_id="cust-1", stream_type="customer", event_type="Joined",
                                    occurred_at="2024-01-01", amount=None, status="gold")])
    store = make_store(df, [LEDGER_FOLD])
    out = LEDGER_FOLD.state(store)
    assert list(out.columns) == ["stream_id", "balance", "last_amount", "last_type", "version", "position"]
    assert list(out["stream_id"]) == ["acct-1", "acct-2"]  # the customer stream is another type
    assert out.set_index("stream_id").loc["acct-1", ["version", "position"]].tolist() == [5, 5]
    only = LEDGER_FOLD.state(store, streams="acct-2")
    assert list(only["stream_id"]) == ["acct-2"]
    assert list(LEDGER_FOLD.state(store, streams=["acct-2", "nope"])["stream_id"]) == ["acct-2"]
    every = Fold("all", fields={"n": r.count()}).state(store)
    assert dict(zip(every["stream_id"], every["n"])) == {"acct-1": 5, "acct-2": 2, "cust-1": 1}


def test_where_and_envelope_reducers(make_store):
    df = make_events(LEDGER)
    f = Fold("f", stream_type="account", fields={
        "big": r.count(event_types="Deposited", where="amount >= 60"),
        "first_seen": r.first("occurred_at"),
        "last_recorded": r.max("recorded_at"),
        "n_versions": r.max("version"),
        "status": r.last_non_null("status").fill_null("none"),
        "half": r.sum("amount", event_types="Deposited") / 2,
        "ratio": r.count(event_types="Withdrawn") / r.count(event_types="Nope"),  # x/0 -> NULL
        "neg": -r.count(),
    })
    got = frame_to_dict(f.state(make_store(df, [f])))
    a = got["acct-1"]
    assert a["big"] == 1 and a["first_seen"] == ts("2024-01-01") and a["n_versions"] == 5
    assert a["last_recorded"] == ts("2024-01-12") and a["status"] == "open"
    assert a["half"] == 75 and a["ratio"] is None and a["neg"] == -5
    assert got["acct-2"]["status"] == "closed"


@pytest.mark.parametrize("fields,match", [
    ({"x": r.sum("amout")}, "amout"),
    ({"x": r.sum("status")}, "numeric"),
    ({"x": r.last("status") + 1}, "arithmetic"),
    ({"x": r.count(where="amout > 1")}, "amout"),
    ({"x": r.count(where="amount >")}, "where"),
])
def test_bad_fold_is_a_clear_error_before_work(one_store, fields, match):
    store = one_store(make_events(LEDGER))
    with pytest.raises(InvalidFold, match=match) as e:
        Fold("bad", fields=fields).state(store)
    assert isinstance(e.value, EventKitError)


@pytest.mark.parametrize("kwargs", [{"as_of": "yesterday"}, {"known_at": "01/02/2024"},
                                    {"as_of": 5}, {"known_at": 1.5}, {"as_of": object()}])
def test_bad_time_is_a_clear_error(one_store, kwargs):
    store = one_store(make_events(LEDGER))
    for fold in (LEDGER_FOLD, LedgerPyFull()):
        with pytest.raises(InvalidFold, match="as_of|known_at"):
            fold.state(store, **kwargs)


@pytest.mark.parametrize("as_of", ["2024-01-04", dt.datetime(2024, 1, 4),
                                   dt.datetime(2024, 1, 4, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
                                   pd.Timestamp("2024-01-04"), dt.date(2024, 1, 4)])
def test_time_formats_agree(one_store, as_of):
    store = one_store(make_events(LEDGER))
    got = frame_to_dict(LEDGER_FOLD.state(store, as_of=as_of, known_at="2024-01-11T00:00:00Z"))
    assert got["acct-1"]["balance"] == 150


# -- Python folds ------------------------------------------------------------------------------
def _dep(s, e):
    s["balance"] += e.amount


def _wd(s, e):
    return {**s, "balance": s["balance"] - e.amount}  # returning a new state also works


def test_pyfold_functional_api_and_columns(make_store):
    store = make_store(make_events(LEDGER))
    f = PyFold("bal", stream_type="account", initial={"balance": 0},
               handlers={"Deposited": _dep, "Withdrawn": _wd}, columns=["amount"])
    got = frame_to_dict(f.state(store))
    assert got["acct-1"]["balance"] == 120 and got["acct-2"]["balance"] == 0
    assert got["acct-1"]["version"] == 5 and got["acct-2"]["position"] == 7


def test_pyfold_scalar_state_and_errors(one_store):
    store = one_store(make_events(LEDGER))
    n = PyFold("n", initial=0, handlers={"*": lambda s, e: s + 1})
    assert frame_to_dict(n.state(store))["acct-1"]["state"] == 5
    with pytest.raises(InvalidFold, match="initial"):
        PyFold("x", handlers={})
    with pytest.raises(InvalidFold, match="not callable"):
        PyFold("x", initial=0, handlers={"A": 3})
    with pytest.raises(InvalidFold, match="amout"):
        PyFold("x", initial=0, columns=["amout"]).state(store)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_pyfold_workers_agree(one_store, workers):
    """Streams split over forked workers give the same answer as one process."""
    rows = []
    for i in range(60):
        rows.append(dict(stream_id=f"s{i % 17}", event_type=["Deposited", "Withdrawn"][i % 3 == 0],
                         occurred_at=f"2024-01-{1 + i % 20:02d}", amount=i, status=None))
    store = one_store(make_events(rows))
    want = frame_to_dict(LEDGER_FOLD.state(store, as_of="2024-01-15", known_at=50))
    got = frame_to_dict(LedgerPyFull().state(store, as_of="2024-01-15", known_at=50, workers=workers))
    assert got == want
    snaps_py = LedgerPyFull().snapshots(store, every="2D", known_at=50, workers=workers)
    snaps_decl = LEDGER_FOLD.snapshots(store, every="2D", known_at=50)
    pd.testing.assert_frame_equal(snaps_py, snaps_decl, check_dtype=False)
