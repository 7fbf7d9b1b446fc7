"""Hostile analysis inputs: a reducer's ``where=`` that is not a condition on one event."""

from __future__ import annotations

import datetime as dt

import pytest

import eventkit as ek


@pytest.fixture
def store(tmp_path):
    s = ek.open_store(tmp_path / "store")
    s.append("a", [ek.Event("Dep", {"amount": 1}, occurred_at=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc))],
             stream_type="acct")
    yield s
    s.close()


@pytest.mark.parametrize("where", ["1=1) FROM events --", "sum(amount) > 0", "1=1) FROM events --\n",
                                   "amount >= 1 -- a comment swallows the rest of the query"])
def test_a_where_that_escapes_its_condition_or_aggregates_is_an_invalid_fold(store, where):
    # The check bound it as 'SELECT (<where>)::BOOLEAN FROM ...', where a closing parenthesis and
    # a comment, or an aggregate, are valid: the fold then failed with a raw duckdb Parser/Binder error.
    fold = ek.Fold("acct", stream_type="acct", fields={"n": ek.count(where=where)})
    with pytest.raises(ek.InvalidFold, match="where="):
        fold.state(store)


def test_a_plain_condition_still_folds(store):
    fold = ek.Fold("acct", stream_type="acct", fields={"n": ek.count(where="amount >= 1 AND event_type = 'Dep'")})
    assert fold.state(store).n.tolist() == [1]


@pytest.mark.parametrize("expr", ["1) --", "amount * 2 -- doubled"])
def test_a_scenario_change_that_comments_out_the_rest_is_refused_up_front(store, expr):
    # '1) --' passed the check ('SELECT (1) --) AS v ...' is valid SQL) and failed later with a
    # raw duckdb ParserException from the scenario's view.
    fold = ek.Fold("acct", stream_type="acct", fields={"bal": ek.sum("amount")})
    with pytest.raises(ek.EventKitError, match="set"):
        ek.Scenario(store).change(set={"amount": expr}).compare(fold)
