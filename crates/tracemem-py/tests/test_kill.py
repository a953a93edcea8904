"""Durability (R4): a Python process recording into a ``.tmdb`` with
``flush="event"`` is killed with SIGKILL; every event whose call returned
is in the database after it is reopened for writing (which folds in the
journal), and readers refuse the file until then."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tracemem

CHILD = textwrap.dedent(
    """
    import sys
    from tracemem import RecordingMaster

    class Bus:
        def __init__(self):
            self.memory = {}
        def read(self, address, width):
            return self.memory.get(address, 0)
        def write(self, address, value, width):
            self.memory[address] = value

    master = RecordingMaster(Bus(), file=sys.argv[1], flush=sys.argv[2] if sys.argv[2] == "event" else int(sys.argv[2]))
    i = 0
    while True:
        master.write(0x1000 + 8 * (i % 512), i, 8)
        # The call returned: the event is acknowledged.
        sys.stdout.write(f"{i}\\n")
        sys.stdout.flush()
        i += 1
    """
)


@pytest.mark.parametrize(("flush", "may_lose"), [("event", 0), ("5", 4)])
def test_every_acknowledged_event_survives_kill_9(tmp_path: Path, flush: str, may_lose: int) -> None:
    path = tmp_path / "killed.tmdb"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), flush], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    acknowledged = -1
    for line in child.stdout:
        acknowledged = int(line)
        if acknowledged >= 3000:
            break
    os.kill(child.pid, signal.SIGKILL)
    # Acknowledgements written before the kill still count.
    for line in child.stdout:
        if line.endswith("\n"):
            acknowledged = int(line)
    child.wait()
    assert child.returncode == -signal.SIGKILL

    with pytest.raises(tracemem.errors.UncleanError, match="stopped without closing"):
        tracemem.open(path)
    with tracemem.open(path, readonly=False):
        pass  # opening for writing folds in the journal
    with tracemem.open(path) as db, db.snapshot() as view:
        capture = view.capture("killed")
        assert capture.events >= acknowledged + 1 - may_lose
        events = list(view.events(start=0, stop=acknowledged + 1 - may_lose))
        assert [e["value"] for e in events] == list(range(acknowledged + 1 - may_lose))
        last = acknowledged - may_lose
        assert view.value(0x1000 + 8 * (last % 512), 8, snap=capture.first_snap + last) == last
        assert db.check()["problems"] == []
