"""Files that are not UTF-8 (Excel's Latin-1 or UTF-16 exports) and JSON objects with a key twice: refused
naming the line and what to do, never a codec message with a position inside some read buffer, never a
silent choice of one of two values."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import eventkit as ek
from conftest import store_fingerprint
from eventkit.cli import cli


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "s"
    ek.open_store(path).close()
    return path


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "json"])
def test_a_latin1_file_is_refused_naming_the_line_and_utf8(store, tmp_path, suffix):
    rows = [f"a{i}" for i in range(3000)] + ["café"]
    if suffix == "csv":
        text = "stream_id,event_type\n" + "".join(f"{r},E\n" for r in rows)
        line = 3002
    elif suffix == "jsonl":
        text = "".join(f'{{"stream_id": "{r}", "event_type": "E"}}\n' for r in rows)
        line = 3001
    else:
        text = "[\n" + ",\n".join(f'{{"stream_id": "{r}", "event_type": "E"}}' for r in rows) + "\n]"
        line = 3002
    f = tmp_path / f"in.{suffix}"
    f.write_bytes(text.encode("latin-1"))
    before = store_fingerprint(store)
    out = CliRunner().invoke(cli, ["import", str(store), str(f), "--no-progress"])
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert f"line {line:,}" in out.output and "UTF-8" in out.output and "0xe9" in out.output, out.output
    assert store_fingerprint(store) == before


def test_a_utf16_file_is_refused_saying_so(store, tmp_path):
    f = tmp_path / "in.csv"
    f.write_bytes("stream_id,event_type\na,E\n".encode("utf-16"))
    out = CliRunner().invoke(cli, ["import", str(store), str(f), "--no-progress"])
    assert out.exit_code == 1 and "UTF-16" in out.output and "UTF-8" in out.output, out.output


@pytest.mark.parametrize("suffix", ["jsonl", "json"])
def test_a_json_object_with_a_key_twice_is_refused(store, tmp_path, suffix):
    """{"n": 1, "n": 2} stored n = 2 without a word: which value the source meant is unknown."""
    body = '{"stream_id": "a", "event_type": "E", "n": 1, "n": 2}'
    f = tmp_path / f"in.{suffix}"
    f.write_text(body + "\n" if suffix == "jsonl" else f"[{body}]")
    before = store_fingerprint(store)
    out = CliRunner().invoke(cli, ["import", str(store), str(f), "--no-progress"])
    assert out.exit_code == 1 and "'n'" in out.output and "twice" in out.output, out.output
    assert store_fingerprint(store) == before
    out = CliRunner().invoke(cli, ["append", str(store), str(f)])
    assert out.exit_code == 1 and "'n'" in out.output and "twice" in out.output, out.output
