"""Values that are terminal commands: a stream id, event type or payload text holding ESC sequences, BEL,
CR or a newline was printed raw by the table output and `eventkit info`, so a hostile value could recolour
or retitle the terminal, overwrite a line, or fake a line of the report. Human-readable output shows
control characters escaped (\\x1b, \\r, \\n); CSV and JSON stay exact."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import eventkit as ek
from eventkit.cli import cli

HOSTILE = "a\x1b[2J\x1b]0;pwned\x07b\rOVER\u202e"


@pytest.fixture
def store(tmp_path):
    with ek.open_store(tmp_path / "s") as s:
        s.append(HOSTILE, [ek.Event("E\nFAKE LINE", {"note": HOSTILE})])
    return tmp_path / "s"


def _clean(text: str) -> None:
    assert not any(c in text for c in "\x1b\x07\r\u202e"), repr(text)


@pytest.mark.parametrize("args", [["read", "{s}", HOSTILE], ["sql", "{s}", "SELECT * FROM events"],
                                  ["sql", "{s}", "SELECT stream_id, data FROM events"], ["info", "{s}"]])
def test_human_readable_output_escapes_control_characters(store, args):
    out = CliRunner().invoke(cli, [a.format(s=store) for a in args], color=True)
    assert out.exit_code == 0, out.output
    _clean(out.output)
    assert "\\x1b" in out.output or args[0] == "info"
    assert "FAKE LINE" not in out.output.replace("E\\nFAKE LINE", ""), out.output  # no line of its own


def test_csv_and_json_stay_exact(store):
    out = CliRunner().invoke(cli, ["sql", str(store), "SELECT stream_id FROM events", "--format", "json"], color=True)
    assert json.loads(out.output) == [{"stream_id": HOSTILE}]
    out = CliRunner().invoke(cli, ["read", str(store), HOSTILE, "--format", "csv"], color=True)
    assert HOSTILE in out.output


def test_append_and_import_print_stream_ids_escaped(tmp_path):
    ek.open_store(tmp_path / "s").close()
    line = json.dumps({"stream_id": HOSTILE, "event_type": "E"})
    out = CliRunner().invoke(cli, ["append", str(tmp_path / "s")], input=line, color=True)
    assert out.exit_code == 0, out.output
    _clean(out.output)
