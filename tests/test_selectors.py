"""Selectors that match nothing warn (ek.EventKitWarning) with the closest name; a read of a missing
store is an error, not a new empty store."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import eventkit as ek


@pytest.fixture
def league(fresh_store):
    fresh_store.append_frame(pd.DataFrame({
        "stream_id": ["chelsea", "arsenal", "chelsea", "m-1"],
        "stream_type": ["team", "team", "team", "match"],
        "event_type": ["MatchPlayed", "MatchPlayed", "Fined", "Scheduled"],
        "goals": [2, 1, None, None],
    }))
    return fresh_store


def quiet(fn, *args, **kwargs):
    """Call ``fn`` and fail on any EventKitWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ek.EventKitWarning)
        return fn(*args, **kwargs)


def test_misspelt_event_type_warns_with_the_closest_name(league):
    """ek.count(event_types=["MatchPlyed"]) answered 0 for every stream without a word."""
    fold = ek.Fold("teams", stream_type="team", fields={"played": ek.count(event_types=["MatchPlyed"])})
    with pytest.warns(ek.EventKitWarning, match=r"'MatchPlyed' is not in the store.*did you mean 'MatchPlayed'"):
        state = fold.state(league)
    assert state["played"].tolist() == [0, 0]


def test_warning_points_at_the_callers_line(league):
    fold = ek.Fold("t", fields={"n": ek.count(event_types=["Fnied"])})
    with pytest.warns(ek.EventKitWarning) as record:
        fold.state(league)
    assert record[0].filename == __file__


def test_last_event_type_names_are_checked(league):
    fold = ek.Fold("t", fields={"s": ek.last_event_type({"MatchPlayed": "ok", "Fiend": "fined"})})
    with pytest.warns(ek.EventKitWarning, match="'Fiend'.*did you mean 'Fined'"):
        fold.state(league)


def test_missing_stream_type_warns(league):
    """Fold(stream_type="teams") on a store of "team" streams gave an empty frame silently."""
    fold = ek.Fold("t", stream_type="teams", fields={"n": ek.count()})
    with pytest.warns(ek.EventKitWarning, match="stream type 'teams' is not in the store.*did you mean 'team'"):
        assert fold.state(league).empty


def test_wrong_case_warns(league):
    fold = ek.Fold("t", fields={"n": ek.count(event_types=["matchplayed"])})
    with pytest.warns(ek.EventKitWarning, match="did you mean 'MatchPlayed'"):
        fold.state(league)


def test_no_warning_for_a_type_that_has_not_happened_yet(league):
    """No account closed yet: count(Closed) = 0 and a status mapping listing every state are right."""
    fold = ek.Fold("t", stream_type="team", fields={
        "relegations": ek.count(event_types=["Relegated"]),
        "status": ek.last_event_type({"MatchPlayed": "playing", "Dissolved": "gone"}),
        "scheduled": ek.count(event_types=["Scheduled"]),  # occurs, in streams of another type
    })
    assert quiet(fold.state, league)["relegations"].tolist() == [0, 0]


def test_snapshots_warn_too(league):
    fold = ek.Fold("t", fields={"n": ek.count(event_types=["MatchPlyed"])})
    with pytest.warns(ek.EventKitWarning, match="MatchPlyed"):
        fold.snapshots(league, every="1D")


def test_no_warning_when_names_exist(league):
    fold = ek.Fold("t", stream_type="team", fields={
        "played": ek.count(event_types=["MatchPlayed"]), "goals": ek.sum("goals"),
        "status": ek.last_event_type(["MatchPlayed", "Fined"])})
    state = quiet(fold.state, league)
    assert state.set_index("stream_id")["played"].to_dict() == {"arsenal": 1, "chelsea": 1}


def test_no_warning_for_a_stream_without_events_of_that_type(league):
    """arsenal has no Fined event but chelsea has: 0 for arsenal is a real answer."""
    fold = ek.Fold("t", stream_type="team", fields={"fined": ek.count(event_types=["Fined"])})
    assert quiet(fold.state, league, streams="arsenal")["fined"].tolist() == [0]


def test_no_warning_on_an_empty_store(fresh_store):
    fold = ek.Fold("t", stream_type="team", fields={"n": ek.count(event_types=["MatchPlayed"])})
    assert quiet(fold.state, fresh_store).empty


def test_no_warning_for_a_type_that_arrives_after_the_cut(league):
    """known_at before the first Fined event: empty is the right answer, the name is not wrong."""
    fold = ek.Fold("t", stream_type="team", fields={"fined": ek.count(event_types=["Fined"])})
    assert quiet(fold.state, league, known_at=1)["fined"].tolist() == [0]


def test_names_appended_later_are_seen(league):
    fold = ek.Fold("t", stream_type="team", fields={"n": ek.count(event_types=["Finned"])})
    with pytest.warns(ek.EventKitWarning, match="Finned"):
        fold.state(league)
    league.append("arsenal", ek.Event("Finned", {}))
    assert quiet(fold.state, league)["n"].tolist() == [1, 0]


# -- read_stream ----------------------------------------------------------------------------------


def test_read_stream_of_a_missing_stream_warns(league):
    """read_stream("Chelsae") was an empty frame, indistinguishable from a stream with no events."""
    with pytest.warns(ek.EventKitWarning, match="no stream 'chelsae'.*did you mean 'chelsea'"):
        assert league.read_stream("chelsae").empty


def test_read_stream_of_an_existing_stream_does_not_warn(league):
    assert len(quiet(league.read_stream, "chelsea")) == 2
    assert quiet(league.read_stream, "chelsea", from_version=5).empty  # exists, nothing in range
    assert quiet(league.read_stream, "chelsea", known_at=0).empty  # exists, not yet then


# -- open_store(create=False) ---------------------------------------------------------------------


def test_open_store_creates_by_default(tmp_path):
    with ek.open_store(tmp_path / "new") as store:
        assert store.head == 0


def test_open_store_refuses_a_missing_store_when_asked(tmp_path):
    with ek.open_store(tmp_path / "bank"):
        pass
    with pytest.raises(ek.StoreError, match=r"no eventkit store at .*bnak.*did you mean .*bank"):
        ek.open_store(tmp_path / "bnak", create=False)
    assert not (tmp_path / "bnak").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ek.StoreError, match="no eventkit store"):
        ek.open_store(tmp_path / "empty", create=False)
    assert list((tmp_path / "empty").iterdir()) == []
    with ek.open_store(tmp_path / "bank", create=False) as store:
        assert store.head == 0


def test_python_fold_handler_for_a_misspelt_event_type_warns(league):
    """A PyFold handler for 'MatchPlyed' never runs: the state is silently the initial one."""
    fold = ek.PyFold("goals", stream_type="team", initial=lambda: {"n": 0},
                     handlers={"MatchPlyed": lambda state, event: {"n": state["n"] + 1}})
    with pytest.warns(ek.EventKitWarning, match="handler: event type 'MatchPlyed'.*did you mean 'MatchPlayed'"):
        fold.state(league)
    quiet(ek.PyFold("ok", stream_type="team", initial=lambda: {"n": 0},
                    handlers={"MatchPlayed": lambda state, event: {"n": state["n"] + 1}}).state, league)


def test_a_state_not_reached_yet_next_to_a_similar_name_does_not_warn(fresh_store):
    """Accounts frozen, none unfrozen yet: "Unfrozen" in a status mapping is not a typo of "Frozen"."""
    fresh_store.append("acct-1", [ek.Event("Opened", {}), ek.Event("Frozen", {})], stream_type="account")
    fold = ek.Fold("a", stream_type="account", fields={
        "status": ek.last_event_type({"Opened": "open", "Frozen": "frozen", "Unfrozen": "open", "Closed": "closed"}),
        "reopened": ek.count(event_types=["Reopened"])})  # "Opened" is part of it: another word
    assert quiet(fold.state, fresh_store)["status"].tolist() == ["frozen"]


def test_closest_names_a_misspelling_only():
    from eventkit.fold.selectors import closest

    names = {"MatchPlayed", "Fined", "Deposited", "Frozen"}
    assert closest("MatchPlyed", names) == "MatchPlayed"
    assert closest("Fiend", names) == "Fined"
    assert closest("Depositde", names) == "Deposited"
    assert closest("DEPOSITED", names) == "Deposited"
    assert closest("Unfrozen", names) is None
    assert closest("Closed", names) is None
    assert closest("Fine", names) is None


def test_a_longer_name_containing_another_stem_is_not_a_misspelling():
    """Regression: 'DepositCorrected' (no such events yet) was taken for a misspelt 'Deposited'
    because any two names whose lengths differ by more than two counted as three edits apart."""
    from eventkit.fold.selectors import closest

    assert closest("DepositCorrected", ["Deposited", "Withdrawn"]) is None
    assert closest("TransferedBetweenAcounts", ["TransferredBetweenAccounts", "Opened"]) == "TransferredBetweenAccounts"
    assert closest("MatchPlyed", ["MatchPlayed"]) == "MatchPlayed"
