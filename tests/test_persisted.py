"""Persisted fold snapshots: a fold started from a saved state equals the fold from scratch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import eventkit as ek
from eventkit.store import fold_state_files

ACCOUNT = ek.Fold("account", stream_type="account", fields={
    "balance": ek.sum("amount", event_types=["Deposited"]) - ek.sum("amount", event_types=["Withdrawn"]),
    "deposits": ek.count(event_types=["Deposited"]),
    "first_amount": ek.first("amount"),
    "last_amount": ek.last("amount"),
    "largest": ek.max("amount"),
    "status": ek.last_event_type({"Opened": "open", "Frozen": "frozen", "Closed": "closed"}),
    "note": ek.last_non_null("note"),
})


def history(seed: int, n: int, start: str = "2025-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    kinds = rng.choice(["Deposited", "Withdrawn", "Frozen", "Closed", "Opened"], n, p=[0.5, 0.3, 0.1, 0.05, 0.05])
    return pd.DataFrame({
        "stream_id": [f"a{i}" for i in rng.integers(0, 12, n)],
        "event_type": kinds,
        "amount": np.where(np.isin(kinds, ["Deposited", "Withdrawn"]), rng.integers(1, 100, n).astype(float), np.nan),
        "note": np.where(rng.random(n) < 0.2, "n" + pd.Series(rng.integers(0, 5, n)).astype(str), None),
        "occurred_at": pd.Timestamp(start, tz="UTC") + pd.to_timedelta(rng.integers(0, 90 * 24, n), unit="h"),
    })


@pytest.mark.parametrize("seed", range(4))
def test_state_from_snapshot_equals_state_from_scratch(store, seed):
    store.append_frame(history(seed, 200), stream_type="account")
    saved = ACCOUNT.save_snapshot(store)
    assert saved.position == store.head and saved.streams > 0
    store.append_frame(history(seed + 100, 150, start="2025-02-01"), stream_type="account")
    for kw in ({}, {"known_at": saved.position + 40}, {"as_of": "2025-05-01"}, {"streams": ["a1", "a2"]}):
        fast = ACCOUNT.state(store, **kw)
        slow = ACCOUNT.state(store, use_snapshot=False, **kw)
        pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=1e-12)


def test_snapshot_is_actually_used(fresh_store, monkeypatch):
    fresh_store.append_frame(history(1, 100), stream_type="account")
    ACCOUNT.save_snapshot(fresh_store)
    fresh_store.append_frame(history(2, 10, start="2025-06-01"), stream_type="account")
    used = []
    import eventkit.fold.persisted as persisted

    real = persisted.state_from_saved
    monkeypatch.setattr(persisted, "state_from_saved", lambda *a, **k: used.append(a[2]) or real(*a, **k))
    ACCOUNT.state(fresh_store)
    assert used and used[0].position == 100


def test_changed_fold_ignores_stale_snapshot(fresh_store):
    fresh_store.append_frame(history(3, 100), stream_type="account")
    ACCOUNT.save_snapshot(fresh_store)
    changed = ek.Fold("account", stream_type="account", fields={"balance": ek.sum("amount")})
    assert changed.fingerprint != ACCOUNT.fingerprint
    assert persisted_for(changed, fresh_store) is None
    assert persisted_for(ACCOUNT, fresh_store) is not None


def test_snapshot_not_used_for_earlier_cuts(fresh_store):
    fresh_store.append_frame(history(4, 100), stream_type="account")
    ACCOUNT.save_snapshot(fresh_store)
    assert persisted_for(ACCOUNT, fresh_store, known_at=50) is None
    assert persisted_for(ACCOUNT, fresh_store, as_of="2025-01-15") is None
    assert persisted_for(ACCOUNT, fresh_store, as_of="2026-01-01") is not None


def test_upcasters_change_the_fingerprint(fresh_store):
    fresh_store.append_frame(history(5, 50), stream_type="account")
    ACCOUNT.save_snapshot(fresh_store)
    fresh_store.register_upcaster(ek.Upcaster("Deposited", from_version=1, to_version=2, set={"amount": "amount * 2"}))
    assert persisted_for(ACCOUNT, fresh_store) is None
    assert ACCOUNT.state(fresh_store)["balance"].sum() == ACCOUNT.state(fresh_store, use_snapshot=False)["balance"].sum()


def test_saved_states_are_listed_and_replaced(fresh_store):
    fresh_store.append_frame(history(6, 50), stream_type="account")
    ACCOUNT.save_snapshot(fresh_store)
    ACCOUNT.save_snapshot(fresh_store)
    listing = fold_state_files.listing(fresh_store)
    assert len(listing) == 1 and listing["fold"].tolist() == ["account"]
    assert len(list((fresh_store.path / "fold_states").rglob("*.parquet"))) == 1


def test_snapshot_of_a_scenario_is_refused(fresh_store):
    fresh_store.append_frame(history(7, 20), stream_type="account")
    with pytest.raises(ek.InvalidFold, match="event store"):
        ACCOUNT.save_snapshot(ek.Scenario(fresh_store, name="s"))


def persisted_for(fold, store, **kw):
    from eventkit.fold.persisted import saved_state_for

    return saved_state_for(fold, store, as_of=kw.get("as_of"), known_at=kw.get("known_at"))
