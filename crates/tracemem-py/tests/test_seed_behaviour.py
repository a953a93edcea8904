"""The seed recorder's documented behaviours (PeakRDL-pybind11 0.8.8 and the
contract's R1-R8), one named test each, against tracemem's classes: in the
seed's own modes (no file, an NDJSON file) and, where the behaviour carries
over, recording into a database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Bus, FakeClock

import tracemem
from tracemem import AccessOp, RecordingMaster, ReplayMaster, ReplayMismatchError

BAD_FLUSH = [True, False, 0, -5, "evnt", "10", 1.5, None]


@pytest.mark.parametrize("flush", BAD_FLUSH)
def test_invalid_flush_is_refused_with_the_seeds_message(flush: object, tmp_path: Path) -> None:
    with pytest.raises(ValueError) as raised:
        RecordingMaster(Bus(), file=tmp_path / "t.tmdb", flush=flush)  # type: ignore[arg-type]
    assert str(raised.value) == f"flush must be 'event', 'never', or a positive int; got {flush!r}"
    assert not (tmp_path / "t.tmdb").exists(), "nothing is created before the flush policy is checked"


def test_flush_is_checked_before_the_clock_is_read() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError):
        RecordingMaster(Bus(), flush="evnt", clock=clock)
    assert clock.readings == 0


@pytest.mark.parametrize("flush", ["event", "never", 1, 7, 10**12])
def test_any_positive_int_flush_is_accepted(flush: object) -> None:
    RecordingMaster(Bus(), flush=flush).close()  # type: ignore[arg-type]


def test_a_non_callable_clock_is_refused() -> None:
    with pytest.raises(TypeError, match="clock must be a callable"):
        RecordingMaster(Bus(), clock=3.0)  # type: ignore[arg-type]


def test_event_keys_and_timestamps_follow_the_seed(clock: FakeClock) -> None:
    master = RecordingMaster(Bus(), clock=clock)
    master.write(0x10, 0xAB, 1)
    master.read(0x10, 1)
    assert [list(e) for e in master.events] == [["op", "address", "value", "width", "timestamp"]] * 2
    assert master.events == [
        {"op": "write", "address": 0x10, "value": 0xAB, "width": 1, "timestamp": 0.25},
        {"op": "read", "address": 0x10, "value": 0xAB, "width": 1, "timestamp": 0.5},
    ]
    assert clock.readings == 3, "once at construction, once per recorded op"


class ValueObject(int):
    """An int subclass, as generated register accessors return."""


def test_read_returns_the_inner_masters_value_object_unchanged() -> None:
    class Inner(Bus):
        def read(self, address: int, width: int) -> int:
            return ValueObject(7)

    value = RecordingMaster(Inner()).read(0, 4)
    assert type(value) is ValueObject and value == 7


@pytest.mark.parametrize("mode", ["memory", "ndjson", "tmdb"])
def test_a_failing_inner_op_propagates_and_is_not_in_events(mode: str, tmp_path: Path, clock: FakeClock) -> None:
    file = {"memory": None, "ndjson": tmp_path / "t.ndjson", "tmdb": tmp_path / "t.tmdb"}[mode]
    bus = Bus(failing={0x20})
    with RecordingMaster(bus, file=file, clock=clock) as master:
        master.write(0x10, 1, 4)
        with pytest.raises(RuntimeError, match="bus timeout at 0x20"):
            master.read(0x20, 4)
        with pytest.raises(RuntimeError, match="bus timeout at 0x20"):
            master.write(0x20, 5, 4)
        master.read(0x10, 4)
        assert [(e["op"], e["address"]) for e in master.events] == [("write", 0x10), ("read", 0x10)]
    assert clock.readings == 3 if mode != "tmdb" else clock.readings >= 3


def test_batched_calls_reach_the_inner_batched_path_with_the_callers_ops() -> None:
    seen = []

    class Inner(Bus):
        def read_many(self, ops):  # type: ignore[no-untyped-def]
            seen.append(ops)
            return super().read_many(ops)

        def write_many(self, ops):  # type: ignore[no-untyped-def]
            seen.append(ops)
            super().write_many(ops)

    master = RecordingMaster(Inner())
    writes = [AccessOp(0x0, 1, 4), AccessOp(0x4, 2, 2)]
    reads = (AccessOp(0x0, 0, 4), AccessOp(0x4, 0, 2))
    master.write_many(writes)
    assert master.read_many(reads) == [1, 2]
    assert seen[0] is writes and seen[1] is reads
    assert [(e["op"], e["address"], e["value"]) for e in master.events] == [
        ("write", 0, 1), ("write", 4, 2), ("read", 0, 1), ("read", 4, 2),
    ]


def test_file_appends_and_flushes_per_event(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "run.ndjson"
    path.write_text('{"earlier": 1}\n')
    master = RecordingMaster(Bus(), file=path, clock=clock)
    master.write(0x4, 9, 4)
    lines = path.read_text().splitlines()
    assert lines[0] == '{"earlier": 1}'
    assert lines[1] == '{"op": "write", "address": 4, "value": 9, "width": 4, "timestamp": 0.25}'
    master.close()
    master.close()


def test_flush_never_writes_only_at_close(tmp_path: Path) -> None:
    path = tmp_path / "run.ndjson"
    master = RecordingMaster(Bus(), file=path, flush="never")
    master.write(0, 1, 4)
    assert path.read_text() == ""
    master.close()
    assert len(path.read_text().splitlines()) == 1


@pytest.mark.parametrize("name", ["t.ndjson", "t.jsonl", "t.json", "t.txt"])
@pytest.mark.parametrize("mode", ["memory", "tmdb"])
def test_save_writes_ndjson_or_an_indented_array(name: str, mode: str, tmp_path: Path) -> None:
    file = tmp_path / "rec.tmdb" if mode == "tmdb" else None
    with RecordingMaster(Bus(), file=file, clock=FakeClock()) as master:
        master.write(1, 2, 4)
        master.read(1, 4)
        master.save(tmp_path / name)
        events = list(master.events)
    text = (tmp_path / name).read_text()
    if name.endswith((".ndjson", ".jsonl")):
        assert text == "".join(json.dumps(e) + "\n" for e in events)
    else:
        assert text == json.dumps(events, indent=2)


def test_save_of_no_events_writes_an_empty_array(tmp_path: Path) -> None:
    with RecordingMaster(Bus(), file=tmp_path / "rec.tmdb") as master:
        master.save(tmp_path / "out.json")
    assert (tmp_path / "out.json").read_text() == "[]"


def test_replay_strict_serves_values_and_checks_every_request() -> None:
    events = [
        {"op": "write", "address": 0x10, "value": 5, "width": 4, "timestamp": 0.1},
        {"op": "read", "address": 0x10, "value": 5, "width": 4, "timestamp": 0.2},
    ]
    replay = ReplayMaster(events)
    replay.write(0x10, 5, 4)
    assert replay.read(0x10, 4) == 5
    with pytest.raises(ReplayMismatchError) as raised:
        replay.read(0x10, 4)
    assert str(raised.value) == (
        "replay log exhausted: requested read @ 0x10 width=4 but the recording has no more events"
    )
    assert raised.value.expected is None and raised.value.actual == {"op": "read", "address": 0x10, "width": 4}


def test_replay_mismatch_names_both_events() -> None:
    replay = ReplayMaster([{"op": "write", "address": 0x10, "value": 5, "width": 4, "timestamp": 0.1}])
    with pytest.raises(ReplayMismatchError) as raised:
        replay.write(0x10, 6, 4)
    assert str(raised.value) == "replay mismatch: expected write @ 0x10 width=4, got write @ 0x10 width=4"
    assert raised.value.actual == {"op": "write", "address": 0x10, "width": 4, "value": 6}


def test_replay_of_an_event_without_width_prints_width_none() -> None:
    replay = ReplayMaster([{"op": "write", "address": 0x10, "value": 5, "timestamp": 0.1}])
    replay.write(0x10, 5, 2), "width is not checked when the recording has none"
    replay = ReplayMaster([{"op": "write", "address": 0x10, "value": 5, "timestamp": 0.1}])
    with pytest.raises(ReplayMismatchError, match="expected write @ 0x10 width=None, got read @ 0x10 width=4"):
        replay.read(0x10, 4)


def test_replay_copies_the_events() -> None:
    events = [{"op": "read", "address": 1, "value": 2, "width": 4, "timestamp": 0.0}]
    replay = ReplayMaster(events)
    events[0]["value"] = 99
    assert replay.read(1, 4) == 2 and replay.events[0] is not events[0]


def test_loose_replay_serves_the_next_read_at_the_address_or_zero() -> None:
    events = [
        {"op": "read", "address": 0x10, "value": 1, "width": 4, "timestamp": 0.0},
        {"op": "write", "address": 0x20, "value": 7, "width": 4, "timestamp": 0.1},
        {"op": "read", "address": 0x10, "value": 2, "width": 4, "timestamp": 0.2},
        {"op": "read", "address": 0x30, "value": 3, "width": 4, "timestamp": 0.3},
    ]
    replay = ReplayMaster(events, strict=False)
    assert replay.read(0x30, 1) == 3, "width is ignored; the cursor moves past it"
    assert replay.read(0x10, 4) == 0, "nothing at 0x10 after the cursor"
    replay = ReplayMaster(events, strict=False)
    replay.write(0x20, 8, 4)  # no matching write: nothing happens
    assert replay.read(0x10, 4) == 1
    replay.write(0x20, 7, 4)
    assert replay.read(0x10, 4) == 2
    assert replay.read(0x99, 4) == 0


@pytest.mark.parametrize("name", ["t.ndjson", "t.jsonl", "t.json", "run.log"])
def test_replay_from_file_reads_every_seed_format(name: str, tmp_path: Path) -> None:
    with RecordingMaster(Bus(), clock=FakeClock()) as master:
        master.write(0x10, 3, 4)
        master.read(0x10, 4)
        master.save(tmp_path / name)
    replay = ReplayMaster.from_file(tmp_path / name, strict=True)
    assert replay.events == master.events and replay.strict is True


def test_masters_are_peakrdl_masters_when_it_is_installed() -> None:
    import peakrdl_pybind11.masters as masters

    assert isinstance(RecordingMaster(Bus()), masters.MasterBase)
    assert isinstance(ReplayMaster([]), masters.MasterBase)
    with pytest.raises(masters.ReplayMismatchError):
        ReplayMaster([]).read(0, 4)
    assert RecordingMaster(Bus()).peek(0, 4) == 0 and RecordingMaster(Bus()).barrier() is None


def test_the_package_exports_the_drop_in_names() -> None:
    for name in ("RecordingMaster", "ReplayMaster", "ReplayMismatchError"):
        assert hasattr(tracemem, name)
