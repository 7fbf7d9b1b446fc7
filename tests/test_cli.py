"""The eventkit command line: each command's happy path, and clean one-line errors for bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import eventkit as ek
from eventkit.cli import cli

README = Path(__file__).resolve().parents[1] / "README.md"


def run(*args: object, input: str | None = None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def ok(*args: object, input: str | None = None):
    result = run(*args, input=input)
    assert result.exit_code == 0, result.output
    return result


def fails(*args: object, input: str | None = None, exit_code: int = 1) -> str:
    """Run a command that must fail cleanly; returns its one error line."""
    result = run(*args, input=input)
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    if exit_code == 1:  # a ClickException: nothing but the one line
        assert result.output.strip() == errors[0]
    return errors[0]


def events(path: Path):
    with ek.open_store(path) as store:
        return store.read_all()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "bank"
    with ek.open_store(path) as store:
        store.append("acct-1", [ek.Event("Opened", {"owner": "Ann"}, occurred_at="2024-01-01T09:00:00Z"),
                                ek.Event("Deposited", {"amount": 10.0}, occurred_at="2024-01-02T09:00:00Z")],
                     stream_type="account")
        store.append("acct-2", [ek.Event("Opened", {"owner": "Bob"}, occurred_at="2024-01-03T09:00:00Z")],
                     stream_type="account")
    return path


JSONL = "\n".join(json.dumps(e) for e in [
    {"stream_id": "acct-1", "event_type": "Opened", "data": {"owner": "Ann"}, "occurred_at": "2024-01-01T09:00:00Z"},
    {"stream_id": "acct-1", "event_type": "Deposited", "amount": 10, "metadata": {"correlation_id": "c-1"}},
    {"stream_id": "acct-2", "event_type": "Opened", "owner": "Bob", "event_id": "e-2"},
]) + "\n"


# -- happy paths --------------------------------------------------------------------------------


def test_version():
    assert ok("--version").output.strip() == f"eventkit, version {ek.__version__}"


def test_init_creates_a_store_and_leaves_an_existing_one(tmp_path):
    assert "created store" in ok("init", tmp_path / "s").output
    assert ": 0 events" in ok("init", tmp_path / "s").output
    with ek.open_store(tmp_path / "s") as store:
        assert store.head == 0


def test_append_jsonl_file(tmp_path):
    ok("init", tmp_path / "s")
    (tmp_path / "ev.jsonl").write_text(JSONL)
    out = ok("append", tmp_path / "s", tmp_path / "ev.jsonl", "--stream-type", "account",
             "--expected-version", "no-stream").output
    assert "appended 3 events at positions 1..3" in out
    assert "acct-1  version 2" in out and "acct-2  version 1" in out
    df = events(tmp_path / "s")
    assert list(df["event_type"]) == ["Opened", "Deposited", "Opened"]
    assert set(df["stream_type"]) == {"account"}
    assert list(df["owner"].fillna("-")) == ["Ann", "-", "Bob"]  # "data" objects and flat fields alike
    assert df.loc[1, "amount"] == 10
    assert df.loc[1, "metadata"] == {"correlation_id": "c-1"}
    assert str(df.loc[0, "occurred_at"]) == "2024-01-01 09:00:00+00:00"


@pytest.mark.parametrize("text", [
    '[{"stream_id": "a", "event_type": "X", "n": 1}, {"stream_id": "b", "event_type": "Y", "n": 2}]',
    '{"stream_id": "a", "event_type": "X", "n": 1}\n\n{"stream_id": "b", "event_type": "Y", "n": 2}\n',
])
def test_append_from_stdin_json_array_or_jsonl(tmp_path, text):
    ok("init", tmp_path / "s")
    assert "appended 2 events" in ok("append", tmp_path / "s", "-", input=text).output
    assert list(events(tmp_path / "s")["n"]) == [1, 2]


def test_append_single_pretty_printed_object_from_stdin(tmp_path):
    ok("init", tmp_path / "s")
    text = json.dumps({"stream_id": "a", "event_type": "X", "data": {"n": 1}}, indent=2)
    assert "appended 1 event at positions 1..1" in ok("append", tmp_path / "s", input=text).output


def test_append_expected_version_number(store_path):
    ok("append", store_path, "--expected-version", "2", input='{"stream_id": "acct-1", "event_type": "Closed"}')
    assert events(store_path)["version"].max() == 3


def test_append_resend_with_event_ids_is_a_no_op(tmp_path):
    ok("init", tmp_path / "s")
    text = '{"stream_id": "a", "event_type": "X", "event_id": "e-1"}'
    ok("append", tmp_path / "s", input=text)
    assert "already stored" in ok("append", tmp_path / "s", input=text).output
    assert len(events(tmp_path / "s")) == 1


def test_append_is_atomic(store_path):
    text = '[{"stream_id": "acct-1", "event_type": "X"}, {"stream_id": "acct-9", "event_type": "X", "bad": {"x": 1}}]'
    fails("append", store_path, input=text)
    assert len(events(store_path)) == 3


def test_import_csv_with_mapping_in_batches(tmp_path):
    csv = tmp_path / "tx.csv"
    rows = ["account,kind,ts,amount,channel"]
    rows += [f"{i % 7},{'Deposited' if i % 2 else 'Withdrawn'},2024-01-{1 + i % 28:02d}T10:00:00Z,{i}.5,web"
             for i in range(250)]
    csv.write_text("\n".join(rows) + "\n")
    ok("init", tmp_path / "s")
    out = ok("import", tmp_path / "s", csv, "--map", "account=stream_id", "--map", "kind=event_type",
             "--map", "ts=occurred_at", "--stream-type", "account", "--batch-size", "100").output
    assert "imported 250 events into 7 streams in 3 batches (positions 1..250)" in out
    df = events(tmp_path / "s")
    assert len(df) == 250 and set(df["stream_id"]) == {str(i) for i in range(7)}  # ids stay text
    assert df["amount"].sum() == pytest.approx(sum(i + 0.5 for i in range(250)))
    assert str(df["occurred_at"].min()) == "2024-01-01 10:00:00+00:00"
    assert set(df["stream_type"]) == {"account"}


def test_import_parquet_and_reimport_skips_stored_batches(tmp_path):
    frame = pd.DataFrame({"order": [f"o-{i % 5}" for i in range(30)], "event_type": "Placed",
                          "total": [float(i) for i in range(30)], "event_id": [f"id-{i}" for i in range(30)]})
    frame.to_parquet(tmp_path / "orders.parquet")
    ok("init", tmp_path / "s")
    args = ("import", tmp_path / "s", tmp_path / "orders.parquet", "--map", "order=stream_id",
            "--batch-size", "10", "--no-progress")
    assert "imported 30 events into 5 streams in 3 batches" in ok(*args).output
    assert "30 rows already stored by an earlier import" in ok(*args).output
    assert len(events(tmp_path / "s")) == 30


def test_import_jsonl_with_data_objects_and_format_option(tmp_path):
    path = tmp_path / "events.txt"
    path.write_text(JSONL.replace('"stream_id"', '"acct"'))
    ok("init", tmp_path / "s")
    out = ok("import", tmp_path / "s", path, "--format", "jsonl", "--map", "acct=stream_id").output
    assert "imported 3 events" in out
    assert events(tmp_path / "s").loc[1, "metadata"] == {"correlation_id": "c-1"}


def test_import_failing_batch_says_what_was_stored(tmp_path):
    """A batch only the store can refuse (stream a is of type t1) fails after two are stored."""
    csv = tmp_path / "tx.csv"
    csv.write_text("stream_id,event_type,stream_type,n\n" + "".join(f"a,X,t1,{i}\n" for i in range(10))
                   + "a,X,t2,2\n")
    ok("init", tmp_path / "s")
    error = fails("import", tmp_path / "s", csv, "--batch-size", "5", "--no-progress")
    assert "batch 3 (from line 12) was not imported" in error
    assert "'t2'" in error and error.endswith("the 10 rows before it are stored")
    assert len(events(tmp_path / "s")) == 10


def test_sql_table_csv_json(store_path):
    query = "SELECT stream_id, count(*) AS n FROM events GROUP BY 1 ORDER BY 1"
    table = ok("sql", store_path, query).stdout.splitlines()
    assert table[0].split() == ["stream_id", "n"] and table[1].split() == ["acct-1", "2"]
    assert ok("sql", store_path, query, "--format", "csv").stdout == "stream_id,n\nacct-1,2\nacct-2,1\n"
    assert json.loads(ok("sql", store_path, query, "--format", "json").stdout) == [
        {"stream_id": "acct-1", "n": 2}, {"stream_id": "acct-2", "n": 1}]


def test_sql_payload_is_typed_and_known_at_cuts_transaction_time(store_path):
    assert ok("sql", store_path, "SELECT sum(data.amount) AS s FROM events", "--format", "csv").stdout == "s\n10.0\n"
    out = ok("sql", store_path, "SELECT count(*) AS n FROM events", "--known-at", "2", "--format", "csv").stdout
    assert out == "n\n2\n"


def test_sql_table_shows_at_most_max_rows(store_path):
    out = ok("sql", store_path, "SELECT * FROM range(10)", "--max-rows", "3").stdout
    assert len(out.splitlines()) == 5 and "10 rows; showing the first 3" in out


def test_info(store_path):
    out = ok("info", store_path).output
    assert "3 in 2 streams" in out and "Opened" in out and "amount DOUBLE" in out


def test_read_stream(store_path):
    table = ok("read", store_path, "acct-1").stdout
    assert "Opened" in table and "Deposited" in table
    rows = json.loads(ok("read", store_path, "acct-1", "--backwards", "--format", "json").stdout)
    assert [r["version"] for r in rows] == [2, 1] and rows[0]["amount"] == 10.0
    csv = ok("read", store_path, "acct-1", "--from-version", "2", "--to-version", "2", "--format", "csv").stdout
    assert pd.read_csv(io.StringIO(csv))["event_type"].tolist() == ["Deposited"]
    assert ok("read", store_path, "nobody").stdout.strip() == "(no rows)"


def test_seal_and_compact(store_path):
    assert "sealed 3 events" in ok("seal", store_path).output
    assert "nothing to seal" in ok("seal", store_path).output
    ok("append", store_path, "--stream-type", "account", input='{"stream_id": "acct-3", "event_type": "Opened"}')
    ok("seal", store_path)
    assert "merged 2 segments into 1 (4 events)" in ok("compact", store_path, "--target-events", "100").output
    assert "nothing to compact" in ok("compact", store_path, "--no-progress").output
    assert len(events(store_path)) == 4


# -- bad input: one clear line, non-zero exit, no traceback, store unchanged --------------------


@pytest.mark.parametrize("text, message", [
    ('{"stream_id": "a", "event_type": "X"', "stdin line 1 is not valid JSON"),
    ('[{"stream_id": "a", "event_type": "X"},]', "stdin is not valid JSON"),
    ('{"event_type": "X"}', "stdin event 1 has no 'stream_id'"),
    ('{"stream_id": "a", "event_type": "X"}\n{"stream_id": "", "event_type": "X"}', "stdin line 2 has no 'stream_id'"),
    ('{"stream_id": "a"}', "has no 'event_type'"),
    ('[1]', "stdin event 1 is a JSON int"),
    ('[]', "empty list"),
    ('', "stdin is empty"),
    ('{"stream_id": "a", "event_type": "X", "data": [1]}', "'data' must be an object"),
    ('[{"stream_id": "a", "event_type": "X", "n": 1}, {"stream_id": "a", "event_type": "X", "n": "one"}]',
     "field 'n' mixes kinds of value (int, str)"),
    ('{"stream_id": "a", "event_type": "X", "metadata": "oops"}', "metadata 'oops' is not a JSON object"),
    ('{"stream_id": "a", "event_type": "X", "occurred_at": "yesterday"}', "not an ISO 8601 time"),
    ('{"stream_id": "acct-1", "event_type": "X", "amount": "ten"}', "payload field 'amount' arrived as VARCHAR"),
    ('{"stream_id": "acct-1", "event_type": "X", "data": {"stream_id": "b"}}', "clash"),
])
def test_append_bad_input(store_path, text, message):
    assert message in fails("append", store_path, input=text)
    assert len(events(store_path)) == 3


def test_append_wrong_expected_version(store_path):
    error = fails("append", store_path, "--expected-version", "no-stream", input='{"stream_id": "acct-1", "event_type": "X"}')
    assert "wrong expected version for stream 'acct-1'" in error and "actual version is 2" in error


def test_append_unknown_expected_version(store_path):
    assert "'sometimes' is not a version number" in fails(
        "append", store_path, "--expected-version", "sometimes", input="{}", exit_code=2)


def test_missing_input_file(store_path, tmp_path):
    assert "does not exist" in fails("append", store_path, tmp_path / "nope.jsonl", exit_code=2)
    assert "does not exist" in fails("import", store_path, tmp_path / "nope.csv", exit_code=2)


@pytest.mark.parametrize("command", [["info"], ["read", "acct-1"], ["sql", "SELECT 1"], ["seal"], ["compact"],
                                     ["append", "-"]])
def test_no_store_at_path(tmp_path, command):
    error = fails(command[0], tmp_path / "typo", *command[1:], input="{}")
    assert "no eventkit store at" in error and "eventkit init" in error
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("command", [["info"], ["read", "acct-1"], ["sql", "SELECT 1"], ["seal"], ["append", "-"],
                                     ["state", "examples.bank_folds:account"]])
def test_an_empty_folder_is_not_a_store_to_read(tmp_path, command):
    """Read commands on an existing empty folder made a new empty store there and answered from it."""
    (tmp_path / "empty").mkdir()
    error = fails(command[0], tmp_path / "empty", *command[1:], input="{}")
    assert "no eventkit store at" in error and "eventkit init" in error
    assert list((tmp_path / "empty").iterdir()) == []


def test_a_misspelt_store_path_names_the_store_next_to_it(store_path):
    error = fails("info", store_path.parent / "bnak")
    assert "did you mean" in error and str(store_path) in error


def test_read_of_a_missing_stream_warns_on_stderr(store_path):
    result = run("read", store_path, "acct-3")
    assert result.exit_code == 0
    assert result.stdout.strip() == "(no rows)"
    assert result.stderr.strip().startswith("warning: no stream 'acct-3' in the store")
    assert "did you mean" in result.stderr


def test_state_with_a_misspelt_event_type_warns_on_stderr(store_path, tmp_path):
    (tmp_path / "folds.py").write_text(
        "import eventkit as ek\n"
        "f = ek.Fold('f', stream_type='account', fields={'n': ek.count(event_types=['Deposted'])})\n")
    result = run("state", store_path, f"{tmp_path / 'folds.py'}:f")
    assert result.exit_code == 0, result.output
    assert "warning: fold 'f', field 'n': event type 'Deposted' is not in the store" in result.stderr
    assert "did you mean 'Deposited'?" in result.stderr and "Traceback" not in result.stderr


def test_init_on_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    assert "is a file" in fails("init", tmp_path / "f")


def test_import_unknown_format(store_path, tmp_path):
    (tmp_path / "x.xml").write_text("<x/>")
    assert "cannot tell the format" in fails("import", store_path, tmp_path / "x.xml")
    assert "'xml' is not one of" in fails("import", store_path, tmp_path / "x.xml", "--format", "xml", exit_code=2)


@pytest.mark.parametrize("content, args, message", [
    ("a,b\n1,2\n", ["--map", "acct=stream_id"], "--map names column(s) ['acct']"),
    ("a,b\n1,2\n", ["--map", "acct"], "'acct' is not SRC=DST"),
    ("stream_id,event_type\n", [], "holds no rows"),
    ("", [], "Empty CSV file"),
    ("a,b\n1,2\n", ["--format", "parquet"], "cannot read"),
    ("a,b\n1,2\n", ["--format", "jsonl"], "line 1 is not valid JSON"),
])
def test_import_bad_input(store_path, tmp_path, content, args, message):
    (tmp_path / "in.csv").write_text(content)
    exit_code = 2 if "SRC=DST" in message else 1
    assert message in fails("import", store_path, tmp_path / "in.csv", "--no-progress", *args, exit_code=exit_code)
    assert len(events(store_path)) == 3


@pytest.mark.parametrize("query, message", [
    ("SELEC 1", "Parser Error"),
    ("SELECT nope FROM events", "Binder Error"),
])
def test_sql_errors_are_one_line(store_path, query, message):
    assert message in fails("sql", store_path, query)


def test_bad_known_at(store_path):
    assert "known_at" in fails("sql", store_path, "SELECT 1", "--known-at", "last tuesday")


# -- documentation ------------------------------------------------------------------------------


def test_every_command_has_an_example_and_is_in_the_readme():
    assert README.exists(), (
        "README.md is missing: document each command there as `eventkit <name>` (see tests/test_cli.py)")
    readme = README.read_text()
    assert cli.commands, "no commands registered"
    for name, command in cli.commands.items():
        help_text = command.get_help(cli.make_context("eventkit", [name, "--help"], resilient_parsing=True))
        assert "Example:" in help_text, f"`eventkit {name} --help` has no Example: block"
        assert f"eventkit {name}" in readme, f"README.md does not mention `eventkit {name}`"
