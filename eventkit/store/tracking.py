"""Tracking: a consumer's position committed in the same transaction as the events it writes.

A process that turns events into new events (a policy, a saga, an eventsourcing process
application) appends its output with ``checkpoint=(consumer, position)``: the events and the
consumer's new position commit together or not at all, and a position not above the stored one is
refused. So after a crash the process resumes from the stored position, and an event it had
already handled cannot produce its output twice: exactly once, without an idempotency table.

May use :mod:`eventkit.common`, :mod:`.envelope` and the catalog interface.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eventkit.common.errors import InvalidInput, StoreError
from eventkit.store.catalog_interface import CatalogBackend
from eventkit.store.envelope import check_name


class CheckpointConflict(StoreError):
    """A consumer's position did not move forward: it was already at (or past) the position given.

    Raised by an append with ``checkpoint=(consumer, position)`` when the stored position is not
    below ``position`` (the input was already processed, or two processes run one consumer), and
    by a subscription whose checkpoint another process moved. Nothing was written.
    """


def check_checkpoint(checkpoint: Any) -> tuple[str, int] | None:
    """Validate ``checkpoint=(consumer, position)`` before the store takes its write lock."""
    if checkpoint is None:
        return None
    if isinstance(checkpoint, (str, bytes)) or not isinstance(checkpoint, (tuple, list)) or len(checkpoint) != 2:
        raise InvalidInput("checkpoint must be a pair (consumer name, position), e.g. ('billing', 41)",
                           column="checkpoint", values=[checkpoint])
    name, position = checkpoint
    check_name(name, "a consumer name", names="a checkpoint")
    if isinstance(position, (bool, np.bool_)) or not isinstance(position, (int, np.integer)) or not 0 <= position < 2**63:
        raise InvalidInput(f"checkpoint position for {name!r} must be a whole number >= 0",
                           column="checkpoint", values=[position])
    return name, int(position)


def advance(catalog: CatalogBackend, tx: Any, checkpoint: tuple[str, int] | None) -> None:
    """Move a consumer's position forward inside the append's write transaction, or refuse."""
    if checkpoint is None:
        return
    name, position = checkpoint
    stored = catalog.stored_checkpoint(tx, name)
    if stored is not None and position <= stored:
        raise CheckpointConflict(
            f"consumer {name!r} is already at position {stored}; {position} is not above it, so this input "
            "was processed before (or another process runs the same consumer): nothing was written"
        )
    catalog.set_checkpoint(tx, name, position)


def position(catalog: CatalogBackend, name: str) -> int | None:
    """Consumer ``name``'s stored position, or None when it has none."""
    check_name(name, "a consumer name", names="a checkpoint")
    with catalog.read() as tx:
        return catalog.stored_checkpoint(tx, name)
