"""`eventkit import` given the files a new analyst really has: a stream named NA, account numbers of
more than 19 digits, JSON saved with a byte-order mark, a header with a column twice. What the store
accepts reads back as the file wrote it; what it cannot hold is refused before anything is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import eventkit as ek
from conftest import store_fingerprint
from eventkit.cli import cli


def run(*args: object):
    return CliRunner().invoke(cli, ["import", *[str(a) for a in args], "--no-progress"])


@pytest.fixture
def store(tmp_path) -> Path:
    path = tmp_path / "s"
    ek.open_store(path).close()
    return path


def read(path: Path):
    with ek.open_store(path) as s:
        return s.read_all(), s.fields


@pytest.mark.parametrize("spelling", ["NA", "null", "N/A", "NaN", "NULL"])
def test_an_id_spelt_like_a_missing_value_is_an_id(store, tmp_path, spelling):
    """A stream named NA (Namibia) was refused as 'stream_id is empty'; the JSON path stores it."""
    f = tmp_path / "in.csv"
    f.write_text(f"stream_id,event_type,event_id,n\n{spelling},{spelling},{spelling},1\n")
    out = run(store, f)
    assert out.exit_code == 0, out.output
    df, _ = read(store)
    assert df[["stream_id", "event_type"]].iloc[0].tolist() == [spelling] * 2
    assert df["event_id"].iloc[0] != spelling  # a missing event id, derived from the row (as always)


def test_as_text_keeps_cells_spelt_like_a_missing_value(store, tmp_path):
    """--as-text promises the column 'as text whatever its cells look like'; 'NA' came back as missing."""
    f = tmp_path / "in.csv"
    f.write_text("stream_id,event_type,country,code\na,E,NA,1\nb,E,FR,\nc,E,,NULL\n")
    out = run(store, f, "--as-text", "country", "--as-text", "code")
    assert out.exit_code == 0, out.output
    df, fields = read(store)
    assert fields == {"country": "VARCHAR", "code": "VARCHAR"}
    assert df["country"].tolist()[:2] == ["NA", "FR"] and df["country"].isna().tolist()[2]
    assert df["code"].tolist()[0] == "1" and df["code"].isna().tolist()[1] and df["code"].tolist()[2] == "NULL"
    assert run(store, f, "--as-text", "country", "--as-text", "code").exit_code == 0
    assert len(read(store)[0]) == 3, "a re-run stores nothing twice"


def test_a_text_column_says_which_cells_it_read_as_missing(store, tmp_path):
    """Without --as-text, 'NA' in a text column is missing (R writes NA for missing text), but the
    import says so, naming the column and the way to keep them: it is not silent."""
    f = tmp_path / "in.csv"
    f.write_text("stream_id,event_type,country,n\na,E,NA,NA\nb,E,FR,2\nc,E,N/A,3\n")
    out = run(store, f)
    assert out.exit_code == 0, out.output
    assert "2 cells" in out.output and "country" in out.output and "--as-text" in out.output, out.output
    df, _ = read(store)
    assert df["country"].isna().tolist() == [True, False, True]


def test_a_null_spelling_keeps_the_id_imports_always_derived(store, tmp_path):
    """Ids derived from rows hash a missing-value spelling as missing, as imports always did: a re-run
    of a file with NA cells, imported by an earlier eventkit, stores nothing twice (ids pinned)."""
    f = tmp_path / "in.csv"
    f.write_text("stream_id,event_type,note,n\na,E,NA,1\nb,E,x,NA\n")
    assert run(store, f).exit_code == 0
    assert read(store)[0]["event_id"].tolist() == ["718c93e6-5156-88b9-96a6-95a13eb1fbb5",
                                                   "bafbf8f3-f78c-8964-97a8-813c0938499d"]


@pytest.mark.parametrize("values", [["12345678901234567890", "12345678901234567891"],
                                    ["-9223372036854775809", "99999999999999999999999"]])
def test_integers_beyond_64_bits_are_kept_as_text_not_rounded_to_doubles(store, tmp_path, values):
    """A column of 20-digit account numbers became DOUBLE: 12345678901234567890 read back as
    1.2345678901234567e19, and two accounts became one value."""
    f = tmp_path / "in.csv"
    f.write_text("stream_id,event_type,acct\n" + "".join(f"s{i},E,{v}\n" for i, v in enumerate(values)))
    out = run(store, f)
    assert out.exit_code == 0, out.output
    df, fields = read(store)
    assert fields == {"acct": "VARCHAR"}
    assert df.sort_values("stream_id")["acct"].tolist() == values


def test_one_integer_beyond_64_bits_among_integers_is_refused_naming_it(store, tmp_path):
    f = tmp_path / "in.csv"
    f.write_text("stream_id,event_type,n\n" + "".join(f"s,E,{i}\n" for i in range(5)) + "s,E,18446744073709551616\n")
    before = store_fingerprint(store)
    out = run(store, f)
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert "line 7" in out.output and "18446744073709551616" in out.output and "64 bits" in out.output, out.output
    assert "--as-text" in out.output
    assert store_fingerprint(store) == before


@pytest.mark.parametrize("suffix", ["jsonl", "json"])
def test_json_with_a_byte_order_mark_imports(store, tmp_path, suffix):
    """Windows editors save UTF-8 with a BOM; the CSV path skipped it, JSON refused 'Unexpected UTF-8 BOM'."""
    f = tmp_path / f"in.{suffix}"
    body = '{"stream_id": "a", "event_type": "E", "n": 1}'
    f.write_bytes(("\ufeff" + (body + "\n" if suffix == "jsonl" else f"[{body}]")).encode())
    out = run(store, f)
    assert out.exit_code == 0, out.output
    assert read(store)[0]["n"].tolist() == [1]


def test_append_reads_json_with_a_byte_order_mark(store, tmp_path):
    f = tmp_path / "in.json"
    f.write_bytes('\ufeff{"stream_id": "a", "event_type": "E", "n": 1}'.encode())
    out = CliRunner().invoke(cli, ["append", str(store), str(f)])
    assert out.exit_code == 0, out.output
    out = CliRunner().invoke(cli, ["append", str(store)], input='\ufeff{"stream_id": "b", "event_type": "E"}')
    assert out.exit_code == 0, out.output
    assert read(store)[0]["stream_id"].tolist() == ["a", "b"]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_header_with_a_column_twice_names_it_without_blaming_map(store, tmp_path, suffix):
    """'after --map the input has duplicate columns' when no --map was given."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = tmp_path / f"in.{suffix}"
    if suffix == "csv":
        f.write_text("stream_id,event_type,amount,amount\na,E,1,2\n")
    else:
        pq.write_table(pa.Table.from_arrays([pa.array(["a"]), pa.array(["E"]), pa.array([1]), pa.array([2])],
                                            names=["stream_id", "event_type", "amount", "amount"]), f)
    before = store_fingerprint(store)
    out = run(store, f)
    assert out.exit_code == 1 and "after --map" not in out.output and "'amount'" in out.output, out.output
    assert store_fingerprint(store) == before


def test_codes_with_leading_zeros_are_kept_as_text(store, tmp_path):
    """Boston zip codes '02134' became the number 2134: the code was lost, and '02134' and '2134' were one value."""
    f = tmp_path / "in.csv"
    f.write_text("stream_id,event_type,zip,n\na,E,02134,0\nb,E,00501,10\nc,E,2134,0.5\n")
    out = run(store, f)
    assert out.exit_code == 0, out.output
    df, fields = read(store)
    assert fields == {"zip": "VARCHAR", "n": "DOUBLE"}
    assert df.sort_values("stream_id")["zip"].tolist() == ["02134", "00501", "2134"]


def test_one_code_with_a_leading_zero_among_numbers_is_refused_naming_it(store, tmp_path):
    f = tmp_path / "in.csv"
    f.write_text("stream_id,event_type,zip\n" + "".join(f"s,E,{10000 + i}\n" for i in range(5)) + "s,E,02134\n")
    before = store_fingerprint(store)
    out = run(store, f)
    assert out.exit_code == 1 and "line 7" in out.output and "'02134'" in out.output, out.output
    assert "leading zero" in out.output and "--as-text zip" in out.output, out.output
    assert store_fingerprint(store) == before
    out = run(store, f, "--as-text", "zip")
    assert out.exit_code == 0, out.output
    assert read(store)[0]["zip"].tolist()[-1] == "02134"


@pytest.mark.parametrize("spelling", ["same", "relative", "symlink"])
def test_a_rejects_file_that_is_the_input_is_refused(store, tmp_path, monkeypatch, spelling):
    """--rejects in.csv for in.csv truncated the file being imported: 600,002 lines became 2 (the rejects)."""
    f = tmp_path / "in.csv"
    text = "stream_id,event_type,n\n" + "".join(f"a,E,{i}\n" for i in range(50)) + "a,E,x\n"
    f.write_text(text)
    monkeypatch.chdir(tmp_path)
    rejects = {"same": str(f), "relative": "in.csv", "symlink": str(tmp_path / "link.csv")}[spelling]
    if spelling == "symlink":
        (tmp_path / "link.csv").symlink_to(f)
    before = store_fingerprint(store)
    out = run(store, f, "--rejects", rejects)
    assert out.exit_code == 1 and "is the file being imported" in out.output, out.output
    assert f.read_text() == text
    assert store_fingerprint(store) == before


@pytest.mark.parametrize("name", ["IN.TSV", "in.Tsv", "in.TSV.GZ"])
def test_a_tsv_named_in_capitals_is_read_with_tabs(store, tmp_path, name):
    """FORMATS read IN.TSV as csv, but the tab separator was chosen only for a lower-case '.tsv'."""
    import gzip

    text = "stream_id\tevent_type\tnote\na\tE\tx, y\n"
    f = tmp_path / name
    f.write_bytes(gzip.compress(text.encode()) if name.lower().endswith(".gz") else text.encode())
    out = run(store, f)
    assert out.exit_code == 0, out.output
    assert read(store)[0]["note"].tolist() == ["x, y"]


@pytest.mark.parametrize("name", ["in.jsonl.gz", "in.JSONL.BZ2", "in.json.zst", "in.csv.ZST"])
def test_compressed_json_and_csv_files_import(store, tmp_path, name):
    """.jsonl.gz was taken for JSONL and then read as text without decompressing: 'not valid JSON' noise."""
    import pyarrow as pa

    body = ('{"stream_id": "a", "event_type": "E", "n": 1}\n' if "jsonl" in name.lower() else
            '[{"stream_id": "a", "event_type": "E", "n": 1}]' if "json" in name.lower() else
            "stream_id,event_type,n\na,E,1\n")
    codec = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}[name[name.rfind("."):].lower()]
    with pa.output_stream(str(tmp_path / name), compression=codec) as out:
        out.write(body.encode())
    out = run(store, tmp_path / name)
    assert out.exit_code == 0, out.output
    assert read(store)[0]["n"].tolist() == [1]


def test_a_blank_time_among_times_is_a_bad_cell_not_the_import_time(store, tmp_path):
    """A CSV whose occurred_at column had a few blank cells stored those events at the moment of the
    import: a 2019 history gained events 'today', silently (a spike at the end of every trend)."""
    f = tmp_path / "in.csv"
    f.write_text("stream_id,event_type,occurred_at\na,E,2019-01-01\nb,E,\nc,E,NA\nd,E,2019-01-02\n")
    before = store_fingerprint(store)
    out = run(store, f)
    assert out.exit_code == 1 and "line 3" in out.output and "occurred_at is empty" in out.output, out.output
    assert store_fingerprint(store) == before
    rejects = tmp_path / "rejects.csv"
    out = run(store, f, "--rejects", rejects)
    assert out.exit_code == 0 and "2 rows" in out.output, out.output
    df, _ = read(store)
    assert sorted(df["occurred_at"].dt.year.tolist()) == [2019, 2019]


def test_an_occurred_at_column_with_no_time_at_all_means_when_recorded(store, tmp_path):
    f = tmp_path / "in.csv"
    f.write_text("stream_id,event_type,occurred_at\na,E,\nb,E,\n")
    out = run(store, f)
    assert out.exit_code == 0, out.output
    df, _ = read(store)
    assert (df["occurred_at"] == df["recorded_at"]).all()


def _multiline_file(tmp_path):
    f = tmp_path / "in.csv"
    f.write_text('stream_id,event_type,note,n\na,E,"two\nlines",1\n\nb,E,x,2\nc,E,y,three\nd,E,z,4\n')
    return f  # 'three' is on line 6 of the file (a cell spans lines 2-3, line 4 is blank)


def test_a_bad_cell_after_a_multiline_cell_and_a_blank_line_names_its_file_line(store, tmp_path):
    """Lines were counted as data rows + 2: 'line 4' for a cell on line 6, where the user found nothing wrong."""
    f = _multiline_file(tmp_path)
    out = run(store, f)
    assert out.exit_code == 1 and "line 6: n 'three'" in out.output, out.output
    out = CliRunner().invoke(cli, ["import", str(store), str(f), "--no-progress", "--dry-run"])
    assert "line 6: n 'three'" in out.output, out.output
    rejects = tmp_path / "rejects.csv"
    assert run(store, f, "--rejects", rejects).exit_code == 0
    assert "\"three\",6," in rejects.read_text(), rejects.read_text()


def test_a_refused_batch_names_the_file_line_after_a_multiline_cell(store, tmp_path):
    f = tmp_path / "in.csv"
    f.write_text('stream_id,event_type,note,stream_type\na,E,"two\nlines",t\nb,E,x,t\nc,E,y,a/b\n')
    out = run(store, f)
    assert out.exit_code == 1 and "line 5:" in out.output, out.output


def test_a_field_the_store_holds_as_a_number_still_takes_a_leading_zero(store, tmp_path):
    """The store's type decides: a monthly file appended to a store that already holds zip as BIGINT (an
    earlier eventkit imported it so) imports as before, not refused for its leading zeros."""
    with ek.open_store(store) as s:
        s.append("x", [ek.Event("E", {"zip": 10001, "f": 1.5})])
    f = tmp_path / "in.csv"
    f.write_text("stream_id,event_type,zip,f\na,E,02134,0.5\nb,E,10001,01.5\n")
    out = run(store, f)
    assert out.exit_code == 0, out.output
    df, fields = read(store)
    assert fields == {"zip": "BIGINT", "f": "DOUBLE"}
    assert df["zip"].tolist() == [10001, 2134, 10001] and df["f"].tolist() == [1.5, 0.5, 1.5]
