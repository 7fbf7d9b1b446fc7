"""A generated, realistic bank-account domain, as a flat event frame ready for ``append_frame``.

The generator is vectorised with numpy end to end (no Python loop per event), deterministic for a
seed, and scales from a few thousand to tens of millions of events by ``accounts`` and
``events_per_account``.

The domain, per account (stream ``acct-00001``, stream type ``account``):

- ``Opened`` (owner, branch, currency, overdraft_limit): always the account's first event. Opening
  dates are spread over the year, with a rush in the first month.
- ``Deposited`` / ``Withdrawn`` (amount, channel) and ``FeeCharged`` (amount, reason): the money
  movements. Each account has its own activity rate (log-normal, and about 15% are nearly dormant)
  and its own wealth scale. A withdrawal or fee never takes the balance below minus the account's
  overdraft limit: it is cut to what is available, and dropped if nothing is.
- ``InterestPaid`` (amount): at each month end, on a positive balance.
- ``Frozen`` (reason) / ``Unfrozen``: about 3% of accounts are frozen for a while (no money moves
  while frozen); most are unfrozen, some never.
- ``Closed`` (reason): about 4% of accounts close. The balance is settled first (a final
  ``Withdrawn`` or ``Deposited`` through channel ``settlement``), so a closed account ends at zero.

Times are whole seconds in UTC. Within a stream they are strictly increasing, so sorting by
``(stream_id, occurred_at)`` gives the causal order: ``Opened`` first, ``Closed`` last.

Late-arriving events: a ``late_fraction`` of the money movements are marked in the boolean column
``_late``. They happened on time (their ``occurred_at`` is in the past) but reach the store later:
use :func:`split_late` and append the two frames one after the other, so that ``known_at``
queries can tell what the store believed before the late events arrived.

Example:
    >>> frame = bank_events(accounts=50, days=90, seed=1)
    >>> on_time, late = split_late(frame)
    >>> list(on_time.columns[:4])
    ['stream_id', 'stream_type', 'event_type', 'occurred_at']
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from eventkit.common.errors import InvalidInput

__all__ = ["BANK_EVENT_TYPES", "bank_events", "split_late"]

#: The event types :func:`bank_events` generates, with their payload fields.
BANK_EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "Opened": ("owner", "branch", "currency", "overdraft_limit"),
    "Deposited": ("amount", "channel"),
    "Withdrawn": ("amount", "channel"),
    "FeeCharged": ("amount", "reason"),
    "InterestPaid": ("amount",),
    "Frozen": ("reason",),
    "Unfrozen": (),
    "Closed": ("reason",),
}

_TYPES = list(BANK_EVENT_TYPES)
_OPENED, _DEPOSITED, _WITHDRAWN, _FEE, _INTEREST, _FROZEN, _UNFROZEN, _CLOSED = range(len(_TYPES))

_FIRST = ("Ada Alan Amara Ana Ben Carla Chen Dana Diego Elena Emma Farah Grace Hana Hugo Ines "
          "Ivan Jonas Julia Kai Lars Lea Leo Lina Luca Maya Mia Nadia Noah Omar Priya Rosa Sam "
          "Sara Tariq Theo Uma Vera Yuki Zoe").split()
_LAST = ("Adams Alvarez Berg Costa Dubois Eriksen Fischer Garcia Haddad Hansen Ito Jensen Kaur "
         "Keller Kim Kowalski Lopez Martin Meyer Moreau Nakamura Nguyen Novak Okafor Olsen Patel "
         "Petrov Rossi Santos Schmidt Silva Smith Tanaka Tran Vogel Wagner Weber Wong Yilmaz "
         "Zimmermann").split()
_BRANCHES = ["Downtown", "Harbour", "Riverside", "Old Town", "University", "Airport",
             "North Park", "Westgate", "Lakeside", "Online"]
_CURRENCIES, _CURRENCY_P = ["USD", "EUR", "GBP", "CHF"], [0.85, 0.08, 0.05, 0.02]
_OVERDRAFTS, _OVERDRAFT_P = [0.0, 500.0, 1000.0, 2500.0], [0.6, 0.2, 0.15, 0.05]
_DEPOSIT_CHANNELS, _DEPOSIT_P = ["payroll", "transfer", "cash", "cheque"], [0.15, 0.5, 0.25, 0.1]
_WITHDRAW_CHANNELS = ["card", "atm", "transfer", "direct_debit"]
_WITHDRAW_P = [0.5, 0.15, 0.2, 0.15]
_FEE_REASONS = ["atm", "wire", "foreign_exchange", "overdraft", "card_replacement"]
_FEE_P = [0.35, 0.2, 0.25, 0.15, 0.05]
_FREEZE_REASONS, _FREEZE_P = ["suspected_fraud", "court_order", "customer_request"], [0.5, 0.2, 0.3]
_CLOSE_REASONS = ["customer_request", "switched_bank", "moved_abroad", "deceased", "fraud"]
_CLOSE_P = [0.45, 0.3, 0.15, 0.05, 0.05]
# One vocabulary for the `channel` and `reason` columns, indexed by code (-1: null).
_CHANNELS = _DEPOSIT_CHANNELS + _WITHDRAW_CHANNELS + ["settlement"]
_REASONS = _FEE_REASONS + _FREEZE_REASONS + _CLOSE_REASONS

_DAY = 86_400


def bank_events(
    *,
    accounts: int = 2_000,
    days: int = 365,
    seed: int = 0,
    start: str | pd.Timestamp = "2025-01-01",
    late_fraction: float = 0.01,
    events_per_account: float = 50.0,
) -> pd.DataFrame:
    """Generate a year (or ``days``) of bank-account events as one flat frame.

    Args:
        accounts: How many accounts (streams), ``acct-00001`` onwards.
        days: Length of the simulated period, from ``start``.
        seed: Seed of the random generator; the same arguments give an identical frame.
        start: First day of the period (a date string or Timestamp; naive means UTC).
        late_fraction: Share of all events marked ``_late`` (recorded later than they happened);
            chosen among deposits, withdrawals, fees and interest.
        events_per_account: Average number of deposits, withdrawals and fees per account over the
            whole period; monthly interest and lifecycle events come on top. The frame holds
            about ``accounts * (events_per_account + 8)`` events: ``accounts=100_000,
            events_per_account=100`` gives about 10 million.

    Returns:
        A DataFrame ordered by ``occurred_at`` with the envelope columns ``stream_id``,
        ``stream_type``, ``event_type``, ``occurred_at`` (UTC, µs), the payload columns
        ``owner``, ``branch``, ``currency``, ``overdraft_limit``, ``amount``, ``channel``,
        ``reason`` (null where an event type has no such field; amounts are float64 in whole
        cents) and the boolean ``_late``, which is not a payload field: drop it, or use
        :func:`split_late`, before appending.

    Raises:
        InvalidInput: A negative size, a ``late_fraction`` outside [0, 1), or a bad ``start``.

    Example:
        >>> frame = bank_events(accounts=100, seed=7)
        >>> frame.groupby("stream_id").head(1)["event_type"].unique().tolist()
        ['Opened']
        >>> bool(frame.equals(bank_events(accounts=100, seed=7)))
        True
    """
    _check_args(accounts, days, late_fraction, events_per_account)
    t0 = _start_seconds(start)
    rng = np.random.default_rng(seed)
    n_acc = accounts
    acc = _draw_accounts(rng, n_acc, days, events_per_account)

    # Money movements: a Poisson count per account, days uniform in the active window
    # (never on the opening day, never on or after the closing day, never while frozen).
    n_tx = rng.poisson(acc["rate"] * acc["tx_days"])
    tx_acct = np.repeat(np.arange(n_acc), n_tx)
    tx_day = acc["open_day"][tx_acct] + 1 + np.floor(
        rng.random(tx_acct.size) * acc["tx_days"][tx_acct]).astype(np.int64)
    kind = rng.choice([_DEPOSITED, _WITHDRAWN, _FEE], size=tx_acct.size, p=[0.42, 0.54, 0.04])
    frozen = (tx_day >= acc["freeze_day"][tx_acct]) & (tx_day <= acc["unfreeze_day"][tx_acct])
    keep = ~frozen
    tx_acct, tx_day, kind = tx_acct[keep], tx_day[keep], kind[keep]
    n = tx_acct.size
    tx_t = tx_day * _DAY + _time_of_day(rng, n)
    cents, channel, reason = _amounts(rng, kind, acc["wealth"][tx_acct])

    # Month-end interest, on a grid of accounts x month ends inside each active window.
    month_ends = _month_end_days(t0, days)
    grid_acct = np.repeat(np.arange(n_acc), month_ends.size)
    grid_day = np.tile(month_ends, n_acc)
    inside = (grid_day > acc["open_day"][grid_acct]) & (grid_day < acc["end_day"][grid_acct])
    in_acct, in_day = grid_acct[inside], grid_day[inside]
    m_acct = np.concatenate([tx_acct, in_acct])
    m_t = np.concatenate([tx_t, in_day * _DAY + 23 * 3600 + 59 * 60])
    m_kind = np.concatenate([kind, np.full(in_acct.size, _INTEREST)])
    m_step = np.concatenate([cents, np.zeros(in_acct.size, np.int64)])
    m_channel = np.concatenate([channel, np.full(in_acct.size, -1)])
    m_reason = np.concatenate([reason, np.full(in_acct.size, -1)])

    order = np.argsort(_pack(m_acct, m_t))
    m_acct, m_t, m_kind, m_step = m_acct[order], m_t[order], m_kind[order], m_step[order]
    m_channel, m_reason = m_channel[order], m_reason[order]
    balance = _bounded_balance(m_acct, m_step, acc["floor"][m_acct])
    prev = np.empty_like(balance)
    prev[1:] = balance[:-1]
    first = np.ones(m_acct.size, dtype=bool)
    first[1:] = m_acct[1:] != m_acct[:-1]
    prev[first] = 0
    amount = np.abs(balance - prev)  # what really moved: withdrawals cut to what was available
    interest = m_kind == _INTEREST
    monthly_rate = acc["apr"][m_acct[interest]] / 12
    amount[interest] = np.floor(np.maximum(balance[interest], 0) * monthly_rate)
    keep = amount > 0
    m_acct, m_t, m_kind, amount = m_acct[keep], m_t[keep], m_kind[keep], amount[keep]
    m_channel, m_reason = m_channel[keep], m_reason[keep]

    # Settle closed accounts to zero, then the lifecycle events.
    signed = np.where((m_kind == _DEPOSITED) | (m_kind == _INTEREST), amount, -amount)
    final = np.bincount(m_acct, weights=signed, minlength=n_acc).round().astype(np.int64)
    closed = np.flatnonzero(acc["closed"] & (final != 0))
    close_t = acc["end_day"] * _DAY + 15 * 3600 + rng.integers(0, 7200, n_acc)
    frz = np.flatnonzero(acc["freeze_day"] < _NEVER)
    unfrz = np.flatnonzero(acc["unfreeze_day"] < acc["end_day"])
    cls = np.flatnonzero(acc["closed"])
    parts = [
        (m_acct, m_t, m_kind, amount, m_channel, m_reason),
        (np.arange(n_acc), acc["open_day"] * _DAY + 9 * 3600 + rng.integers(0, 8 * 3600, n_acc),
         np.full(n_acc, _OPENED), None, None, None),
        (closed, close_t[closed] - 600, np.where(final[closed] > 0, _WITHDRAWN, _DEPOSITED),
         np.abs(final[closed]), np.full(closed.size, _CHANNELS.index("settlement")), None),
        (frz, acc["freeze_day"][frz] * _DAY + 12 * 3600, np.full(frz.size, _FROZEN),
         None, None, acc["freeze_reason"][frz]),
        (unfrz, acc["unfreeze_day"][unfrz] * _DAY + 12 * 3600, np.full(unfrz.size, _UNFROZEN),
         None, None, None),
        (cls, close_t[cls], np.full(cls.size, _CLOSED), None, None, acc["close_reason"][cls]),
    ]
    a, t, k, amt, ch, rs = (_concat(parts, i, default) for i, default in
                            enumerate([0, 0, 0, 0, -1, -1]))
    late = np.zeros(a.size, dtype=bool)
    # Late events come from accounts that stay open, so no event follows Closed in version order.
    late[: m_acct.size] = _pick_late(rng, ~acc["closed"][m_acct], late_fraction, a.size)

    # Strictly increasing times within a stream (ties are possible at one-second resolution):
    # add the event's index within its stream, in seconds, to the per-stream sorted times.
    order = np.argsort(_pack(a, t * 2 + (k == _CLOSED)))
    a1 = a[order]
    starts = np.flatnonzero(np.r_[True, a1[1:] != a1[:-1]])
    t1 = t[order] + np.arange(a.size) - np.repeat(starts, np.diff(np.r_[starts, a.size]))
    # The log order: by time, streams interleaved (keys are unique, so the sort is deterministic).
    by_time = np.argsort(_pack(t1, a1))
    order = order[by_time]
    a, t = a1[by_time], t1[by_time]
    k, amt, ch, rs, late = (x[order] for x in (k, amt, ch, rs, late))
    return _to_frame(acc, t0, a, t, k, amt, ch, rs, late)


def split_late(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a :func:`bank_events` frame into the events recorded on time and those recorded late.

    Append ``on_time`` first and ``late`` in a later append: the late events then carry an
    ``occurred_at`` in the past but a later ``recorded_at`` (backdated events).

    Args:
        frame: A frame with a boolean ``_late`` column.

    Returns:
        ``(on_time, late)``, both without the ``_late`` column, each in the frame's order and
        with a fresh index.

    Raises:
        InvalidInput: The frame has no ``_late`` column.

    Example:
        >>> on_time, late = split_late(bank_events(accounts=200, seed=3, late_fraction=0.05))
        >>> len(late) > 0 and "_late" not in on_time.columns
        True
    """
    if "_late" not in frame.columns:
        raise InvalidInput(
            f"split_late needs a boolean '_late' column; the frame has {list(frame.columns)}",
            column="_late")
    mask = frame["_late"].to_numpy(dtype=bool)
    rest = frame.drop(columns="_late")
    return rest[~mask].reset_index(drop=True), rest[mask].reset_index(drop=True)


_NEVER = np.iinfo(np.int64).max // 4


def _check_args(accounts: int, days: int, late_fraction: float, per_account: float) -> None:
    if accounts < 1:
        raise InvalidInput("accounts must be at least 1", column="accounts", values=[accounts])
    if days < 2:
        raise InvalidInput("days must be at least 2", column="days", values=[days])
    if not 0 <= late_fraction < 1:
        raise InvalidInput("late_fraction must be in [0, 1)", column="late_fraction",
                           values=[late_fraction])
    if per_account < 0:
        raise InvalidInput("events_per_account must not be negative",
                           column="events_per_account", values=[per_account])


def _start_seconds(start: str | pd.Timestamp) -> int:
    try:
        ts = pd.Timestamp(start)
    except (ValueError, TypeError) as e:
        raise InvalidInput(f"start is not a date: {e}", column="start", values=[start]) from e
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.normalize().timestamp())


def _draw_accounts(rng: np.random.Generator, n: int, days: int, per_account: float) -> dict:
    rush = rng.random(n) < 0.3
    open_day = np.where(rush, rng.integers(0, max(days // 12, 1), n),
                        np.floor(rng.random(n) * days * 0.92)).astype(np.int64)
    closed = (rng.random(n) < 0.04) & (open_day + 15 < days - 1)
    close_day = open_day + 15 + np.floor(rng.random(n) * np.maximum(days - 1 - open_day - 15, 0))
    end_day = np.where(closed, close_day, days).astype(np.int64)  # exclusive end of activity
    tx_days = np.maximum(end_day - open_day - 1, 0)
    frozen = (rng.random(n) < 0.03) & (tx_days > 4)
    freeze_day = open_day + 1 + np.floor(
        rng.random(n) * np.maximum(tx_days - 1, 1)).astype(np.int64)
    unfreeze_day = np.where(rng.random(n) < 0.7, freeze_day + rng.integers(3, 41, n), _NEVER)
    unfreeze_day = np.where(unfreeze_day >= end_day, _NEVER, unfreeze_day)
    rate = rng.lognormal(0.0, 1.0, n) * np.where(rng.random(n) < 0.15, 0.03, 1.0)
    expected = float((rate * tx_days).mean())
    rate = rate * (per_account / expected if expected > 0 else 0.0)
    overdraft = rng.choice(_OVERDRAFTS, size=n, p=_OVERDRAFT_P)
    return {
        "open_day": open_day, "end_day": end_day, "tx_days": tx_days, "closed": closed,
        "freeze_day": np.where(frozen, freeze_day, _NEVER),
        "unfreeze_day": np.where(frozen, unfreeze_day, _NEVER),
        "rate": rate, "wealth": rng.lognormal(0.0, 0.6, n),
        "apr": rng.choice([0.001, 0.005, 0.01, 0.02], size=n, p=[0.4, 0.3, 0.2, 0.1]),
        "overdraft": overdraft, "floor": -np.round(overdraft * 100).astype(np.int64),
        "first": rng.integers(0, len(_FIRST), n), "last": rng.integers(0, len(_LAST), n),
        "branch": rng.integers(0, len(_BRANCHES), n),
        "currency": rng.choice(len(_CURRENCIES), size=n, p=_CURRENCY_P),
        "freeze_reason": len(_FEE_REASONS) + rng.choice(len(_FREEZE_REASONS), size=n, p=_FREEZE_P),
        "close_reason": len(_FEE_REASONS) + len(_FREEZE_REASONS)
        + rng.choice(len(_CLOSE_REASONS), size=n, p=_CLOSE_P),
    }


def _time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight: mostly daytime, a tail of night-time card and online activity."""
    day = np.clip(rng.normal(13.5 * 3600, 3.2 * 3600, n), 6 * 3600, 23 * 3600 + 3599)
    night = rng.random(n) < 0.05
    return np.where(night, rng.integers(0, _DAY, n), day).astype(np.int64)


def _amounts(rng: np.random.Generator, kind: np.ndarray, wealth: np.ndarray):
    """Signed amounts in cents, channel codes and reason codes for deposits, withdrawals, fees."""
    n = kind.size
    dep, wd, fee = kind == _DEPOSITED, kind == _WITHDRAWN, kind == _FEE
    dep_ch = rng.choice(len(_DEPOSIT_CHANNELS), size=n, p=_DEPOSIT_P)
    wd_ch = len(_DEPOSIT_CHANNELS) + rng.choice(len(_WITHDRAW_CHANNELS), size=n, p=_WITHDRAW_P)
    # Payroll is large and regular-sized; other deposits and card spending are log-normal;
    # ATM withdrawals come in multiples of 20.
    dep_amt = np.where(dep_ch == 0, rng.normal(2400, 500, n).clip(800), rng.lognormal(5.0, 1.0, n))
    wd_amt = np.where(wd_ch == len(_DEPOSIT_CHANNELS) + 1, 20.0 * rng.integers(1, 21, n),
                      rng.lognormal(5.0, 1.1, n))
    fee_amt = rng.choice([1.5, 2.5, 5.0, 15.0, 25.0], size=n)
    scale = np.where(fee, 1.0, wealth)
    value = np.where(dep, dep_amt, np.where(wd, wd_amt, fee_amt)) * scale
    cents = np.round(value * 100).astype(np.int64)
    cents = np.where(dep, cents, -cents)
    channel = np.where(dep, dep_ch, np.where(wd, wd_ch, -1))
    reason = np.where(fee, rng.choice(len(_FEE_REASONS), size=n, p=_FEE_P), -1)
    return cents, channel, reason


def _month_end_days(t0: int, days: int) -> np.ndarray:
    start = pd.Timestamp(t0, unit="s")
    ends = pd.date_range(start, start + pd.Timedelta(days=days - 1), freq="ME")
    return ((ends - start) // pd.Timedelta(days=1)).to_numpy(dtype=np.int64)


def _bounded_balance(acct: np.ndarray, step: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Running balance per account where a debit is cut so the balance never drops below floor.

    b_k = max(b_{k-1} + x_k, floor) is a reflected random walk (Lindley's recursion); its closed
    form b_k = S_k - min(floor, min_{j<=k} S_j) + floor, with S the plain cumulative sum, needs only
    a grouped cumsum and cummin, both vectorised. Rows must be sorted by account.
    """
    total = np.cumsum(step)
    starts = np.flatnonzero(np.r_[True, acct[1:] != acct[:-1]]) if acct.size else np.array([], int)
    base = np.repeat(total[starts] - step[starts], np.diff(np.r_[starts, acct.size]))
    s = total - base
    low = pd.Series(s).groupby(acct, sort=False).cummin().to_numpy()
    return s - np.minimum(low, floor) + floor


def _pack(major: np.ndarray, minor: np.ndarray) -> np.ndarray:
    """One int64 sort key ordering by major, then minor (both non-negative), for a fast argsort."""
    bits = max(int(minor.max(initial=0)).bit_length(), 1)
    if int(major.max(initial=0)).bit_length() + bits > 62:
        raise InvalidInput("the period and number of accounts are too large to generate")
    return (major.astype(np.int64) << bits) | minor.astype(np.int64)


def _pick_late(rng: np.random.Generator, eligible: np.ndarray, fraction: float,
               total: int) -> np.ndarray:
    candidates = np.flatnonzero(eligible)
    want = min(int(round(fraction * total)), candidates.size)
    late = np.zeros(eligible.size, dtype=bool)
    if want:
        late[rng.choice(candidates, size=want, replace=False)] = True
    return late


def _concat(parts: list[tuple], column: int, default: int) -> np.ndarray:
    """Column ``column`` of every part, a part's missing (None) column filled with default."""
    return np.concatenate([
        np.asarray(p[column], dtype=np.int64) if p[column] is not None
        else np.full(len(p[0]), default, dtype=np.int64)
        for p in parts])


def _to_frame(acc: dict, t0: int, a, t, k, amt, ch, rs, late) -> pd.DataFrame:
    n_acc = acc["open_day"].size
    width = max(5, len(str(n_acc)))
    ids = pa.array([f"acct-{i:0{width}d}" for i in range(1, n_acc + 1)])
    owners = pa.array([f"{_FIRST[f]} {_LAST[s]}" for f, s in zip(acc["first"], acc["last"])])
    opened = k == _OPENED

    def strings(codes: np.ndarray, vocab: pa.Array, mask: np.ndarray | None = None) -> pa.Array:
        valid = codes >= 0 if mask is None else mask
        idx = pa.array(np.where(valid, codes, 0).astype(np.int32), mask=~valid)
        return pa.DictionaryArray.from_arrays(idx, vocab).cast(pa.large_string())

    def floats(values: np.ndarray, valid: np.ndarray) -> pa.Array:
        return pa.array(values, type=pa.float64(), mask=~valid)

    table = pa.table({
        "stream_id": strings(a, ids),
        "stream_type": pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(a.size, np.int32)), pa.array(["account"])).cast(pa.large_string()),
        "event_type": strings(k, pa.array(_TYPES)),
        "occurred_at": pa.array((t0 + t) * 1_000_000, type=pa.timestamp("us", tz="UTC")),
        "owner": strings(a, owners, opened),
        "branch": strings(acc["branch"][a], pa.array(_BRANCHES), opened),
        "currency": strings(acc["currency"][a], pa.array(_CURRENCIES), opened),
        "overdraft_limit": floats(acc["overdraft"][a], opened),
        "amount": floats(amt.astype(np.float64) / 100, (k >= _DEPOSITED) & (k <= _INTEREST)),
        "channel": strings(ch, pa.array(_CHANNELS)),
        "reason": strings(rs, pa.array(_REASONS)),
        "_late": pa.array(late),
    })
    return table.to_pandas()
