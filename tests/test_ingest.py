"""Importing files: a CSV column's type comes from the whole file (dirty cells are refused or set
aside, never turn a field into text), and importing the same rows again stores nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import eventkit as ek
from eventkit.cli import cli

from conftest import store_fingerprint


def run(*args: object):
    return CliRunner().invoke(cli, ["import", *[str(a) for a in args], "--no-progress"])


def ok(*args: object) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result.output


def error(*args: object) -> str:
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.output.strip()


@pytest.fixture
def store(tmp_path) -> Path:
    path = tmp_path / "s"
    ek.open_store(path).close()
    return path


def read(path: Path) -> pd.DataFrame:
    with ek.open_store(path) as s:
        return s.read_all()


def fields(path: Path) -> dict[str, str]:
    with ek.open_store(path) as s:
        return s.fields


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("stream_id,event_type,amount,note\n" + "".join(r + "\n" for r in rows))
    return path


def tx_rows(n: int, start: int = 0) -> list[str]:
    return [f"acct-{i % 7},Deposited,{i},n{i}" for i in range(start, start + n)]


# -- item 2: one dirty cell --------------------------------------------------------------------------


def test_a_dirty_cell_is_refused_naming_its_line_and_nothing_is_stored(store, tmp_path):
    """'three' in one cell of a numeric column made the field VARCHAR for the whole store."""
    rows = tx_rows(50)
    rows[2] = "acct-2,Deposited,three,n2"
    csv = write_csv(tmp_path / "tx.csv", rows)
    before = store_fingerprint(store)
    message = error(store, csv)
    assert "line 4: amount 'three' is not a number" in message
    assert "header as line 1" in message and "--rejects" in message and "nothing was imported" in message
    assert store_fingerprint(store) == before
    assert "amount" not in fields(store)


def test_a_dirty_cell_in_a_later_batch_is_refused_before_the_first_batch(store, tmp_path):
    rows = tx_rows(300)
    rows[250] = "acct-1,Deposited,12 EUR,x"
    before = store_fingerprint(store)
    assert "line 252: amount '12 EUR' is not a number" in error(store, write_csv(tmp_path / "tx.csv", rows),
                                                               "--batch-size", "100")
    assert store_fingerprint(store) == before


def test_rejects_file_takes_the_bad_rows_and_the_rest_imports(store, tmp_path):
    rows = tx_rows(20)
    rows[2] = "acct-2,Deposited,three,n2"
    rows[10] = "acct-3,,10,n10"
    out = ok(store, write_csv(tmp_path / "tx.csv", rows), "--rejects", tmp_path / "bad.csv", "--batch-size", "7")
    assert "imported 18 events" in out and "2 rows" in out and "bad.csv" in out
    assert fields(store)["amount"] == "BIGINT"
    df = read(store)
    assert len(df) == 18 and int(df["amount"].sum()) == sum(range(20)) - 2 - 10
    bad = pd.read_csv(tmp_path / "bad.csv", dtype=str)
    assert bad["_line"].tolist() == ["4", "12"]
    assert bad.loc[0, "amount"] == "three" and "not a number" in bad.loc[0, "_reason"]
    assert "event_type is empty" in bad.loc[1, "_reason"]
    # Fixing the rejected rows and importing the file again adds exactly them.
    rows[2], rows[10] = "acct-2,Deposited,2,n2", "acct-3,Deposited,10,n10"
    out = ok(store, write_csv(tmp_path / "tx.csv", rows))
    assert "imported 2 events" in out and "18 rows already stored" in out
    assert int(read(store)["amount"].sum()) == sum(range(20))


def test_the_stores_type_decides(store, tmp_path):
    """amount is BIGINT in the store: a file whose amounts are all words is refused, not a new type."""
    ok(store, write_csv(tmp_path / "a.csv", tx_rows(3)))
    message = error(store, write_csv(tmp_path / "b.csv", ["acct-1,Deposited,ten,x", "acct-1,Deposited,five,y"]))
    assert "line 2: amount 'ten' is not a number" in message and "line 3: amount 'five'" in message
    assert fields(store)["amount"] == "BIGINT"


def test_a_text_column_with_some_numbers_stays_text(store, tmp_path):
    rows = [f"a,Noted,1,{'see ' + str(i) if i % 3 else str(i)}" for i in range(30)]
    ok(store, write_csv(tmp_path / "n.csv", rows))
    assert fields(store)["note"] == "VARCHAR"
    assert read(store)["note"].tolist()[:2] == ["0", "see 1"]


def test_as_text_keeps_a_mostly_numeric_column_as_text(store, tmp_path):
    rows = tx_rows(10) + ["acct-1,Deposited,unknown,x"]
    ok(store, write_csv(tmp_path / "t.csv", rows), "--as-text", "amount")
    assert fields(store)["amount"] == "VARCHAR"


def test_types_inferred_from_the_whole_file(store, tmp_path):
    csv = tmp_path / "k.csv"
    csv.write_text("stream_id,event_type,n,x,flag,day,at,empty\n"
                   "a,E,1,1,true,2024-01-02,2024-01-02T10:00:00Z,\n"
                   "a,E, 2 ,2.5,FALSE,2024-01-03,2024-01-03 11:00:00,NA\n")
    ok(store, csv)
    assert fields(store) == {"n": "BIGINT", "x": "DOUBLE", "flag": "BOOLEAN", "day": "DATE", "at": "TIMESTAMPTZ"}
    df = read(store)
    assert df["n"].tolist() == [1, 2] and df["flag"].tolist() == [True, False]
    assert str(df["at"].iloc[1]) == "2024-01-03 11:00:00+00:00"


def test_a_bad_occurred_at_is_refused_up_front(store, tmp_path):
    csv = tmp_path / "o.csv"
    csv.write_text("stream_id,event_type,occurred_at\na,E,2024-01-01\na,E,yesterday\n")
    assert "line 3: occurred_at 'yesterday' is not an ISO 8601 time" in error(store, csv)
    assert read(store).empty


# -- item 3: importing the same rows again --------------------------------------------------------


def test_importing_the_same_file_twice_stores_it_once(store, tmp_path):
    """Without an event_id column a re-run doubled the store."""
    csv = write_csv(tmp_path / "tx.csv", tx_rows(250))
    ok(store, csv, "--batch-size", "100")
    out = ok(store, csv, "--batch-size", "64")  # another batch size: the ids do not depend on it
    assert "imported" not in out and "250 rows already stored" in out
    assert len(read(store)) == 250
    assert read(store)["event_id"].str.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-9[0-9a-f]{3}-[0-9a-f]{12}$").all()


def test_the_same_rows_under_another_name_are_the_same_events(store, tmp_path):
    csv = write_csv(tmp_path / "tx.csv", tx_rows(40))
    ok(store, csv)
    (tmp_path / "copy").mkdir()
    moved = shutil.copy(csv, tmp_path / "copy" / "renamed.csv")
    assert "40 rows already stored" in ok(store, moved)
    assert len(read(store)) == 40


def test_rows_appended_to_the_file_are_all_a_rerun_imports(store, tmp_path):
    csv = write_csv(tmp_path / "tx.csv", tx_rows(150))
    ok(store, csv, "--batch-size", "100")
    write_csv(csv, tx_rows(180))
    out = ok(store, csv, "--batch-size", "100")
    assert "imported 30 events" in out and "150 rows already stored" in out
    df = read(store)
    assert len(df) == 180 and sorted(df["amount"]) == list(range(180))


def test_identical_rows_stay_two_events(store, tmp_path):
    """Two equal deposits on one day are two events, on every run."""
    csv = write_csv(tmp_path / "tx.csv", ["a,Deposited,5,x"] * 3 + ["b,Deposited,5,x"])
    assert "imported 4 events" in ok(store, csv, "--batch-size", "2")  # the copies span batches
    write_csv(csv, ["a,Deposited,5,x"] * 4 + ["b,Deposited,5,x"])
    assert "imported 1 event " in ok(store, csv)
    assert "5 rows already stored" in ok(store, csv, "--batch-size", "1")
    assert len(read(store)) == 5


def test_allow_duplicates_imports_again_on_purpose(store, tmp_path):
    csv = write_csv(tmp_path / "tx.csv", tx_rows(10))
    ok(store, csv)
    assert "imported 10 events" in ok(store, csv, "--allow-duplicates")
    assert len(read(store)) == 20


def test_the_stream_type_given_is_part_of_what_a_row_is(store, tmp_path):
    """The same rows imported as another stream type are other events (here: refused by the store)."""
    csv = tmp_path / "x.csv"
    csv.write_text("stream_id,event_type\nx-1,E\n")
    ok(store, csv, "--stream-type", "a")
    assert "1 rows already stored" in ok(store, csv, "--stream-type", "a")
    assert "cannot take events as 'b'" in error(store, csv, "--stream-type", "b")
    assert len(read(store)) == 1


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_reimport_is_a_noop_for_jsonl_and_parquet(store, tmp_path, fmt):
    frame = pd.DataFrame({"stream_id": [f"o-{i % 4}" for i in range(30)], "event_type": "Placed",
                          "total": [float(i) for i in range(30)]})
    path = tmp_path / f"orders.{fmt}"
    if fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    ok(store, path, "--batch-size", "8")
    assert "30 rows already stored" in ok(store, path, "--batch-size", "8")
    assert len(read(store)) == 30


def test_own_event_ids_with_rows_appended(store, tmp_path):
    """A file with an event_id column grown at the end: the stored rows are checked, the new ones added."""
    frame = pd.DataFrame({"stream_id": "a", "event_type": "E", "n": range(12), "event_id": [f"e-{i}" for i in range(12)]})
    frame.iloc[:8].to_csv(tmp_path / "e.csv", index=False)
    ok(store, tmp_path / "e.csv", "--batch-size", "5")
    frame.to_csv(tmp_path / "e.csv", index=False)
    out = ok(store, tmp_path / "e.csv", "--batch-size", "5")
    assert "imported 4 events" in out and "8 rows already stored" in out
    frame.loc[3, "n"] = 99  # the same id with other content is refused
    frame.to_csv(tmp_path / "e.csv", index=False)
    assert "e-3" in error(store, tmp_path / "e.csv")


def test_new_rows_around_stored_ones_in_one_batch(store, tmp_path):
    """First and last rows of a batch new, stored rows in between: only the new ones import."""
    csv = write_csv(tmp_path / "tx.csv", tx_rows(10, start=5))
    ok(store, csv)
    write_csv(csv, tx_rows(20))
    out = ok(store, csv)
    assert "imported 10 events" in out and "10 rows already stored" in out
    assert sorted(read(store)["amount"]) == list(range(20))


def test_jsonl_rows_appended_with_a_float_among_integers(store, tmp_path):
    """The grown batch types `amount` as DOUBLE where the first run had BIGINT: same rows, same ids."""
    path = tmp_path / "e.jsonl"
    rows = [f'{{"stream_id": "a", "event_type": "E", "amount": {i}}}' for i in range(5)]
    path.write_text("\n".join(rows) + "\n")
    ok(store, path)
    path.write_text("\n".join(rows + ['{"stream_id": "a", "event_type": "E", "amount": 2.5}']) + "\n")
    out = ok(store, path)
    assert "imported 1 event " in out and "5 rows already stored" in out
    assert sorted(read(store)["amount"]) == [0, 1, 2, 2.5, 3, 4]


def test_ctrl_c_says_what_was_stored_and_a_rerun_resumes(store, tmp_path, monkeypatch):
    """Regression: Ctrl-C during a long import printed only "Aborted!"."""
    csv = write_csv(tmp_path / "tx.csv", tx_rows(250))
    real = ek.Store.append_frame
    calls = []

    def interrupted_on_the_third_batch(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ek.Store, "append_frame", interrupted_on_the_third_batch)
    result = run(store, csv, "--batch-size", "100")
    assert result.exit_code == 130
    assert "Aborted" not in result.output
    assert ("interrupted: 200 events stored in 2 batches (positions 1..200); the batch in progress was not "
            "stored; run the same command again to import the rest") in result.output
    assert len(read(store)) == 200
    monkeypatch.setattr(ek.Store, "append_frame", real)
    out = ok(store, csv, "--batch-size", "100")
    assert "imported 50 events" in out and "200 rows already stored" in out
    assert len(read(store)) == 250 and read(store)["event_id"].is_unique


def test_a_file_as_it_comes_constant_event_type_and_a_time_format(store, tmp_path):
    """A results file with no event_type column and dates like "Jan 1 2000" imports as it is."""
    csv = tmp_path / "results.csv"
    csv.write_text("date,home_team,away_team,home_goals\nJan 1 2000,Arsenal,Chelsea,2\nFeb 29 2004,Leeds,Arsenal,0\n")
    out = ok(store, csv, "--stream-type", "team", "--event-type", "MatchPlayed", "--map", "home_team=stream_id",
             "--map", "date=occurred_at", "--time-format", "%b %d %Y")
    assert "imported 2 events" in out
    got = read(store)
    assert got["event_type"].tolist() == ["MatchPlayed", "MatchPlayed"]
    assert got["stream_type"].tolist() == ["team", "team"]
    assert [t.isoformat() for t in got["occurred_at"]] == ["2000-01-01T00:00:00+00:00", "2004-02-29T00:00:00+00:00"]
    assert "2 rows already stored" in ok(store, csv, "--stream-type", "team", "--event-type", "MatchPlayed",
                                         "--map", "home_team=stream_id", "--map", "date=occurred_at",
                                         "--time-format", "%b %d %Y")


def test_a_time_not_matching_the_format_names_its_line_and_value(store, tmp_path):
    csv = tmp_path / "results.csv"
    csv.write_text("date,stream_id\nJan 1 2000,a\nJan 32 2000,b\n")
    before = store_fingerprint(store)
    message = error(store, csv, "--event-type", "MatchPlayed", "--map", "date=occurred_at", "--time-format", "%b %d %Y")
    assert "line 3: 'Jan 32 2000'" in message and "%b %d %Y" in message
    assert store_fingerprint(store) == before


def test_event_type_option_with_an_event_type_column_is_refused(store, tmp_path):
    csv = tmp_path / "e.csv"
    csv.write_text("stream_id,event_type\na,Opened\n")
    assert "has an event_type column" in error(store, csv, "--event-type", "MatchPlayed")


def test_json_array_files_import_like_jsonl(store, tmp_path):
    import json

    path = tmp_path / "events.json"
    path.write_text(json.dumps([{"stream_id": "a", "event_type": "Opened", "data": {"owner": "Ann"}},
                                {"stream_id": "a", "event_type": "Deposited", "amount": 10}], indent=2))
    assert "imported 2 events" in ok(store, path)
    got = read(store)
    assert got["event_type"].tolist() == ["Opened", "Deposited"] and got["amount"].tolist()[1] == 10
    assert "2 rows already stored" in ok(store, path)
    bad = tmp_path / "one.json"
    bad.write_text('{"stream_id": "a"}')
    assert "not an array of events" in error(store, bad)


def test_dry_run_shows_what_would_be_imported_and_writes_nothing(store, tmp_path):
    csv = write_csv(tmp_path / "tx.csv", tx_rows(30))
    before = store_fingerprint(store)
    out = ok(store, csv, "--dry-run")
    assert "dry run, nothing written: 30 rows would import 30 events" in out
    assert "payload fields:" in out and "(new)" in out
    assert store_fingerprint(store) == before
    ok(store, csv)
    again = ok(store, csv, "--dry-run")
    assert "would import 0 events" in again and "30 rows are already stored" in again


def test_dry_run_lists_the_first_problems_and_fails(store, tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("stream_id,event_type,amount\na,Deposited,10\nb,Deposited,three\nc,Deposited,5\n")
    ok(store, write_csv(tmp_path / "tx.csv", tx_rows(3)))
    before = store_fingerprint(store)
    result = run(store, csv, "--dry-run")
    assert result.exit_code == 1
    assert "problem: line 3: amount 'three' is not a number" in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: the import would fail")
    assert store_fingerprint(store) == before


def test_a_refused_batch_names_the_file_line_of_its_first_bad_row(store, tmp_path):
    """Regression: errors named rows inside a batch ("batch 2 ... rows [2]"), not the file's line."""
    rows = ["stream_id,event_type,amount"] + [f"s{i},Deposited,{i}" for i in range(10)]
    rows[8] = "s7,Dep\x00osited,7"                          # the 8th data row: line 9 of the file
    csv = tmp_path / "t.csv"
    csv.write_text("\n".join(rows) + "\n")
    message = error(store, csv, "--batch-size", "4")
    assert "batch 2 (from line 6) was not imported: line 9: column 'event_type' holds NUL" in message
    assert len(read(store)) == 4


def test_jsonl_errors_name_the_file_line(store, tmp_path):
    import json

    lines = [json.dumps({"stream_id": f"s{i}", "event_type": "D" if i != 7 else "D\ud800", "amount": i})
             for i in range(10)]
    path = tmp_path / "e.jsonl"
    path.write_text("\n".join(lines[:3]) + "\n\n" + "\n".join(lines[3:]) + "\n")   # a blank line 4
    assert "e.jsonl line 9)" in error(store, path, "--batch-size", "4")
