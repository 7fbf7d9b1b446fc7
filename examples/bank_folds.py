"""Folds over the sample bank domain (eventkit.sample.bank_events), for reports and notebooks.

A report configuration names them as ``"bank_folds.py:account"`` (a path relative to the config
file) or ``"examples.bank_folds:account"`` (a module, importable from the repository root).
"""

from __future__ import annotations

import eventkit as ek

#: One row per account: its money, its category columns and its status.
account = ek.Fold("account", stream_type="account", fields={
    "balance": ek.sum("amount", event_types=["Deposited", "InterestPaid"])
               - ek.sum("amount", event_types=["Withdrawn", "FeeCharged"]),
    "currency": ek.first("currency"),
    "branch": ek.first("branch"),
    "status": ek.last_event_type({"Opened": "open", "Frozen": "frozen",
                                  "Unfrozen": "open", "Closed": "closed"}),
    "deposited": ek.sum("amount", event_types=["Deposited"]),
    "fees": ek.sum("amount", event_types=["FeeCharged"]),
    "interest": ek.sum("amount", event_types=["InterestPaid"]),
    "events": ek.count(),
})
