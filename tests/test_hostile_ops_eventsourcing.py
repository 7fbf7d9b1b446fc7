"""eventkit as eventsourcing's persistence module, used the way applications do: application names
eventsourcing allows (any text), originator ids given as text that UUID() also parses, version bounds
past either end."""

from __future__ import annotations

import uuid

import pytest

pytest.importorskip("eventsourcing")

from eventsourcing.persistence import StoredEvent, Tracking  # noqa: E402

import eventkit as ek  # noqa: E402
from eventkit.interop.eventsourcing import EventKitApplicationRecorder, EventKitProcessRecorder  # noqa: E402


@pytest.mark.parametrize("name", ["Bänk", "My App", "x" * 200, "Billing", "billing", "银行"])
def test_any_application_name_tracks_its_position(tmp_path, name):
    """A process application named 'Bänk' (a Python class name) or 'My App' got DataError on every
    tracked insert, and max_tracking_id raised eventkit's InvalidInput: the name is eventsourcing's
    to choose, so the recorder maps it to a checkpoint name the store takes, one per name."""
    recorder = EventKitProcessRecorder(ek.open_store(tmp_path / "s"))
    other = "Billing" if name == "billing" else "billing"
    recorder.insert_events([], tracking=Tracking(other, 9))
    assert recorder.max_tracking_id(name) is None
    recorder.insert_events([StoredEvent(uuid.uuid4(), 1, "t", b"x")], tracking=Tracking(name, 5))
    assert recorder.max_tracking_id(name) == 5
    assert recorder.max_tracking_id(other) == 9
    assert recorder.has_tracking_id(name, 5) and not recorder.has_tracking_id(name, 6)


@pytest.mark.parametrize("form", ["{%s}", "urn:uuid:%s", "hex", "upper"])
def test_a_text_originator_id_is_notified_as_that_text(tmp_path, form):
    """A text originator id that UUID() parses but does not print back ('{...}', 'urn:uuid:...', 32 hex
    digits, upper case) was notified as the UUID: its events were then attributed to another stream (the
    UUID's canonical form), and select_events with that UUID read the other stream."""
    u = uuid.uuid4()
    text = {"hex": u.hex, "upper": str(u).upper()}.get(form) or form % u
    recorder = EventKitApplicationRecorder(ek.open_store(tmp_path / "s"))
    recorder.insert_events([StoredEvent(u, 1, "t", b"canonical")])
    recorder.insert_events([StoredEvent(text, 1, "t", b"text")])
    notes = recorder.select_notifications(1, 10)
    assert [(n.originator_id, n.state) for n in notes] == [(u, b"canonical"), (text, b"text")]
    assert [e.state for e in recorder.select_events(notes[1].originator_id)] == [b"text"]


def test_version_bounds_past_either_end_select_as_eventsourcing_does(tmp_path):
    """select_events(lte=-2) or a bound past 2**63 raised eventkit's InvalidInput (not an eventsourcing
    error): a bound below every version selects nothing, one above every version leaves it open."""
    u = uuid.uuid4()
    recorder = EventKitApplicationRecorder(ek.open_store(tmp_path / "s"))
    recorder.insert_events([StoredEvent(u, 1, "t", b"a"), StoredEvent(u, 2, "t", b"b")])
    assert recorder.select_events(u, lte=-2) == []
    assert recorder.select_events(u, gt=2**64) == []
    assert [e.originator_version for e in recorder.select_events(u, lte=2**64)] == [1, 2]
    assert [e.originator_version for e in recorder.select_events(u, gt=-5)] == [1, 2]
