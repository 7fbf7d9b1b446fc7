"""A consumer process for the subscription kill test: runs a projection until it reaches a position.

Usage: python _consumer.py STORE TARGET_POSITION SEED [KILL_AT_COMMIT]

The projection ``ids`` writes one row per event (event_id, position, stream_id), with no key, so a
duplicate would show as two rows. A random pause between writing a part file and committing its
checkpoint widens the window in which a SIGKILL leaves an uncommitted file behind. Prints
``started <checkpoint>``, ``recovered <files removed>`` after its first catch-up, ``done`` at the target.
With KILL_AT_COMMIT = k the process SIGKILLs itself at its k-th commit, after writing the part
file and before moving the checkpoint: the crash lands in that window for certain.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import eventkit as ek  # noqa: E402
from eventkit.store.projections import Projection  # noqa: E402


class SlowCommit(Projection):
    def _before_commit(self, first: int, last: int) -> None:
        self.commits += 1
        if self.commits == self.kill_at_commit:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(self.rng.uniform(0, 0.05))


def rows(batch):
    return batch[["event_id", "position", "stream_id"]]


def main() -> None:
    store_path, target, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = ek.open_store(store_path)
    proj = SlowCommit(store, rows, name="ids", batch_size=37, compact_every=6)
    proj.rng = random.Random(seed)
    proj.commits, proj.kill_at_commit = 0, int(sys.argv[4]) if len(sys.argv) > 4 else 0
    print("started", proj.position, flush=True)
    first = True
    while True:
        proj.run_once()
        if first:
            print("recovered", proj.recovered, flush=True)
            first = False
        if proj.position >= target:
            print("done", proj.position, flush=True)
            return
        time.sleep(0.005)


if __name__ == "__main__":
    main()
