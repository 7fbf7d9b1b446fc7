"""Named crash points: a test hook that kills the process at a chosen step of a write.

Set ``EVENTKIT_CRASH_AT`` to a point's name (e.g. ``compact.after_commit``) and the process dies
with SIGKILL when it reaches that point — no clean-up handler, no ``finally`` block runs, as with a
power cut or an OOM kill. The variable is read once at import, so an unset variable costs one
comparison per call. Used by tests/test_crash_points.py to prove recovery at each step.

Points (each write's order is: new file written, catalog transaction commits, old files go):
    bulk.before_commit   a bulk append's segment file is written and recorded, not yet committed
    bulk.after_commit    a bulk append is committed, before it returns
    seal.after_write     a seal's segment file is written, not yet recorded
    seal.before_commit   inside the hot-log move: rows deleted from the hot log, not yet committed
    seal.after_commit    a seal is committed, before it returns
    compact.after_write  a merged segment is written, the swap not yet recorded
    compact.after_commit the swap is committed, the replaced files not yet removed
"""

from __future__ import annotations

import os
import signal

_TARGET = os.environ.get("EVENTKIT_CRASH_AT") or None


def crash_point(name: str) -> None:
    """Kill this process now if ``EVENTKIT_CRASH_AT`` names this point (tests only)."""
    if _TARGET is not None and _TARGET == name:
        os.kill(os.getpid(), signal.SIGKILL)
