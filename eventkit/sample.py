"""Public import path ``eventkit.sample``; the code lives in :mod:`eventkit.samples.bank`."""
from __future__ import annotations

from eventkit.samples.bank import BANK_EVENT_TYPES, bank_events, split_late

__all__ = ['BANK_EVENT_TYPES', 'bank_events', 'split_late']
