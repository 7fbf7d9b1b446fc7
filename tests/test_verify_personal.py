"""``verify`` finds personal values stored in plain text.

A bulk append once stored the second and later declarations of one scope unencrypted (see
tests/test_personal_two_declarations.py); stores written then still hold such values, which ``forget``
cannot erase. A declaration made today is refused over stored plain values, so no such value is plain by
design: the full ``verify`` reports every one (field, scope, count, first positions, the remedy), and the
remedy it names (copying the events into a new store with the same declarations) leaves none.
"""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

import eventkit as ek
from eventkit.cli import cli


def _declare_over_plain(store: ek.Store, scope: str, name: str, fields: list[str], subject: str = "stream_id") -> None:
    """A declaration recorded without the check ``declare_personal`` makes: the state a store written
    by the bug is in (a declaration, and values of its fields stored plain)."""
    with store._catalog.write() as tx:
        store._catalog.declare_personal(tx, scope, name, fields, subject)


def _legacy_store(path) -> ek.Store:
    store = ek.open_store(path, bulk_threshold=5)
    store.declare_personal(event_type="Opened", fields=["owner"])  # the first declaration: encrypted
    # plain values: 12 Renamed events in a segment (bulk) and 1 in the hot log; Closed is not declared
    store.append_frame(pd.DataFrame({"stream_id": [f"s{i % 3}" for i in range(18)], "stream_type": "account",
                                     "event_type": ["Opened", "Renamed", "Renamed", "Closed", "Renamed", "Renamed"] * 3,
                                     "owner": [f"name {i}" for i in range(18)]}))
    store.append("s9", [ek.Event("Renamed", {"owner": "Zed"}), ek.Event("Renamed", {"note": "no owner"})],
                 stream_type="account")
    store.append("l1", [ek.Event("Taken", {"borrower": "Ann"})], stream_type="loan")
    _declare_over_plain(store, "event_type", "Renamed", ["owner"])
    _declare_over_plain(store, "stream_type", "loan", ["borrower"])
    return store


def test_verify_reports_declared_personal_fields_holding_plain_values(tmp_path):
    with _legacy_store(tmp_path / "s") as store:
        report = store.verify()  # not tampering: the chain holds exactly this history
        found = {(p.field, p.scope, p.name): p for p in report.plain_personal}
        assert set(found) == {("owner", "event_type", "Renamed"), ("borrower", "stream_type", "loan")}
        renamed = found[("owner", "event_type", "Renamed")]
        assert renamed.count == 13  # 12 in the segment, 1 hot; the event without an owner is not counted
        assert list(renamed.positions) == [2, 3, 5, 6, 8]  # the first five
        assert found[("borrower", "stream_type", "loan")].count == 1
        text = str(report)
        assert "owner" in text and "'Renamed'" in text and "13" in text and "2, 3, 5, 6, 8, ..." in text
        assert "materialize" in text and "forget cannot erase" in text


def test_verify_quick_says_it_did_not_look_for_plain_personal_values(tmp_path):
    with _legacy_store(tmp_path / "s") as store:
        report = store.verify(quick=True)
        assert report.plain_personal == [] and "not checked" in str(report)


def test_a_store_whose_personal_values_are_all_encrypted_has_no_finding(tmp_path):
    with ek.open_store(tmp_path / "s", bulk_threshold=5) as store:
        store.declare_personal(event_type="Opened", fields=["owner"])
        store.declare_personal(event_type="Renamed", fields=["owner"])
        store.append_frame(pd.DataFrame({"stream_id": [f"s{i % 3}" for i in range(12)],
                                         "event_type": ["Opened", "Renamed", "Closed"] * 4,
                                         "owner": [f"name {i}" for i in range(12)]}))
        store.append("s1", [ek.Event("Renamed", {"owner": "Zed"})])
        report = store.verify()
        assert report.plain_personal == []
        assert "plain" not in str(report)


def test_the_cli_prints_the_finding_and_exits_2(tmp_path):
    _legacy_store(tmp_path / "s").close()
    result = CliRunner().invoke(cli, ["verify", str(tmp_path / "s")])
    assert result.exit_code == 2, result.output
    assert "owner" in result.output and "Renamed" in result.output and "OK" in result.output


def test_copying_into_a_new_store_with_the_same_declarations_encrypts_them(tmp_path):
    """The remedy the report names: the copy holds every personal value encrypted, and forget erases them."""
    with _legacy_store(tmp_path / "s") as store:
        before = store.read_all()
        with ek.Scenario(store).materialize(tmp_path / "copy") as copy:
            assert copy.verify().plain_personal == []
            after = copy.read_all()
            assert after["owner"].tolist() == before["owner"].tolist()
            copy.forget("s0")
            erased = copy.read_all().query("stream_id == 's0' and event_type in ['Opened', 'Renamed']")
            assert len(erased) and erased.owner.isna().all()


@pytest.mark.parametrize("n", [0, 1])
def test_no_declaration_no_finding(tmp_path, n):
    with ek.open_store(tmp_path / "s") as store:
        for i in range(n):
            store.append(f"s{i}", [ek.Event("Renamed", {"owner": "Zed"})])
        assert store.verify().plain_personal == []
