"""A frame read from a store, appended to another: the natural copy either works exactly or is refused clearly."""

from __future__ import annotations

import pytest

import eventkit as ek


def _read(store: ek.EventStore):
    return store.read_all()


def test_a_read_frame_with_missing_metadata_appends_back(tmp_path):
    with ek.open_store(tmp_path / "a") as a:
        a.append("s1", [ek.Event("Opened", {"n": 1}, metadata={"by": "ann"})])
        a.append("s2", [ek.Event("Opened", {"n": 2})])  # no metadata: <NA> in the frame
        frame = _read(a).drop(columns=["position", "recorded_at"])
    with ek.open_store(tmp_path / "b") as b:
        b.append_frame(frame)
        back = _read(b)
    assert back["metadata"].tolist()[0] == {"by": "ann"}
    assert back["metadata"].isna().tolist() == [False, True]
    assert back["n"].tolist() == [1, 2]
    assert back["event_id"].tolist() == frame["event_id"].tolist()


def test_a_frame_read_with_erasure_columns_is_refused_with_what_to_do(tmp_path):
    with ek.open_store(tmp_path / "a") as a:
        a.declare_personal(stream_type="customer", fields=["name"], subject="stream_id")
        a.append("c1", [ek.Event("Registered", {"name": "Ann"})], stream_type="customer")
        a.append("c2", [ek.Event("Registered", {"name": "Bob"})], stream_type="customer")
        a.forget("c1")
        frame = _read(a).drop(columns=["position", "recorded_at"])
    with ek.open_store(tmp_path / "b") as b:
        with pytest.raises(ek.InvalidInput, match="erased_fields.*drop them.*materialize"):
            b.append_frame(frame)
        assert b.head == 0
        b.append_frame(frame.drop(columns=["erased", "erased_fields"]))
        assert _read(b)["name"].isna().tolist() == [True, False]


@pytest.mark.parametrize("bulk_threshold", [2, 1000])  # a segment write, and the hot log
def test_a_date_field_read_back_as_midnights_appends_back_as_dates(tmp_path, bulk_threshold):
    """Reads give a DATE field as midnight timestamps (pandas has no date type). Appending that frame back
    (a re-run, or the next batch of a copy) was refused: 'arrived as TIMESTAMPTZ but the store holds it as
    DATE'. Midnights join a DATE field as dates; a time of day still conflicts, loudly."""
    import datetime as dt

    import pandas as pd

    days = [dt.date(2024, 1, 2), None, dt.date(1969, 12, 31)]
    with ek.open_store(tmp_path / "a", bulk_threshold=bulk_threshold) as a:
        a.append_frame(pd.DataFrame({"stream_id": ["s1", "s2", "s3"], "stream_type": "loan", "event_type": "Due",
                                     "due": days}))
        assert a.fields["due"] == "DATE"
        frame = _read(a).drop(columns=["position", "recorded_at", "event_id", "version"])
        assert str(frame["due"].dtype).startswith("datetime64")
        a.append_frame(frame)  # the same events again, under new positions
        assert a.fields["due"] == "DATE"
        stored = a.sql("SELECT data.due FROM events ORDER BY position").fetchall()
        assert [r[0] for r in stored] == days + days
        late = frame.assign(due=pd.to_datetime(["2024-01-02 09:30", None, "2024-01-03 00:00"]))
        with pytest.raises(ek.SchemaConflict, match="due"):
            a.append_frame(late)
        assert len(_read(a)) == 6
