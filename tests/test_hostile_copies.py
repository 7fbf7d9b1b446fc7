"""The natural copy: what a read returns (pandas, Arrow, SQL), appended to another store, reads back the
same, or is refused with what to do."""

from __future__ import annotations

import pyarrow as pa
import pytest

import eventkit as ek


@pytest.fixture
def source(tmp_path):
    with ek.open_store(tmp_path / "a") as a:
        a.append("s1", [ek.Event("Opened", {"n": 1, "blob": b"\x00\xff"}, metadata={"by": "ann", "why": "é"})])
        a.append("s2", [ek.Event("Opened", {"n": 2})])  # no metadata
        yield a


@pytest.mark.parametrize("how", ["read_all", "sql"])
def test_an_arrow_read_with_metadata_appends_back(source, tmp_path, how):
    """Arrow reads give metadata as an Arrow map (list of key/value pairs): append_frame said it 'must hold
    mappings (dicts)' and refused it."""
    if how == "read_all":
        table = source.read_all(output="arrow").drop_columns(["position", "recorded_at"])
    else:
        table = source.sql("SELECT stream_id, event_type, event_id, metadata, data.n AS n FROM events").to_arrow_table()
    assert pa.types.is_map(table.schema.field("metadata").type)
    with ek.open_store(tmp_path / "b") as b:
        b.append_frame(table)
        back = b.read_all()
    assert back["metadata"].tolist()[0] == {"by": "ann", "why": "é"}
    assert back["metadata"].isna().tolist() == [False, True]
    assert back["n"].tolist() == [1, 2]
    assert back["event_id"].tolist() == source.read_all()["event_id"].tolist()


def test_a_metadata_column_of_another_type_is_still_refused(tmp_path):
    with ek.open_store(tmp_path / "b") as b:
        with pytest.raises(ek.InvalidInput, match="metadata"):
            b.append_frame(pa.table({"stream_id": ["s"], "event_type": ["E"], "metadata": [5]}))
        assert b.head == 0


@pytest.mark.parametrize("output", ["df", "arrow"])
def test_a_select_star_frame_appends_back_with_its_data_struct_as_payload_fields(source, tmp_path, output):
    """``store.sql("SELECT * ...")`` gives the payload as a struct column ``data``: appended, it was refused
    as a payload field clashing with the envelope column 'data' ('use another name'); its fields are the
    payload, as in the store it came from."""
    rel = source.sql("SELECT * EXCLUDE (position, recorded_at) FROM events")
    frame = rel.df() if output == "df" else rel.to_arrow_table()
    with ek.open_store(tmp_path / "b") as b:
        b.append_frame(frame)
        back, fields = b.read_all(), b.fields
    want = source.read_all()
    assert back["n"].tolist() == [1, 2]
    assert back["blob"].tolist() == [b"\x00\xff", None]
    assert back["event_id"].tolist() == want["event_id"].tolist()
    assert fields == source.fields


def test_a_data_struct_and_a_flat_column_of_the_same_field_are_refused(source, tmp_path):
    frame = source.sql("SELECT stream_id, event_type, data, data.n AS n FROM events").df()
    with ek.open_store(tmp_path / "b") as b:
        with pytest.raises(ek.InvalidInput, match="'n'"):
            b.append_frame(frame)
        assert b.head == 0


@pytest.mark.parametrize("values", [[b"x", "y", None, b"z"], ["y", b"x"]])
def test_a_frame_column_mixing_text_and_bytes_is_refused(tmp_path, values):
    """pyarrow turns text among bytes into bytes: 'y' was stored, and read back, as b'y' (an Event with
    'y' for a bytes field is refused as another type)."""
    import pandas as pd

    with ek.open_store(tmp_path / "b") as b:
        with pytest.raises(ek.InvalidInput, match="'b'.*text and bytes"):
            b.append_frame(pd.DataFrame({"stream_id": "s", "event_type": "E", "b": pd.Series(values, dtype=object)}))
        assert b.head == 0
        b.append_frame(pd.DataFrame({"stream_id": "s", "event_type": "E", "b": [b"x", None, bytearray(b"\x00")]}))
        assert b.read_all()["b"].tolist() == [b"x", None, b"\x00"]
