"""The hostile-value matrix (issue 7): every hostile id, name and value, through every append path.

Each value goes in through ``append`` (ek.Event), ``append_frame`` (a small frame: hot log, and a
large one: a segment at once) and the command line (``eventkit append`` with JSON, ``eventkit
import`` with JSONL and CSV). It is either refused with an EventKitError (the CLI: one ``Error:``
line, exit status 1) leaving the store's files byte-identical, or it reads back exactly through
``read_stream``, ``read_all`` and ``store.sql``, before and after sealing and after reopening.
One rule per value: every path that can carry it treats it the same way.

Also here: store paths with quotes and other awkward characters (no path is spliced into SQL
unescaped), and user SQL that changes its DuckDB session (it must not reach the store's reads).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import eventkit as ek
from conftest import store_fingerprint
from eventkit.cli import cli

UTC = dt.timezone.utc
PLUS5 = dt.timezone(dt.timedelta(hours=5))
MINUS5 = dt.timezone(dt.timedelta(hours=-5))
API_PATHS = ("append", "frame", "bulk")
CLI_PATHS = ("cli_json", "cli_jsonl", "cli_csv")


@dataclass(frozen=True)
class Case:
    """One hostile value in one place of an event.

    Attributes:
        where: stream_id, event_id, event_type, stream_type, field (a payload field's name),
            payload, meta_key, meta_value or occurred_at.
        value: The value.
        accept: Whether the store keeps it (and reads it back) or refuses it.
        expect: What reads back, when not the value itself.
        paths: The paths that can carry it (JSON has no datetime; CSV no surrogate, no empty
            string distinct from null, no metadata object).
    """

    where: str
    value: Any
    accept: bool
    expect: Any = None
    paths: tuple[str, ...] = API_PATHS + CLI_PATHS

    @property
    def expected(self) -> Any:
        return self.value if self.expect is None else self.expect


NO_CSV = API_PATHS + ("cli_json", "cli_jsonl")
API = API_PATHS

CASES = {
    # ids and event types: text without NUL or lone surrogates; anything else is kept exactly
    "stream_id NUL": Case("stream_id", "a\x00b", False),
    "stream_id lone surrogate": Case("stream_id", "a\ud800", False, paths=NO_CSV),
    "stream_id empty": Case("stream_id", "", False, paths=NO_CSV),
    "stream_id bool": Case("stream_id", True, False, paths=("append", "frame", "bulk", "cli_json", "cli_jsonl")),
    "stream_id trailing newline": Case("stream_id", "s\n", True),
    "stream_id quotes and unicode": Case("stream_id", "it's \"ünï\"; --", True),
    "event_id NUL": Case("event_id", "e\x00", False),
    "event_id lone surrogate": Case("event_id", "\udc00", False, paths=NO_CSV),
    "event_id empty": Case("event_id", "", False, paths=NO_CSV),
    "event_id trailing newline": Case("event_id", "e-1\n", True),
    "event_type NUL": Case("event_type", "X\x00", False),
    "event_type lone surrogate": Case("event_type", "\ud800", False, paths=NO_CSV),
    "event_type empty": Case("event_type", "", False, paths=NO_CSV),
    "event_type trailing newline": Case("event_type", "X\n", True),
    # stream types and field names are names: one strict rule
    "stream_type trailing newline": Case("stream_type", "acct\n", False),
    "stream_type NUL": Case("stream_type", "acct\x00", False),
    "stream_type dot-dot": Case("stream_type", "..", False),
    "stream_type slash": Case("stream_type", "a/b", False),
    "stream_type empty": Case("stream_type", "", False, paths=NO_CSV),
    "stream_type lone surrogate": Case("stream_type", "\ud800", False, paths=NO_CSV),
    "field trailing newline": Case("field", "amount\n", False, paths=NO_CSV),
    "field case-only clash": Case("field", "Amount", False),
    "field NUL": Case("field", "a\x00", False, paths=NO_CSV),
    "field lone surrogate": Case("field", "\ud800", False, paths=NO_CSV),
    "field empty": Case("field", "", False, paths=API + ("cli_json",)),
    "field dotted": Case("field", "a.b", False),
    "field envelope name": Case("field", "position", False),
    "field envelope name in other case": Case("field", "Version", False),
    # payload values
    "payload NUL": Case("payload", "a\x00b", True),
    "payload lone surrogate": Case("payload", "x\ud800", False, paths=NO_CSV),
    "payload empty string": Case("payload", "", True, paths=NO_CSV),
    "payload true": Case("payload", True, True),
    "payload false": Case("payload", False, True),
    "payload inf": Case("payload", math.inf, True, paths=NO_CSV),
    "payload -inf": Case("payload", -math.inf, True, paths=NO_CSV),
    "payload nan": Case("payload", math.nan, True, expect="missing", paths=NO_CSV),
    "payload Decimal Infinity": Case("payload", decimal.Decimal("Infinity"), True, expect=math.inf, paths=("append",)),
    "payload int64 max": Case("payload", 2**63 - 1, True),
    "payload int64 min": Case("payload", -(2**63), True),
    "payload beyond int64": Case("payload", 2**63, False, paths=("append", "cli_json", "cli_jsonl")),
    "payload below int64": Case("payload", -(2**63) - 1, False, paths=("append", "cli_json", "cli_jsonl")),
    "payload uint64 beyond int64": Case("payload", np.uint64(2**63), False, paths=API),
    "payload nested object": Case("payload", {"a": 1}, False, paths=("append", "cli_json", "cli_jsonl")),
    "payload list": Case("payload", [1, 2], False, paths=("append", "cli_json", "cli_jsonl")),
    "payload timedelta64": Case("payload", np.timedelta64(5, "s"), False, paths=API),
    "payload timedelta": Case("payload", dt.timedelta(seconds=5), False, paths=API),
    "payload year 1 at +05:00": Case("payload", dt.datetime(1, 1, 1, tzinfo=PLUS5), False, paths=("append",)),
    "payload year 9999 at -05:00": Case("payload", dt.datetime(9999, 12, 31, 23, tzinfo=MINUS5), False, paths=("append",)),
    "payload year 1 UTC": Case("payload", dt.datetime(1, 1, 1, tzinfo=UTC), True, paths=API),
    "payload year 9999 UTC": Case("payload", dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), True, paths=API),
    "payload nanoseconds": Case("payload", pd.Timestamp("2024-01-01 00:00:00.000000001", tz="UTC"), False, paths=API),
    "payload bytes": Case("payload", b"raw", True, paths=API),  # BLOB, read back exactly (issue 11)
    # metadata: any text but lone surrogates
    "meta key lone surrogate": Case("meta_key", "\ud800", False, paths=("append", "frame", "bulk", "cli_json", "cli_jsonl")),
    "meta key NUL": Case("meta_key", "k\x00", True, paths=("append", "frame", "bulk", "cli_json", "cli_jsonl")),
    "meta key empty": Case("meta_key", "", True, paths=("append", "frame", "bulk", "cli_json", "cli_jsonl")),
    "meta value lone surrogate": Case("meta_value", "\udfff", False, paths=("append", "frame", "bulk", "cli_json", "cli_jsonl")),
    "meta value NUL": Case("meta_value", "v\x00", True, paths=("append", "frame", "bulk", "cli_json", "cli_jsonl")),
    "meta value empty": Case("meta_value", "", True, paths=("append", "frame", "bulk", "cli_json", "cli_jsonl")),
    # occurred_at: a time in years 1-9999 (UTC), to the microsecond; empty text is refused
    "occurred_at empty": Case("occurred_at", "", False, paths=NO_CSV),
    "occurred_at not a time": Case("occurred_at", "yesterday", False),
    "occurred_at year 1 at +05:00": Case("occurred_at", "0001-01-01T00:00:00+05:00", False),
    "occurred_at year 9999 at -05:00": Case("occurred_at", "9999-12-31T23:00:00-05:00", False),
    "occurred_at year 1 UTC": Case("occurred_at", "0001-01-01T00:00:00+00:00", True),
    "occurred_at year 9999 UTC": Case("occurred_at", "9999-12-31T23:59:59.999999+00:00", True),
    "occurred_at nanoseconds": Case("occurred_at", pd.Timestamp("2024-01-01 00:00:00.000000001", tz="UTC"), False, paths=API),
    "occurred_at datetime year 1 at +05:00": Case("occurred_at", dt.datetime(1, 1, 1, tzinfo=PLUS5), False, paths=API),
}

MATRIX = [(name, path) for name, case in CASES.items() for path in case.paths]


def event_parts(case: Case) -> dict[str, Any]:
    """The hostile event as envelope fields, payload and metadata."""
    ev: dict[str, Any] = {"stream_id": "s-1", "event_type": "Hostile", "data": {"amount": 2.5}}
    if case.where in ("stream_id", "event_type", "event_id", "stream_type", "occurred_at"):
        ev[case.where] = case.value
    elif case.where == "field":
        ev["data"] = {case.value: 1}
    elif case.where == "payload":
        ev["data"] = {"v": case.value}
    elif case.where == "meta_key":
        ev["metadata"] = {case.value: "x"}
    elif case.where == "meta_value":
        ev["metadata"] = {"k": case.value}
    return ev


def send_api(store: ek.Store, path: str, ev: dict[str, Any]) -> None:
    if path == "append":
        store.append(ev["stream_id"], ek.Event(ev["event_type"], ev["data"], occurred_at=ev.get("occurred_at"),
                                               event_id=ev.get("event_id"), metadata=ev.get("metadata")),
                     stream_type=ev.get("stream_type"))
        return
    row = {k: v for k, v in ev.items() if k != "data"} | ev["data"]
    try:
        frame = pd.DataFrame([row])
    except UnicodeEncodeError:  # pandas' own string type cannot hold a lone surrogate: use objects
        frame = pd.DataFrame([list(row.values())], columns=pd.Index(list(row), dtype=object), dtype=object)
    if "metadata" in row:
        frame["metadata"] = pd.Series([row["metadata"]], dtype=object)
    store.append_frame(frame)


def send_cli(store_path: Path, path: str, ev: dict[str, Any], tmp: Path):
    obj = {k: (v.isoformat() if isinstance(v, (dt.datetime, pd.Timestamp)) else v) for k, v in ev.items()}
    if path == "cli_json":
        file = tmp / "events.json"
        file.write_text(json.dumps([obj]), encoding="utf-8")
        args = ["append", store_path, file]
    elif path == "cli_jsonl":
        file = tmp / "events.jsonl"
        file.write_text(json.dumps(obj) + "\n", encoding="utf-8")
        args = ["import", store_path, file, "--no-progress"]
    else:
        row = {k: v for k, v in obj.items() if k != "data"} | obj["data"]
        file = tmp / "events.csv"
        # booleans as a CSV file from anywhere spells them: true/false
        text = pd.DataFrame([row]).to_csv(index=False).replace("True", "true").replace("False", "false")
        file.write_bytes(text.encode("utf-8"))
        args = ["import", store_path, file, "--no-progress"]
    return CliRunner().invoke(cli, [str(a) for a in args])


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, str) and want == "missing":
        return got is None or (not isinstance(got, str) and pd.isna(got))
    if isinstance(want, (dt.datetime, pd.Timestamp)):
        return pd.Timestamp(got) == pd.Timestamp(want)
    if isinstance(want, bool):
        return isinstance(got, (bool, np.bool_)) and bool(got) is want
    if isinstance(want, float) and math.isinf(want):
        return float(got) == want
    if isinstance(want, int):
        return not isinstance(got, (bool, float, np.floating)) and int(got) == want
    return got == want


def check_read_back(store: ek.Store, case: Case, path: str) -> None:
    ev = event_parts(case)
    sid = ev["stream_id"]
    stored = store.read_stream(sid).iloc[-1]
    last_all = store.read_all().iloc[-1]
    for row in (stored, last_all):
        if case.where in ("stream_id", "event_id", "event_type", "stream_type"):
            assert row[case.where] == case.value, (row[case.where], case.value)
        elif case.where == "occurred_at":
            assert pd.Timestamp(row["occurred_at"]) == pd.Timestamp(case.value)
        elif case.where == "field":
            assert row[case.value] == 1
        elif case.where == "payload":
            assert _same(row.get("v"), case.expected), (row.get("v"), case.expected)
        else:
            assert row["metadata"] == ev["metadata"], (row["metadata"], ev["metadata"])
    (sql_sid,) = store.sql("SELECT stream_id FROM events ORDER BY position DESC LIMIT 1").fetchall()[0]
    assert sql_sid == sid
    if case.where == "payload" and case.expected != "missing":
        (v,) = store.sql("SELECT data.v FROM events ORDER BY position DESC LIMIT 1").fetchall()[0]
        assert _same(v, case.expected), (v, case.expected)


@pytest.mark.parametrize(("name", "path"), MATRIX, ids=[f"{n}-{p}" for n, p in MATRIX])
def test_hostile_value_is_refused_or_read_back_exactly(tmp_path, name, path):
    """Every hostile value: refused with the store byte-identical, or read back exactly (issue 7)."""
    case = CASES[name]
    store_path = tmp_path / "store"
    store = ek.open_store(store_path, bulk_threshold=1 if path in ("bulk", "cli_jsonl", "cli_csv") else 10**9)
    store.append("base", ek.Event("Opened", {"amount": 1.5}))
    if path in CLI_PATHS:
        store.close()  # closing folds the catalog's WAL in: the CLI's files start from rest
    before = store_fingerprint(store_path)
    ev = event_parts(case)
    if path in API_PATHS:
        try:
            send_api(store, path, ev)
            refused = None
        except ek.EventKitError as e:
            refused = e
        accepted = refused is None
    else:
        result = send_cli(store_path, path, ev, tmp_path)
        accepted = result.exit_code == 0
        if not accepted:
            assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
            errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
            assert len(errors) == 1 and result.output.strip() == errors[0], result.output
            refused = errors[0]
    assert accepted == case.accept, f"{name} via {path}: {'accepted' if accepted else refused}"
    if not accepted:
        assert store_fingerprint(store_path) == before
        if path in CLI_PATHS:
            store = ek.open_store(store_path)
        assert store.head == 1
        return
    if path in CLI_PATHS:
        store = ek.open_store(store_path)
    assert store.head == 2
    check_read_back(store, case, path)
    store.seal()
    check_read_back(store, case, path)
    store.close()
    with ek.open_store(store_path) as again:
        check_read_back(again, case, path)
        assert len(again.read_all()) == 2


# -- paths that SQL text must not trip over (item 9) ------------------------------------------------


@pytest.mark.parametrize("folder", ["it's", 'say "hi"', "a b;c", "ünï cødé", "k=v", "g[1]*?"])
def test_store_path_with_awkward_characters(tmp_path, folder):
    """No path is spliced into SQL unescaped: folds (after save_snapshot), projections, seal and
    compaction work in a store whose path holds quotes, spaces, ';', unicode or a key=value folder."""
    store = ek.open_store(tmp_path / folder / "store", bulk_threshold=3)
    store.append("a", ek.Event("Deposited", {"amount": 1.0}), stream_type="acct")
    store.append_frame(pd.DataFrame({"stream_id": ["b"] * 3, "event_type": "Deposited", "amount": [1.0, 2.0, 3.0]}),
                       stream_type="acct")
    store.seal()
    store.append("a", ek.Event("Deposited", {"amount": 5.0}))
    store.seal()
    assert store.compact().merged_segments >= 2
    fold = ek.Fold("acct", fields={"balance": ek.sum("amount")})
    fold.save_snapshot(store)
    store.append("a", ek.Event("Deposited", {"amount": 4.0}))
    assert fold.state(store).set_index("stream_id")["balance"].to_dict() == {"a": 10.0, "b": 6.0}
    projection = store.project(lambda b: b[["event_id", "stream_id"]], name="ids")
    projection.run_once()
    assert len(projection.df()) == 6
    assert len(store.read_all()) == 6
    assert store.sql("SELECT count(*) FROM events").fetchall() == [(6,)]


def test_fold_constants_and_names_with_quotes_are_quoted(fresh_store):
    """Event types and stream ids holding quotes, and inf/nan constants, reach SQL as quoted text."""
    fresh_store.append("o'brien", ek.Event("It's \"done\"", {"amount": 2.0}), stream_type="acct")
    fold = ek.Fold("acct", fields={"n": ek.count(event_types=["It's \"done\""]), "total": ek.sum("amount"),
                                   "capped": ek.sum("amount") + math.inf})
    state = fold.state(fresh_store, streams=["o'brien"])
    assert state[["stream_id", "n", "total", "capped"]].values.tolist() == [["o'brien", 1, 2.0, math.inf]]


# -- the user's SQL session (item 10) -------------------------------------------------------------


@pytest.mark.parametrize("statement", [
    "SET enable_external_access = false",
    "SET threads = 1",
    "SET memory_limit = '1MB'",
    "SET TimeZone = 'America/New_York'",
    "CREATE MACRO abs(x) AS 42",
    "CREATE TABLE events AS SELECT 1 AS x",
    "CREATE TABLE _hot AS SELECT 1 AS x",
    "CREATE VIEW _pos AS SELECT 1 AS position",
])
def test_user_sql_session_state_never_reaches_the_stores_reads(tmp_path, statement):
    """A SET, macro, table or view made through store.sql does not change or break later reads."""
    store = ek.open_store(tmp_path / "s")
    store.append("a", ek.Event("Deposited", {"amount": -1.0}, event_id="e-1"), stream_type="acct")
    store.seal()
    store.append("a", ek.Event("Deposited", {"amount": 2.0}), stream_type="acct")
    store.sql(statement)
    assert store.read_all()["amount"].tolist() == [-1.0, 2.0]
    assert str(store.read_stream("a")["occurred_at"].dt.tz) == "UTC"
    assert ek.Fold("acct", fields={"total": ek.sum("amount")}).state(store)["total"].tolist() == [1.0]
    assert store.append("a", ek.Event("Deposited", {"amount": -1.0}, event_id="e-1")).duplicate  # a re-send
    store.seal()
    assert store.info().events == 2
    assert store.sql("SELECT count(*) FROM events").fetchall() == [(2,)]  # and later user SQL still works


# -- names (item 15) -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [".", "..", "x\n", "", "a/b", ".hidden", "x\x00", "\ud800", "a" * 129])
def test_every_name_that_becomes_a_folder_follows_one_rule(fresh_store, bad):
    """Stream types, projection, subscription and follow names: one check (no '.', '..', newline)."""
    before = store_fingerprint(fresh_store.path)
    attempts = [
        lambda: fresh_store.append("s", ek.Event("X"), stream_type=bad),
        lambda: fresh_store.project(lambda b: b, name=bad),
        lambda: fresh_store.subscribe(lambda b: None, name=bad),
        lambda: next(iter(fresh_store.follow(name=bad, timeout=0))),
    ]
    for attempt in attempts:
        with pytest.raises(ek.InvalidInput, match="letters, digits"):
            attempt()
    assert store_fingerprint(fresh_store.path) == before
