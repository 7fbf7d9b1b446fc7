"""A projection whose handler returns another kind of value for a column in a later batch: the read
model would silently turn every value of that column (the committed ones too) into text."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import eventkit as ek


def _rows(kind_after: object):
    def handler(batch: pd.DataFrame) -> pd.DataFrame:
        first = int(batch["position"].iloc[0])
        return pd.DataFrame({"stream_id": batch["stream_id"], "n": batch["position"] if first < 3 else kind_after})
    return handler


@pytest.mark.parametrize("later", ["text", True, pd.Timestamp("2020-01-01", tz="UTC")])
def test_a_column_changing_kind_between_batches_is_refused(fresh_store, later):
    """The ints 1, 2 of the first batch read back as the text '1', '2' once a later batch returned text."""
    fresh_store.append("a", [ek.Event("E")] * 4)
    proj = fresh_store.project(_rows(later), name="p", batch_size=2)
    with pytest.raises(ek.InvalidInput, match="'n'.*reset"):
        proj.run_once()
    assert proj.position == 2
    assert proj.df()["n"].tolist() == [1, 2]


def test_numbers_and_missing_values_still_mix(fresh_store):
    """An int column that a later batch returns as floats (pandas does, once a value is missing) or as
    all-missing stays a number column."""
    fresh_store.append("a", [ek.Event("E")] * 6)
    answers = iter([[1, 2], [2.5, float("nan")], [None, None]])
    proj = fresh_store.project(lambda b: pd.DataFrame({"n": next(answers)}), name="p", batch_size=2)
    assert proj.run_once() == 6
    got = proj.df()["n"].tolist()
    assert got[:3] == [1, 2, 2.5] and all(v is None or math.isnan(v) for v in got[3:])
