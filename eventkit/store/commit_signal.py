"""Waking readers when the log grows: ``follow()`` and live subscriptions wait here instead of sleeping.

Commits made through this store object wake waiters at once; commits by other processes (or other
store objects) are noticed by re-reading the head, which costs a few microseconds, every
``poll`` seconds. A waiter also wakes when its ``stop`` event is set, from any thread.

May use the standard library only.
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class CommitSignal:
    """A condition that appends notify and readers wait on."""

    def __init__(self, head: Callable[[], int]) -> None:
        self._head = head
        self._cond = threading.Condition()

    def notify(self) -> None:
        """Wake every waiter (after a commit, or to let one see its stop event)."""
        with self._cond:
            self._cond.notify_all()

    def wait(self, *, after: int, timeout: float | None, stop: threading.Event | None = None,
             poll: float = 0.05) -> int:
        """Block until the head passes ``after``, ``timeout`` seconds pass or ``stop`` is set; returns the head."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            head = self._head()
            if head > after or (stop is not None and stop.is_set()):
                return head
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return head
            with self._cond:
                if stop is not None and stop.is_set():
                    return head
                self._cond.wait(poll if remaining is None else min(poll, remaining))
