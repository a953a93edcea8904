"""Recording into a database (``file=`` a ``.tmdb`` path, or ``db=``): the
seed's events with R2's failed events kept in the capture, the events as a
sequence over the capture, bad input refused before the bus is touched,
marks, and replay from a capture."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
from conftest import Bus, FakeClock

import tracemem
from tracemem import AccessOp, RecordingMaster, ReplayMaster


def record_some(path: Path, n: int = 10, **kwargs: object) -> RecordingMaster:
    master = RecordingMaster(Bus(), file=path, clock=FakeClock(), **kwargs)  # type: ignore[arg-type]
    for i in range(n):
        master.write(0x1000 + 4 * i, i * 3, 4)
    return master


def test_events_are_a_sequence_over_the_capture(tmp_path: Path) -> None:
    master = record_some(tmp_path / "t.tmdb", 10)
    plain = RecordingMaster(Bus(), clock=FakeClock())
    for i in range(10):
        plain.write(0x1000 + 4 * i, i * 3, 4)
    events = master.events
    assert len(events) == 10
    assert events[0] == plain.events[0] and events[-1] == plain.events[-1] and events[-10] == plain.events[0]
    assert events[2:5] == plain.events[2:5] and events[::3] == plain.events[::3] and events[7:2] == []
    assert list(events) == plain.events
    with pytest.raises(IndexError):
        events[10]
    with pytest.raises(IndexError):
        events[-11]
    assert not hasattr(events, "append"), "the sequence is read-only"
    master.close()
    assert list(master.events) == plain.events, "after close the events are read from the file"


def test_failed_ops_are_failed_events_in_the_capture_but_not_in_events(tmp_path: Path) -> None:
    path = tmp_path / "t.tmdb"
    with RecordingMaster(Bus(failing={0x20}), file=path, clock=FakeClock()) as master:
        master.write(0x10, 1, 4)
        with pytest.raises(RuntimeError):
            master.read(0x20, 4)
        with pytest.raises(RuntimeError):
            master.write_many([AccessOp(0x20, 5, 4), AccessOp(0x24, 6, 4)])
        master.read(0x10, 4)
        assert [(e["op"], e["address"]) for e in master.events] == [("write", 0x10), ("read", 0x10)]
        assert master.events[1]["value"] == 1
    with tracemem.open(path) as db:
        stored = list(db.events())
    assert [(e["op"], e["address"], e["error"]) for e in stored] == [
        ("write", 0x10, None),
        ("read", 0x20, "RuntimeError: bus timeout at 0x20"),
        ("write", 0x20, "RuntimeError: bus timeout at 0x20"),
        ("write", 0x24, "RuntimeError: bus timeout at 0x20"),
        ("read", 0x10, None),
    ]
    with tracemem.open(path) as db:
        assert db.states("bus", 0x20, 4, snap=1) == [(0x20, 0x23, "error")], "a failed read is ERROR over its bytes"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.write(-1, 0, 4), "address -1 cannot be recorded"),
        (lambda m: m.write(2**64, 0, 4), "address 18446744073709551616 cannot be recorded"),
        (lambda m: m.write(0, 2**64, 4), "value 18446744073709551616 cannot be recorded"),
        (lambda m: m.write(0, -3, 4), "value -3 cannot be recorded"),
        (lambda m: m.read(0, 0), "width 0 cannot be recorded"),
        (lambda m: m.read(0, 9), "width 9 cannot be recorded"),
        (lambda m: m.read(2**64 - 2, 4), "its last byte passes 2\\*\\*64-1"),
        (lambda m: m.read_many([AccessOp(0, 0, 4), AccessOp(0, 0, 12)]), "width 12"),
    ],
)
def test_what_a_database_cannot_hold_is_refused_before_the_bus(tmp_path: Path, call, message: str) -> None:  # type: ignore[no-untyped-def]
    bus = Bus()
    with RecordingMaster(bus, file=tmp_path / "t.tmdb") as master:
        with pytest.raises(ValueError, match=message):
            call(master)
        assert bus.calls == 0 and len(master.events) == 0


@pytest.mark.parametrize("address", ["0x10", 1.5, None])
def test_a_non_int_address_is_a_type_error(tmp_path: Path, address: object) -> None:
    bus = Bus()
    with RecordingMaster(bus, file=tmp_path / "t.tmdb") as master:
        with pytest.raises(TypeError, match="address must be an int"):
            master.read(address, 4)  # type: ignore[arg-type]
        assert bus.calls == 0


def test_a_value_the_database_cannot_hold_from_the_inner_master_is_a_failed_event(tmp_path: Path) -> None:
    class Inner(Bus):
        def read(self, address: int, width: int) -> int:
            return -1

    path = tmp_path / "t.tmdb"
    with RecordingMaster(Inner(), file=path) as master:
        with pytest.raises(ValueError, match="returned -1"):
            master.read(0x40, 4)
        assert len(master.events) == 0
    with tracemem.open(path) as db:
        [event] = list(db.events())
    assert event["address"] == 0x40 and "returned -1" in event["error"]


def test_values_wider_than_the_width_are_kept_as_given(tmp_path: Path) -> None:
    path = tmp_path / "t.tmdb"
    with RecordingMaster(Bus(), file=path) as master:
        master.write(0x10, 0x1_2345_6789, 2)
        assert master.events[0]["value"] == 0x1_2345_6789
    with tracemem.open(path) as db:
        assert db.read("bus", 0x10, 2) == bytes([0x89, 0x67])


def test_mark_labels_the_snap_of_the_next_event(tmp_path: Path) -> None:
    path = tmp_path / "t.tmdb"
    with record_some(path, 3) as master:
        master.mark("phase two")
        master.write(0x10, 1, 4)
    with tracemem.open(path) as db:
        assert [(s["snap"], s["description"]) for s in db.snaps()] == [(3, "phase two")]


def test_mark_needs_a_database() -> None:
    with pytest.raises(ValueError, match="mark"):
        RecordingMaster(Bus()).mark("x")


def test_a_second_capture_continues_the_timeline(tmp_path: Path) -> None:
    path = tmp_path / "t.tmdb"
    record_some(path, 4).close()
    with RecordingMaster(Bus(), file=path, capture="second") as master:
        master.write(0x10, 1, 4)
    with tracemem.open(path) as db:
        captures = {c.name: c for c in db.captures()}
    assert captures["t"].first_snap == 0 and captures["t"].events == 4
    assert captures["second"].first_snap == 4 and captures["second"].events == 1
    assert captures["t"].last_snap == 3 and captures["second"].last_snap == 4


def test_a_capture_name_that_exists_is_refused_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "t.tmdb"
    record_some(path, 4).close()
    with pytest.raises(tracemem.errors.InvalidArgumentError, match="exists already"):
        RecordingMaster(Bus(), file=path)
    with tracemem.open(path) as db:
        assert db.capture("t").events == 4


def test_recording_through_an_open_database(tmp_path: Path) -> None:
    path = tmp_path / "t.tmdb"
    with tracemem.open(path, create=True) as db:
        with RecordingMaster(Bus(), db=db, capture="bench") as master:
            master.write(0x10, 0xAB, 1)
            master.flush()
            with db.snapshot() as view:
                assert view.value(0x10, 1) == 0xAB
        assert db.capture("bench").events == 1, "the database is usable again after the recorder closes"


def test_recording_through_a_read_only_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.tmdb"
    record_some(path, 1).close()
    with tracemem.open(path) as db:
        with pytest.raises(tracemem.errors.ReadOnlyError):
            RecordingMaster(Bus(), db=db)


def test_replay_from_a_capture_serves_what_was_recorded(tmp_path: Path) -> None:
    path = tmp_path / "t.tmdb"
    with RecordingMaster(Bus(failing={0x99}), file=path, clock=FakeClock()) as master:
        master.write(0x10, 7, 4)
        with pytest.raises(RuntimeError):
            master.read(0x99, 4)
        master.read(0x10, 4)
        recorded = list(master.events)
    replay = ReplayMaster.from_file(path)
    assert replay.events == recorded, "failed transactions are not replayed"
    replay.write(0x10, 7, 4)
    assert replay.read(0x10, 4) == 7


def test_replay_from_a_database_with_several_captures_needs_a_name(tmp_path: Path) -> None:
    path = tmp_path / "t.tmdb"
    record_some(path, 2).close()
    record_some(path, 3, capture="other").close()
    with pytest.raises(ValueError, match="several captures"):
        ReplayMaster.from_file(path)
    assert len(ReplayMaster.from_file(path, capture="other").events) == 3


def test_the_journal_is_gone_after_close(tmp_path: Path) -> None:
    path = tmp_path / "t.tmdb"
    master = record_some(path, 2)
    assert os.path.exists(str(path) + ".journal")
    master.close()
    assert not os.path.exists(str(path) + ".journal")


def test_a_foreign_tmdb_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.tmdb"
    path.write_text("not a database\n" * 300)
    before = path.read_bytes()
    with pytest.raises(tracemem.errors.FormatError, match="notes.tmdb"):
        RecordingMaster(Bus(), file=path)
    with pytest.raises(tracemem.errors.FormatError, match="notes.tmdb"):
        ReplayMaster.from_file(path)
    assert path.read_bytes() == before, "nothing already stored is lost"


def test_a_damaged_tmdb_is_a_corrupt_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.tmdb"
    record_some(path, 2000).close()
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[: len(data) // 3]))
    with pytest.raises(tracemem.errors.Error, match="t.tmdb") as raised:
        ReplayMaster.from_file(path)
    assert isinstance(raised.value, (tracemem.errors.CorruptError, tracemem.errors.FormatError))


def test_a_tmdb_another_process_records_into_is_locked(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "t.tmdb"
    child = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, tracemem\n"
            "class Bus:\n"
            "    def write(self, a, v, w): pass\n"
            "m = tracemem.RecordingMaster(Bus(), file=sys.argv[1])\n"
            "m.write(0, 1, 4)\n"
            "print('recording', flush=True)\n"
            "sys.stdin.readline()\n"
            "m.close()\n"
        ), str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "recording\n"
        with pytest.raises(tracemem.errors.LockedError, match="t.tmdb"):
            RecordingMaster(Bus(), file=path, capture="second")
        with tracemem.open(path) as db:
            assert db.capture("t").events >= 0, "a reader is never blocked by the recorder"
    finally:
        assert child.stdin is not None
        child.stdin.write("\n")
        child.stdin.close()
        child.wait(timeout=30)
    with tracemem.open(path) as db:
        assert db.capture("t").events == 1


def test_an_older_format_is_refused_naming_tracemem_upgrade(tmp_path: Path) -> None:
    from conftest import REPO

    path = tmp_path / "old.tmdb"
    path.write_bytes((REPO / "tests" / "data" / "format1.tmdb").read_bytes())
    before = path.read_bytes()
    for opening in (
        lambda: tracemem.open(path),
        lambda: tracemem.open(path, readonly=False),
        lambda: RecordingMaster(Bus(), file=path),
    ):
        with pytest.raises(tracemem.errors.FormatError, match="tracemem upgrade"):
            opening()
    assert path.read_bytes() == before, "never converted behind the user's back"


def test_several_buses_record_into_one_database_at_once(tmp_path: Path) -> None:
    """Recorders on threads of one process, each its own capture and space,
    share the database; their events take snaps from one timeline."""
    import threading

    path = tmp_path / "buses.tmdb"
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def record(bus: int) -> None:
        try:
            with RecordingMaster(Bus(), file=path, capture=f"bus{bus}", space=f"bus{bus}") as master:
                start.wait()
                for i in range(300):
                    master.write(0x10 + 4 * (i % 3), (bus << 16) | i, 4)
                    if i == 150:
                        master.flush()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=record, args=(bus,)) for bus in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with tracemem.open(path) as db:
        snaps: set[int] = set()
        for bus in range(2):
            events = list(db.events(f"bus{bus}"))
            assert [e["value"] for e in events] == [(bus << 16) | i for i in range(300)]
            bus_snaps = [e["snap"] for e in events]
            assert bus_snaps == sorted(bus_snaps) and not snaps & set(bus_snaps)
            snaps |= set(bus_snaps)
            # Each bus's memory as of its last event.
            assert db.value(0x10 + 4 * (299 % 3), 4, space=f"bus{bus}") == (bus << 16) | 299
        assert sorted(db.spaces()) == ["bus0", "bus1"]


def test_an_open_database_lends_itself_to_several_recorders(tmp_path: Path) -> None:
    path = tmp_path / "t.tmdb"
    with tracemem.open(path, create=True) as db:
        first = RecordingMaster(Bus(), db=db, capture="bus0", space="bus0")
        second = RecordingMaster(Bus(), db=db, capture="bus1", space="bus1")
        first.write(0x10, 1, 4)
        second.write(0x10, 2, 4)
        first.close()
        second.write(0x10, 3, 4)
        second.flush()
        assert db.value(0x10, 4, space="bus1") == 3, "read through the recorder still recording"
        second.close()
        assert [c.events for c in db.captures()] == [1, 2], "the database is usable again after both close"
    with pytest.raises(ValueError, match="space="):
        RecordingMaster(Bus(), file=tmp_path / "plain.ndjson", space="bus0")


def test_a_bounded_recording_keeps_its_newest_events(tmp_path: Path) -> None:
    path = tmp_path / "bounded.tmdb"
    with RecordingMaster(Bus(), file=path, clock=FakeClock(), keep_events=5000) as master:
        for i in range(30000):
            master.write(0x10 + 4 * (i % 4), i, 4)
        master.flush()
        events = master.events
        assert len(events) == 30000, "indexes stay absolute"
        kept = list(events)
        assert 5000 <= len(kept) < 30000
        assert kept[-1]["value"] == 29999 and kept[0]["value"] == 30000 - len(kept)
        assert events[-1]["value"] == 29999
        with pytest.raises(tracemem.errors.InvalidArgumentError, match="dropped by retention"):
            events[0]
    with tracemem.open(path) as db:
        assert db.value(0x10 + 4 * (29999 % 4), 4) == 29999
    with pytest.raises(ValueError, match="keep-events"):
        RecordingMaster(Bus(), file=tmp_path / "t.tmdb", keep_events=10)
    with pytest.raises(ValueError, match="max_size="):
        RecordingMaster(Bus(), file=tmp_path / "plain.ndjson", max_size=64 << 20)


def test_a_snapshot_held_open_takes_the_file_past_max_size_and_is_reported(tmp_path: Path) -> None:
    """Retention keeps a bounded file under max_size; a snapshot held open
    keeps redb from reusing what it frees, the file grows past the bound, and
    the recorder says so (past_bound, and a RuntimeWarning once)."""
    bound = 8 << 20
    sizes = {}
    for pinned in (False, True):
        path = tmp_path / f"pinned-{pinned}.tmdb"
        with tracemem.open(path, readonly=False, create=True) as db:
            master = RecordingMaster(Bus(), db=db, flush=10000, clock=FakeClock(), max_size=bound)
            master.write(0x10, 0, 4)
            master.flush()
            snapshot = db.snapshot() if pinned else None
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for i in range(400000):
                    master.write(0x1000 + 4 * (i * 7919 % 4096), i * 2654435761 % (1 << 32), 4)
                master.flush()
                master.flush()
            sizes[pinned] = master.past_bound
            messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
            if pinned:
                assert sizes[pinned] is not None and sizes[pinned] > bound, sizes
                assert len(messages) == 1 and "past max_size" in messages[0], messages
                assert snapshot is not None
                snapshot.close()
            else:
                assert sizes[pinned] is None and messages == [], (sizes, messages)
            master.close()
