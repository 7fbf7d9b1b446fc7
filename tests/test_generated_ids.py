"""Generated event ids: the bulk path's SQL expression gives the hot path's Python text exactly."""

from __future__ import annotations

import duckdb
import pytest

from eventkit.store.envelope import generated_event_id, generated_event_id_sql, generated_position

PREFIX = "0123456789abcdef"[:15]


@pytest.mark.parametrize("position", [0, 1, 15, 16, 4095, 2**32 + 7, 2**48 - 1, 2**48, 2**48 + 1, 2**52 + 3,
                                      2**60, 2**63 - 1])
def test_the_sql_expression_gives_the_python_id(position):
    sql = generated_event_id_sql(PREFIX, "p")
    got = duckdb.sql(f"SELECT {sql} FROM (SELECT {position}::BIGINT AS p)").fetchall()[0][0]
    assert got == generated_event_id(PREFIX, position)
    if position < 2**60:  # the id's text has room for 60 bits of position; no store gets near that
        assert generated_position(PREFIX, got) == position


def test_a_million_positions_give_the_python_ids():
    sql = generated_event_id_sql(PREFIX, "p")
    rows = duckdb.sql(f"SELECT p, {sql} FROM (SELECT (range * 9973 + 281474976000000)::BIGINT AS p "
                      "FROM range(1000))").fetchall()
    assert all(got == generated_event_id(PREFIX, p) for p, got in rows)
