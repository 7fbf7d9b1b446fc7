"""Reducer algebra, definitions and time parsing (no store needed)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import eventkit.fold.reducers as r
from eventkit.common.errors import InvalidFold
from eventkit.fold.declarative import Fold
from eventkit.fold.reducers import Schema
from eventkit.common.timeparse import parse_as_of, parse_known_at, to_utc

SCHEMA = Schema(payload={"amount": "BIGINT", "status": "VARCHAR", "rate": "DOUBLE", "version": "INTEGER"},
                envelope={"version": "BIGINT", "occurred_at": "TIMESTAMP WITH TIME ZONE"})
UTC = dt.timezone.utc


def test_algebra_builds_expressions_and_shares_leaves():
    dep = r.sum("amount", event_types="Deposited")
    bal = dep - r.sum("amount", event_types=["Withdrawn"]) + 2 * dep / 4
    assert repr(bal).count("ek.sum") == 3
    wd = r.sum("amount", event_types=["Withdrawn"])
    # Sums added and subtracted fold as one signed sum (rounded once); the other use of dep is shared.
    assert r.unique_leaves([bal, dep]) == [r.SignedSum.of(dep - wd), dep]
    assert r.unique_leaves([dep * 2 / 4, dep, wd]) == [dep, wd]
    assert bal.sql_type(SCHEMA) == "DOUBLE"
    assert (dep + 1).sql_type(SCHEMA) == "BIGINT"
    assert r.count().sql_type(SCHEMA) == "BIGINT"
    assert r.last_event_type({"Opened": "open"}).sql_type(SCHEMA) == "VARCHAR"
    with pytest.raises(TypeError):
        bool(dep)


def test_envelope_wins_and_data_prefix_reaches_payload():
    assert SCHEMA.resolve("version") == ('"version"', "BIGINT")
    assert SCHEMA.resolve("data.version") == ('data."version"', "INTEGER")
    assert SCHEMA.resolve("amount") == ('data."amount"', "BIGINT")


@pytest.mark.parametrize("make,match", [
    (lambda: r.sum("status").sql_type(SCHEMA), "numeric"),
    (lambda: r.sum("nope").sql_type(SCHEMA), "nope"),
    (lambda: (r.last("status") * 2).sql_type(SCHEMA), "arithmetic"),
    (lambda: r.sum(3), "field name"),
    (lambda: r.count(event_types=[1]), "event_types"),
    (lambda: r.count(where="1; DROP TABLE x"), "where"),
    (lambda: r.last_event_type([]), "event type"),
    (lambda: r.count() + object(), "constant"),
    (lambda: Fold("f", fields={}), "at least one"),
    (lambda: Fold("f", fields={"version": r.count()}), "reserved"),
    (lambda: Fold("f", fields={"x": "sum"}), "not a reducer"),
])
def test_bad_definitions(make, match):
    with pytest.raises(InvalidFold, match=match):
        make()


def test_fingerprint_changes_with_definition():
    a = Fold("f", fields={"b": r.sum("amount")})
    assert a.fingerprint == Fold("f", fields={"b": r.sum("amount")}).fingerprint
    assert a.fingerprint != Fold("f", fields={"b": r.sum("amount", event_types="X")}).fingerprint


@pytest.mark.parametrize("value", [
    "2024-03-01T12:00:00Z", "2024-03-01 12:00", "2024-03-01T13:00:00+01:00",
    dt.datetime(2024, 3, 1, 12), dt.datetime(2024, 3, 1, 12, tzinfo=UTC),
    pd.Timestamp("2024-03-01 12:00"), pd.Timestamp("2024-03-01 07:00", tz="America/New_York"),
    np.datetime64("2024-03-01T12:00"),
])
def test_times_parse_to_utc(value):
    assert to_utc(value) == dt.datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert parse_as_of(value) == parse_known_at(value)


def test_date_positions_and_bad_times():
    assert parse_as_of(dt.date(2024, 3, 1)) == dt.datetime(2024, 3, 1, tzinfo=UTC)
    assert parse_known_at(7) == 7 and parse_known_at(np.int64(7)) == 7
    assert parse_as_of(None) is None and parse_known_at(None) is None
    for bad in ("soon", "", 1.5, True, pd.NaT, object()):
        with pytest.raises(InvalidFold):
            parse_known_at(bad)
    with pytest.raises(InvalidFold, match="known_at"):
        parse_as_of(3)
    with pytest.raises(InvalidFold, match="0 or more"):
        parse_known_at(-1)
