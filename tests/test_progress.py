"""Progress output: a bar on a terminal, plain lines in a log, nothing when there is nothing to do."""

from __future__ import annotations

import io

import pytest

from eventkit.common import progress as _progress
from eventkit.common.progress import progress_bar


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: a log file got tqdm's carriage-return frames; it now gets whole lines."""
    err = io.StringIO()
    monkeypatch.setattr(_progress.sys, "stderr", err)
    monkeypatch.setattr(_progress, "PLAIN_EVERY_SECONDS", 0.0)
    with progress_bar(total=3, desc="importing", unit="event") as bar:
        bar.update(2)
        bar.update(1)
    out = err.getvalue()
    assert "\r" not in out
    lines = out.splitlines()
    assert lines[-1].startswith("importing: 3/3 events (100%) in ")
    assert all(line.startswith("importing: ") for line in lines)


def test_plain_lines_are_occasional(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(_progress.sys, "stderr", err)
    with progress_bar(total=10_000, desc="importing", unit="event") as bar:
        for _ in range(10_000):
            bar.update(1)
    assert len(err.getvalue().splitlines()) == 1        # only the closing line within 10 s


def test_nothing_to_do_shows_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: an empty compaction drew a bar at 0/0."""
    for stream in (io.StringIO(), _Tty()):
        monkeypatch.setattr(_progress.sys, "stderr", stream)
        with progress_bar(total=0, desc="compacting", unit="segment") as bar:
            bar.update(0)
        assert stream.getvalue() == ""


def test_terminal_gets_a_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    tty = _Tty()
    monkeypatch.setattr(_progress.sys, "stderr", tty)
    monkeypatch.setattr(_progress, "_interactive", lambda stream: True)
    import tqdm.auto

    made = []
    real = tqdm.auto.tqdm

    def spy(*args, **kwargs):
        made.append(kwargs)
        return real(*args, file=tty, **kwargs)

    monkeypatch.setattr(tqdm.auto, "tqdm", spy)
    with progress_bar(total=5, desc="report", unit="step") as bar:
        bar.update(5)
    assert made and made[0]["desc"] == "report"
    assert "\r" in tty.getvalue()
