"""Hostile analysis inputs: report configurations with odd values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eventkit import report as rp

FOLDS = Path(__file__).resolve().parents[1] / "examples" / "bank_folds.py"
BASE = {"store": {"path": "s"}, "folds": {"a": f"{FOLDS}:account"}}
TABLE = {"fold": "a", "columns": ["stream_id", "balance"]}


@pytest.mark.parametrize("raw, key", [
    ({**BASE, "output": {"max_table_rows": -1}}, "output.max_table_rows"),
    ({**BASE, "tables": {"t": {**TABLE, "limit": -1}}}, "tables.t.limit"),
    ({**BASE, "scenarios": {"s": {"fold": "a", "every": "1W", "drop": {"event_types": ["FeeCharged"]},
                                  "top": -3}}}, "scenarios.s.top"),
    ({**BASE, "output": {"dpi": 0}}, "output.dpi"),
    ({**BASE, "store": {"path": "s", "accounts": -5}}, "store.accounts"),
])
def test_a_negative_count_is_a_config_error_naming_its_key(tmp_path, raw, key):
    # limit = -1 silently dropped a table's last row (pandas head(-1)), and max_table_rows = -1
    # showed "the first -1 of N rows"; a count below zero (a dpi below one) is refused.
    with pytest.raises(rp.ReportConfigError, match=re.escape(key)):
        rp.load_config(raw, base=tmp_path)


def test_zero_rows_and_a_zero_limit_are_still_allowed(tmp_path):
    rp.load_config({**BASE, "output": {"max_table_rows": 0}, "tables": {"t": {**TABLE, "limit": 0}}}, base=tmp_path)
