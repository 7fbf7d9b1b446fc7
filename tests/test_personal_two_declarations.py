"""Several declarations in one scope: every one of them is encrypted in a bulk append.

A bulk append once encrypted only the first declaration of a scope: the second compared its event type
with the first one's tokens, matched no row, and stored its personal fields in plain text (and made no key,
so ``forget`` refused the subject).
"""

from __future__ import annotations

import glob

import duckdb
import pandas as pd
import pytest

import eventkit as ek


@pytest.mark.parametrize("scope", ["event_type", "stream_type"])
def test_every_declaration_of_a_scope_is_encrypted_in_a_bulk_append(tmp_path, scope):
    store = ek.open_store(tmp_path / "s", bulk_threshold=20)
    n = 60
    if scope == "event_type":
        store.declare_personal(event_type="Opened", fields=["owner"])
        store.declare_personal(event_type="Renamed", fields=["owner"])
        frame = pd.DataFrame({"stream_id": [f"s{i % 6}" for i in range(n)], "stream_type": "account",
                              "event_type": ["Opened", "Renamed", "Closed"] * (n // 3),
                              "owner": [f"name {i % 6}" for i in range(n)]})
    else:
        store.declare_personal(stream_type="account", fields=["owner"])
        store.declare_personal(stream_type="loan", fields=["owner"])
        frame = pd.DataFrame({"stream_id": [f"s{i % 6}" for i in range(n)],
                              "stream_type": ["account", "account", "loan", "loan", "card", "card"] * (n // 6),
                              "event_type": "Opened", "owner": [f"name {i % 6}" for i in range(n)]})
    store.append_frame(frame)
    files = glob.glob(str(tmp_path / "s" / "**" / "*.parquet"), recursive=True)
    assert files, "the append was meant to write segments"
    stored = pd.concat([duckdb.sql(f"SELECT stream_id, stream_type, event_type, data.owner AS owner FROM '{f}'").df()
                        for f in files])
    personal = stored["event_type"].isin(["Opened", "Renamed"]) if scope == "event_type" \
        else stored["stream_type"].isin(["account", "loan"])
    assert stored.loc[personal, "owner"].str.startswith("ek2:").all()
    assert not stored.loc[~personal, "owner"].str.startswith("ek2:").any()  # undeclared: plain
    # event_type: s1 has only Renamed events, s3 only Opened; stream_type: s1 is an account, s2 a loan
    subjects = ["s1", "s3"] if scope == "event_type" else ["s1", "s2"]
    for subject in subjects:
        store.forget(subject)
    back = store.read_all()
    forgotten = back["stream_id"].isin(subjects)
    declared = back["event_type"].isin(["Opened", "Renamed"]) if scope == "event_type" \
        else back["stream_type"].isin(["account", "loan"])
    assert back.loc[forgotten & declared, "owner"].isna().all()
    assert back.loc[forgotten & declared, "erased"].all()
    assert back.loc[~forgotten, "owner"].notna().all()
    store.close()
