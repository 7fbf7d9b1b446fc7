"""What an analyst naturally feeds `eventkit import`: eventkit's own exports (`read`/`sql --format csv|json`,
`--flatten`), and CSV headers as spreadsheets write them (';'-separated, ', '-separated, a pandas index
column, a trailing comma). Each either imports as the source held it or is refused, before anything is
stored, naming the column and what to do (not 'line 2: ... drop it from the frame')."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import eventkit as ek
from conftest import store_fingerprint
from eventkit.cli import cli


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "a"
    with ek.open_store(path) as a:
        a.append("s1", [ek.Event("Opened", {"amount": 1.5, "note": "x"}, metadata={"by": "ann"})])
        a.append("s2", [ek.Event("Closed", {"amount": 2.0})])
    return path


def new_store(tmp_path, name="b") -> Path:
    path = tmp_path / name
    ek.open_store(path).close()
    return path


def same_events(a: Path, b: Path) -> None:
    with ek.open_store(a) as x, ek.open_store(b) as y:
        want, got = x.read_all(), y.read_all()
        cols = ["stream_id", "stream_type", "version", "event_type", "event_id", "occurred_at", "amount", "note"]
        assert got[cols].astype(str).values.tolist() == want[cols].astype(str).values.tolist()
        assert got["metadata"].tolist()[0] == {"by": "ann"}
        assert y.fields == x.fields


@pytest.mark.parametrize("export", [["sql", "SELECT * FROM events", "--format", "csv", "--flatten"],
                                    ["sql", "SELECT * FROM events", "--format", "json"],
                                    ["read", "s1", "--format", "csv"]])
def test_an_export_is_refused_naming_drop_and_imports_with_it(source, tmp_path, export):
    """`eventkit read a s1 --format csv > s1.csv; eventkit import b s1.csv` said 'line 2: column 'position' is
    assigned by the store at commit; drop it from the frame': a CLI user has no frame and no way to drop it."""
    out = invoke(*[export[0], source, *export[1:]])
    assert out.exit_code == 0, out.output
    suffix = "json" if "json" in export else "csv"
    f = tmp_path / f"export.{suffix}"
    f.write_text(out.output)
    b = new_store(tmp_path)
    before = store_fingerprint(b)
    out = invoke("import", b, f, "--no-progress")
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert "'position'" in out.output and "--drop position --drop recorded_at" in out.output, out.output
    assert "line 2" not in out.output and "frame" not in out.output, out.output
    assert store_fingerprint(b) == before
    out = invoke("import", b, f, "--no-progress", "--drop", "position", "--drop", "recorded_at")
    assert out.exit_code == 0, out.output
    if export[0] == "read":
        with ek.open_store(b) as y:
            assert y.read_all()[["stream_id", "amount", "note"]].values.tolist() == [["s1", 1.5, "x"]]
            assert y.read_all()["metadata"].tolist() == [{"by": "ann"}]
    else:
        same_events(source, b)
    again = invoke("import", b, f, "--no-progress", "--drop", "position", "--drop", "recorded_at")
    assert again.exit_code == 0 and "already stored" in again.output, again.output


def test_drop_names_a_column_the_file_does_not_have(source, tmp_path):
    f = tmp_path / "in.csv"
    f.write_text("stream_id,event_type\na,E\n")
    out = invoke("import", new_store(tmp_path), f, "--no-progress", "--drop", "nosuch")
    assert out.exit_code == 1 and "'nosuch'" in out.output and "stream_id" in out.output, out.output


def test_a_flattened_data_column_is_its_payload_field(tmp_path):
    """`sql --flatten` writes data.amount: import refused it as 'payload field names must be identifiers'."""
    f = tmp_path / "in.csv"
    f.write_text("stream_id,event_type,data.amount\na,E,3\n")
    b = new_store(tmp_path)
    out = invoke("import", b, f, "--no-progress")
    assert out.exit_code == 0, out.output
    with ek.open_store(b) as y:
        assert y.fields == {"amount": "BIGINT"} and y.read_all()["amount"].tolist() == [3]
    f.write_text("stream_id,event_type,data.amount,amount\na,E,3,4\n")
    out = invoke("import", b, f, "--no-progress")
    assert out.exit_code == 1 and "'amount'" in out.output and "more than once" in out.output, out.output


@pytest.mark.parametrize(("header", "hint"), [
    ("stream_id;event_type;amount\na;E;1\n", "';'"),
    ("stream_id\tevent_type\tamount\na\tE\t1\n", "tab"),
    ("stream_id, event_type, amount\na, E, 1\n", "' event_type'"),
    ("Stream_ID,Event_Type,amount\na,E,1\n", "'Stream_ID'"),
])
def test_a_header_without_stream_id_says_what_it_has_instead(tmp_path, header, hint):
    """A ';'-separated file said 'line 2: the frame has no 'stream_id' column'."""
    f = tmp_path / "in.csv"
    f.write_text(header)
    b = new_store(tmp_path)
    before = store_fingerprint(b)
    out = invoke("import", b, f, "--no-progress")
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert hint in out.output and "line 2" not in out.output and "frame" not in out.output, out.output
    assert store_fingerprint(b) == before


@pytest.mark.parametrize("header", [",stream_id,event_type,amount\n0,a,E,1\n", "stream_id,event_type,amount,\na,E,1,\n"])
def test_a_column_without_a_name_is_refused_naming_its_place(tmp_path, header):
    """A pandas index column (or a trailing comma) said "line 2: payload field names must be identifiers (e.g. '')"."""
    f = tmp_path / "in.csv"
    f.write_text(header)
    b = new_store(tmp_path)
    out = invoke("import", b, f, "--no-progress")
    place = "column 1" if header.startswith(",") else "column 4"
    assert out.exit_code == 1 and place in out.output and "no name" in out.output, out.output
    assert "line 2" not in out.output
    out = invoke("import", b, f, "--no-progress", "--drop", "")
    assert out.exit_code == 0, out.output


def test_a_payload_column_name_that_is_not_an_identifier_names_the_header(tmp_path):
    f = tmp_path / "in.csv"
    f.write_text("stream_id,event_type,unit price\na,E,1\n")
    out = invoke("import", new_store(tmp_path), f, "--no-progress")
    assert out.exit_code == 1 and "'unit price'" in out.output and "--map" in out.output, out.output
    assert "line 2" not in out.output
