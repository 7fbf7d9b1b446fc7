"""Hostile analysis inputs: integer totals past 64 bits (amounts near 2**63) fail loudly, never wrap."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import eventkit as ek

UTC = dt.timezone.utc
AT = dt.datetime(2025, 1, 1, tzinfo=UTC)
FOLD = ek.Fold("acct", stream_type="acct", fields={"bal": ek.sum("amount"), "n": ek.count()})


@pytest.fixture
def store(tmp_path):
    s = ek.open_store(tmp_path / "store")
    s.append("a", [ek.Event("Dep", {"amount": 2**62}, occurred_at=AT) for _ in range(3)], stream_type="acct")
    s.append("b", [ek.Event("Dep", {"amount": 1}, occurred_at=AT)], stream_type="acct")
    yield s
    s.close()


@pytest.mark.parametrize("call", ["state", "snapshots", "changes", "aggregate"])
def test_a_fold_total_past_64_bit_integers_is_an_eventkit_error_naming_it(store, call):
    # Was duckdb.ConversionException ('INT128 ... out of range for INT64') from the generated SQL.
    kw = {} if call == "state" else {"every": "1D", "start": "2025-01-01", "end": "2025-01-01"}
    if call == "aggregate":
        kw["values"] = {"bal": "sum"}
    with pytest.raises(ek.EventKitError, match="64-bit") as err:
        getattr(FOLD, call)(store, **kw)
    assert "1383505805528216371" in str(err.value)  # the total (the aggregate adds stream b: ...713)


def test_ek_aggregate_of_int_sums_past_64_bits_is_refused_not_wrapped():
    # pandas' int64 sum wraps silently: 2**62 + 2**62 came back as -9223372036854775808.
    series = pd.DataFrame({"as_of": pd.Timestamp("2025-01-01", tz="UTC"), "stream_id": ["a", "b"],
                           "bal": [2**62, 2**62]})
    with pytest.raises(ek.EventKitError, match="bal"):
        ek.aggregate(series)
    ok = ek.aggregate(series.assign(bal=[2**62, 2**62 - 1]))  # 2**63 - 1 still fits exactly
    assert ok["bal"].tolist() == [2**63 - 1]
