"""state_diff: the field-by-field comparison behind Scenario.compare."""

from __future__ import annotations

import numpy as np
import pandas as pd

from eventkit.analysis.compare import state_diff


def test_only_differing_keys_with_diffs():
    a = pd.DataFrame({"stream_id": ["x", "y", "z"], "n": [1, 2, 3], "s": ["a", "b", None], "version": [1, 1, 1]})
    b = pd.DataFrame({"stream_id": ["x", "y", "z"], "n": [1, 5, 3], "s": ["a", "b", None], "version": [9, 9, 9]})
    out = state_diff(a, b, ignore=["version"])
    assert out["stream_id"].tolist() == ["y"]
    assert (out["n_baseline"].tolist(), out["n_scenario"].tolist(), out["n_diff"].tolist()) == ([2], [5], [3])


def test_one_sided_keys_and_float_tolerance():
    a = pd.DataFrame({"stream_id": ["x", "y"], "v": [0.1 + 0.2, 1.0]})
    b = pd.DataFrame({"stream_id": ["x", "w"], "v": [0.3, np.nan]})
    out = state_diff(a, b)
    assert out["stream_id"].tolist() == ["w", "y"]  # x is equal within tolerance
