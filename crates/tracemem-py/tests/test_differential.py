"""Differential tests: tracemem's masters against PeakRDL-pybind11's (the seed).

``tracemem.RecordingMaster``/``ReplayMaster``/``ReplayMismatchError`` claim to
be drop-in replacements for ``peakrdl_pybind11.masters``' classes: switching
the import must change nothing a test observes. Every test here drives the
seed and tracemem with the same (random, seeded) requests over identical inner
masters and requires the same return values, the same exceptions (type and
``str()``; ``expected``/``actual`` for mismatches), the same ``events`` and the
same bytes in every file, at every step.

Timestamps are made deterministic: the seed's module-level ``time`` is
monkeypatched with a fake whose ``monotonic()`` follows a counter, and
tracemem gets an identical fresh clock through ``clock=``. Both clocks must
also be read the same number of times (once at construction, once per
recorded op, never for a failed op).

The ``.tmdb`` database mode is tracemem's own extension and is not compared.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, Callable

import peakrdl_pybind11.masters as seed
import pytest
from peakrdl_pybind11.masters import AccessOp, MasterBase
from peakrdl_pybind11.masters import recording_replay as seed_module

import tracemem

SEEDS = [0, 1, 2, 7, 1234]
FAILING = {0xBAD0, 0xDEAD_0000}
ADDRESSES = [0x0, 0x4, 0x10, 0x1000, 0xFFFF_FFF8, *sorted(FAILING)]
FLUSH_POLICIES = ["event", "never", 1, 3, 100]


# -- helpers -----------------------------------------------------------------

_IRREGULAR = [0.1]
for _step in random.Random(99).choices([1e-9, 3e-7, 0.1, 1 / 3, 12.5], k=5000):
    _IRREGULAR.append(_IRREGULAR[-1] + _step)

CLOCKS: dict[str, Callable[[int], float]] = {
    "quarters": lambda k: 100.0 + 0.25 * k,
    "micro": lambda k: 1e-6 * k + 0.1,
    "irregular": lambda k: _IRREGULAR[k],
}


class Clock:
    """The k-th reading is ``fn(k)``; counts its readings."""

    def __init__(self, fn: Callable[[int], float]) -> None:
        self.fn = fn
        self.readings = 0

    def __call__(self) -> float:
        value = self.fn(self.readings)
        self.readings += 1
        return value

    def monotonic(self) -> float:  # the seed's ``time.monotonic()``
        return self()


class Bus(MasterBase):
    """A register file raising ``RuntimeError("bus timeout at 0x..")`` at the
    ``FAILING`` addresses. ``raw`` keeps values unmasked (a read returns what
    was written, however wide); ``many_delta`` makes ``read_many`` return
    that many values too many (or too few)."""

    def __init__(self, raw: bool = False) -> None:
        self.memory: dict[int, int] = {}
        self.raw = raw
        self.many_delta = 0
        self.calls: list[tuple[str, int]] = []

    def _check(self, kind: str, address: int) -> None:
        self.calls.append((kind, address))
        if address in FAILING:
            raise RuntimeError(f"bus timeout at {address:#x}")

    def read(self, address: int, width: int) -> int:
        self._check("read", address)
        value = self.memory.get(address, 0)
        return value if self.raw else value & ((1 << (8 * width)) - 1)

    def write(self, address: int, value: int, width: int) -> None:
        self._check("write", address)
        self.memory[address] = value if self.raw else value & ((1 << (8 * width)) - 1)

    def read_many(self, ops: Any) -> list[int]:
        values = [self.read(op.address, op.width) for op in ops]
        if self.many_delta < 0:
            return values[: len(values) + self.many_delta]
        return values + [0xAB] * self.many_delta

    def write_many(self, ops: Any) -> None:
        for op in ops:
            self.write(op.address, op.value, op.width)


def outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    """What a test observes of a call: its value (and type) or its exception
    (type, text, and for a mismatch ``expected``/``actual``)."""
    try:
        value = call()
    except seed.ReplayMismatchError as error:  # catches tracemem's too
        return ("mismatch", str(error), error.expected, error.actual, type(error).__name__)
    except Exception as error:
        return ("raised", type(error), str(error), error.args)
    return ("ok", value, type(value))


def random_value(rng: random.Random, width: int) -> int:
    return rng.choice(
        [
            rng.randrange(1 << (8 * width)),
            (1 << (8 * width)) - 1,
            0,
            rng.randrange(1 << (8 * width), 1 << 80),  # wider than the width
        ]
    )


def random_request(rng: random.Random) -> tuple[Any, ...]:
    kind = rng.choices(["read", "write", "read_many", "write_many"], weights=[5, 5, 2, 2])[0]
    if kind in ("read", "write"):
        width = rng.randint(1, 8)
        return (kind, rng.choice(ADDRESSES), random_value(rng, width), width)
    ops = []
    for _ in range(rng.randint(0, 4)):
        width = rng.randint(1, 8)
        ops.append(AccessOp(address=rng.choice(ADDRESSES), value=random_value(rng, width), width=width))
    delta = rng.choice([0, 0, 0, -1, 1, 2]) if kind == "read_many" else 0
    return (kind, ops, delta)


def perform(master: Any, bus: Bus, request: tuple[Any, ...]) -> tuple[Any, ...]:
    kind = request[0]
    if kind == "read":
        return outcome(lambda: master.read(request[1], request[3]))
    if kind == "write":
        return outcome(lambda: master.write(request[1], request[2], request[3]))
    bus.many_delta = request[2]
    return outcome(lambda: getattr(master, kind)(request[1]))  # the caller's own ops


@pytest.fixture
def recorders(monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[Any, Any, Clock, Clock]]:
    """``make(clock_name, raw=False, **kwargs)`` -> (seed, tracemem, seed
    clock, tracemem clock), each recorder over its own fresh ``Bus``."""

    def make(clock_name: str = "quarters", raw: bool = False, **kwargs: Any) -> tuple[Any, Any, Clock, Clock]:
        seed_clock, tm_clock = Clock(CLOCKS[clock_name]), Clock(CLOCKS[clock_name])
        monkeypatch.setattr(seed_module, "time", seed_clock)
        seed_kwargs = {k: (v[0] if isinstance(v, tuple) else v) for k, v in kwargs.items()}
        tm_kwargs = {k: (v[1] if isinstance(v, tuple) else v) for k, v in kwargs.items()}
        s = seed.RecordingMaster(Bus(raw), **seed_kwargs)
        t = tracemem.RecordingMaster(Bus(raw), clock=tm_clock, **tm_kwargs)
        return s, t, seed_clock, tm_clock

    return make


def paths(tmp_path: Path, name: str) -> tuple[Path, Path]:
    (tmp_path / "seed").mkdir(exist_ok=True)
    (tmp_path / "tm").mkdir(exist_ok=True)
    return tmp_path / "seed" / name, tmp_path / "tm" / name


# -- identity ----------------------------------------------------------------


def test_masters_are_peakrdl_masters_and_errors_are_caught_by_its_except() -> None:
    assert isinstance(tracemem.RecordingMaster(Bus(), clock=Clock(CLOCKS["quarters"])), MasterBase)
    replay = tracemem.ReplayMaster([])
    assert isinstance(replay, MasterBase)
    with pytest.raises(seed.ReplayMismatchError) as caught:
        replay.read(0x10, 4)
    assert type(caught.value) is tracemem.ReplayMismatchError
    try:
        tracemem.ReplayMaster([{"op": "write", "address": 0, "value": 1, "width": 4}]).read(0, 4)
    except seed.ReplayMismatchError as error:  # the seed's except clause
        assert error.actual == {"op": "read", "address": 0, "width": 4}
    else:
        pytest.fail("no ReplayMismatchError")
    assert str(caught.value) == (
        "replay log exhausted: requested read @ 0x10 width=4 but the recording has no more events"
    )


# -- recording ---------------------------------------------------------------


@pytest.mark.parametrize("clock_name", sorted(CLOCKS))
@pytest.mark.parametrize("raw", [False, True], ids=["masked", "raw"])
@pytest.mark.parametrize("rng_seed", SEEDS)
def test_random_requests_give_same_values_exceptions_events_and_clock_readings(
    recorders: Any, rng_seed: int, raw: bool, clock_name: str
) -> None:
    s, t, seed_clock, tm_clock = recorders(clock_name, raw=raw)
    rng = random.Random(rng_seed)
    kinds = set()
    for _ in range(300):
        request = random_request(rng)
        got_seed, got_tm = perform(s, s.inner, request), perform(t, t.inner, request)
        assert got_tm == got_seed, request
        kinds.add((request[0], got_seed[0]))
        assert t.events == s.events
        assert tm_clock.readings == seed_clock.readings
        assert t.inner.memory == s.inner.memory and t.inner.calls == s.inner.calls
    # The sequence really exercised failing and succeeding ops of each kind.
    assert {(k, r) for k in ("read", "write", "read_many", "write_many") for r in ("ok", "raised")} <= kinds
    assert len(s.events) > 100


@pytest.mark.parametrize("flush", FLUSH_POLICIES)
@pytest.mark.parametrize("name", ["trace.ndjson", "trace.jsonl", "trace.json", "run.log"])
@pytest.mark.parametrize("rng_seed", SEEDS[:3])
def test_streamed_file_has_same_bytes_after_every_op_and_after_close(
    recorders: Any, tmp_path: Path, rng_seed: int, name: str, flush: Any
) -> None:
    seed_path, tm_path = paths(tmp_path, name)
    s, t, _, _ = recorders("irregular", file=(seed_path, tm_path), flush=flush)
    rng = random.Random(rng_seed)
    sizes = set()
    for _ in range(400):  # enough events to pass the text buffer under "never"
        request = random_request(rng)
        assert perform(t, t.inner, request) == perform(s, s.inner, request)
        assert tm_path.read_bytes() == seed_path.read_bytes()
        sizes.add(len(seed_path.read_bytes()))
    assert len(sizes) > 3  # the file grew while the recorders were open
    s.close()
    t.close()
    assert tm_path.read_bytes() == seed_path.read_bytes()
    assert len(seed_path.read_text().splitlines()) == len(s.events) == len(t.events)


@pytest.mark.parametrize("name", ["old.ndjson", "old.json", "old.log"])
def test_file_appends_to_existing_content_like_the_seed(recorders: Any, tmp_path: Path, name: str) -> None:
    seed_path, tm_path = paths(tmp_path, name)
    previous = '{"op": "read", "address": 1, "value": 2, "width": 1, "timestamp": 0.5}\nnot json, kept\n'
    seed_path.write_text(previous)
    tm_path.write_text(previous)
    s, t, _, _ = recorders("micro", file=(str(seed_path), str(tm_path)))
    for master in (s, t):
        master.write(0x10, 0x1_2345_6789, 4)
        master.read(0x10, 2)
        with pytest.raises(RuntimeError, match="bus timeout at 0xbad0"):
            master.read(0xBAD0, 4)
        master.close()
    assert tm_path.read_bytes() == seed_path.read_bytes()
    assert seed_path.read_text().startswith(previous)


@pytest.mark.parametrize("name", ["out.ndjson", "out.jsonl", "out.json", "out.txt", "OUT.NDJSON"])
@pytest.mark.parametrize("count", [0, 1, 40])
def test_save_writes_same_bytes(recorders: Any, tmp_path: Path, name: str, count: int) -> None:
    s, t, _, _ = recorders("irregular", raw=True)
    rng = random.Random(count)
    for _ in range(count):
        request = random_request(rng)
        perform(s, s.inner, request), perform(t, t.inner, request)
    seed_path, tm_path = paths(tmp_path, name)
    tm_path.write_text("stale content that save() must replace\n" * 10)
    s.save(seed_path)
    t.save(tm_path)
    assert tm_path.read_bytes() == seed_path.read_bytes()


@pytest.mark.parametrize("flush", [True, False, 0, -5, "evnt", "10", 1.5, None, "Event"])
def test_invalid_flush_raises_same_value_error_and_creates_no_file(
    recorders: Any, tmp_path: Path, flush: Any
) -> None:
    seed_path, tm_path = paths(tmp_path, "never-made.ndjson")
    with pytest.raises(ValueError) as seed_error:
        recorders(file=seed_path, flush=flush)  # raises at the seed
    with pytest.raises(ValueError) as tm_error:
        tracemem.RecordingMaster(Bus(), tm_path, flush, clock=Clock(CLOCKS["quarters"]))
    assert str(tm_error.value) == str(seed_error.value)
    assert not seed_path.exists() and not tm_path.exists()


def test_close_twice_with_block_and_recording_after_close(recorders: Any, tmp_path: Path) -> None:
    seed_path, tm_path = paths(tmp_path, "with.ndjson")
    s, t, seed_clock, tm_clock = recorders("quarters", file=(seed_path, tm_path), flush="never")
    for master in (s, t):
        with pytest.raises(RuntimeError, match="bus timeout"):
            with master as entered:
                assert entered is master
                master.write(0x4, 0xFF, 1)
                master.write(0xDEAD_0000, 1, 4)  # raises out of the with block
        master.close()
        master.close()
        assert master.read(0x4, 1) == 0xFF  # recorded in memory, not on disk
    assert tm_path.read_bytes() == seed_path.read_bytes()
    assert len(seed_path.read_text().splitlines()) == 1
    assert t.events == s.events and len(s.events) == 2
    assert tm_clock.readings == seed_clock.readings == 3


@pytest.mark.parametrize("delta", [-2, -1, 1, 3])
def test_read_many_of_wrong_length_records_the_prefix_and_raises_zip_error(
    recorders: Any, tmp_path: Path, delta: int
) -> None:
    seed_path, tm_path = paths(tmp_path, "short.ndjson")
    s, t, _, _ = recorders("micro", file=(seed_path, tm_path))
    ops = [AccessOp(address=0x10 + 4 * i, width=1 + i) for i in range(4)]
    for master in (s, t):
        master.write_many([AccessOp(address=op.address, value=0x1122334455667788, width=op.width) for op in ops])
        master.inner.many_delta = delta
    got_seed, got_tm = outcome(lambda: s.read_many(ops)), outcome(lambda: t.read_many(ops))
    assert got_seed[0] == "raised" and got_seed[1] is ValueError and "zip()" in got_seed[2]
    assert got_tm == got_seed
    assert t.events == s.events and len(s.events) == 4 + min(4, 4 + delta)
    assert tm_path.read_bytes() == seed_path.read_bytes()


def test_read_many_with_iterators_behaves_like_the_seed(recorders: Any) -> None:
    s, t, _, _ = recorders()
    results = []
    for master in (s, t):
        master.write(0x10, 5, 4)
        ops = (AccessOp(address=a, width=4) for a in (0x10, 0x14))  # a generator: consumed by the bus
        results.append(outcome(lambda: master.read_many(ops)))
        results.append(outcome(lambda: master.write_many(iter([AccessOp(0x20, 7, 2)]))))
        results.append(outcome(lambda: master.read_many(tuple([AccessOp(0x20, 0, 2)]))))
    assert results[3:] == results[:3]
    assert t.events == s.events


# -- replay ------------------------------------------------------------------


def random_trace(rng: random.Random, count: int, widthless: float = 0.0) -> list[dict[str, Any]]:
    events = []
    for i in range(count):
        width = rng.randint(1, 8)
        event = {
            "op": rng.choice(["read", "write"]),
            "address": rng.choice(ADDRESSES[:5]),
            "value": random_value(rng, width),
            "width": width,
            "timestamp": i * 0.125,
        }
        if rng.random() < widthless:
            del event["width"]
        events.append(event)
    return events


def replay_request(rng: random.Random, events: list[dict[str, Any]], at: int) -> tuple[Any, ...]:
    """Mostly the recorded event at ``at``; else one differing in op, address,
    width or value (never in width alone against a width-less event: the
    seed cannot describe any mismatch against one: see the dedicated test)."""
    if at < len(events) and (rng.random() < 0.75 or "width" not in events[at]):
        event = events[at]
        return (event["op"], event["address"], event["value"], event.get("width", rng.randint(1, 8)))
    event = events[min(at, len(events) - 1)] if events else {"op": "read", "address": 0, "value": 0}
    op, address, value, width = event["op"], event["address"], event["value"], event.get("width", 4)
    change = rng.choice(["op", "address", "width", "value", "random"])
    if change == "op" or change == "random":
        op = "write" if op == "read" else "read"
    if change == "address" or change == "random":
        address = rng.choice(ADDRESSES)
    if change == "width":
        width = width % 8 + 1
    if change == "value" or op == "read":
        value = random_value(rng, width)
    return (op, address, value, width)


def replay_outcome(master: Any, request: tuple[Any, ...]) -> tuple[Any, ...]:
    op, address, value, width = request
    if op == "read":
        return outcome(lambda: master.read(address, width))
    return outcome(lambda: master.write(address, value, width))


@pytest.mark.parametrize("widthless", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("rng_seed", SEEDS)
def test_strict_replay_matches_values_mismatches_and_cursor(rng_seed: int, widthless: float) -> None:
    rng = random.Random(rng_seed)
    events = random_trace(rng, 60, widthless)
    s, t = seed.ReplayMaster(events), tracemem.ReplayMaster(events)
    at, seen = 0, set()
    for _ in range(200):
        request = replay_request(rng, events, at)
        got_seed = replay_outcome(s, request)
        assert replay_outcome(t, request) == got_seed, request
        if got_seed[0] == "mismatch":
            assert got_seed[4] == "ReplayMismatchError"
        else:
            at += 1  # the cursor moved: later requests check where to
        seen.add(got_seed[0] if got_seed[0] != "mismatch" else got_seed[1].split(":")[0])
    assert {"ok", "replay log exhausted"} <= seen
    assert ("replay mismatch" in seen) == (widthless < 1.0)
    # Batched requests go through MasterBase's loops in both.
    tail = [AccessOp(address=0x10, width=4)] * 2
    assert outcome(lambda: t.read_many(tail)) == outcome(lambda: s.read_many(tail))
    assert outcome(lambda: t.write_many(tail)) == outcome(lambda: s.write_many(tail))


@pytest.mark.parametrize("widthless", [0.0, 1.0])
@pytest.mark.parametrize("rng_seed", SEEDS)
def test_loose_replay_matches_values_and_cursor(rng_seed: int, widthless: float) -> None:
    rng = random.Random(rng_seed)
    events = random_trace(rng, 300, widthless)
    writes = [(e["address"], e["value"]) for e in events if e["op"] == "write"]
    s, t = seed.ReplayMaster(events, strict=False), tracemem.ReplayMaster(events, strict=False)
    served = []
    for _ in range(300):
        width = rng.randint(1, 8)
        if rng.random() < 0.7:
            request = ("read", rng.choice(ADDRESSES), 0, width)
        elif writes and rng.random() < 0.3:
            request = ("write", *rng.choice(writes), width)  # moves the cursor past it
        else:
            request = ("write", rng.choice(ADDRESSES), random_value(rng, width), width)
        got = replay_outcome(s, request)
        assert replay_outcome(t, request) == got, request
        if request[0] == "read":
            served.append(got[1])
    assert sum(1 for v in served if v) >= 5 and 0 in served  # recorded values, and 0 past them
    assert s.events == t.events == events


def test_strict_replay_rejects_wrong_write_value_and_keeps_cursor() -> None:
    events = [{"op": "write", "address": 0x10, "value": 0xCAFE, "width": 4, "timestamp": 0.0}]
    s, t = seed.ReplayMaster(events), tracemem.ReplayMaster(events)
    for master in (s, t):
        with pytest.raises(seed.ReplayMismatchError) as caught:
            master.write(0x10, 0xDEAD, 4)
        assert caught.value.actual == {"op": "write", "address": 0x10, "width": 4, "value": 0xDEAD}
        assert caught.value.expected == events[0]
        master.write(0x10, 0xCAFE, 4)
        with pytest.raises(seed.ReplayMismatchError, match="exhausted: requested write @ 0x10 width=4"):
            master.write(0x10, 0xCAFE, 4)


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize(
    "name,writer",
    [
        ("trace.ndjson", "save"),
        ("trace.jsonl", "save"),
        ("trace.json", "save"),
        ("run.log", "file"),
        ("trace.json", "file"),  # NDJSON in a .json file: the fallback
        ("array.txt", "save"),
    ],
)
def test_from_file_loads_the_same_events_and_replays_alike(
    recorders: Any, tmp_path: Path, name: str, writer: str, strict: bool
) -> None:
    path = tmp_path / name
    s, _, _, _ = recorders("irregular", file=(path if writer == "file" else None, None))
    rng = random.Random(len(name))
    for _ in range(50):
        perform(s, s.inner, random_request(rng))
    s.close()
    if writer == "save":
        s.save(path)
    path.write_text("\n\n  " + path.read_text() + "\n\n")  # blank lines, leading space
    got_seed = seed.ReplayMaster.from_file(path, strict)
    got_tm = tracemem.ReplayMaster.from_file(path, strict)
    assert got_tm.events == got_seed.events == s.events
    for event in s.events:
        request = (event["op"], event["address"], event["value"], event["width"])
        expected = ("ok", event["value"], int) if event["op"] == "read" else ("ok", None, type(None))
        assert replay_outcome(got_tm, request) == replay_outcome(got_seed, request) == expected
    extra = ("read", 0x10, 0, 4)
    assert replay_outcome(got_tm, extra) == replay_outcome(got_seed, extra)


def test_from_file_errors_are_the_seeds(tmp_path: Path) -> None:
    cases = {"missing.ndjson": None, "bad.jsonl": '{"op": "read"\n', "bad.json": "[1, 2", "empty.json": ""}
    for name, text in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        got = outcome(lambda: seed.ReplayMaster.from_file(path).events)
        assert outcome(lambda: tracemem.ReplayMaster.from_file(path).events) == got, name


def test_strict_mismatch_against_widthless_event_reports_width_none() -> None:
    events = [{"op": "read", "address": 0x10, "value": 3}]
    # The seed's own message construction fails on the missing key ...
    with pytest.raises(KeyError, match="width"):
        seed.ReplayMaster(events).write(0x10, 3, 4)
    # ... tracemem, per the project's contract, describes it.
    t = tracemem.ReplayMaster(events)
    with pytest.raises(seed.ReplayMismatchError) as caught:
        t.write(0x10, 3, 4)
    assert "width=None" in str(caught.value)
    assert str(caught.value) == "replay mismatch: expected read @ 0x10 width=None, got write @ 0x10 width=4"
    assert caught.value.expected == events[0]
    assert t.read(0x10, 8) == 3  # the cursor did not move; any width matches


# -- once divergences: loose replay's index and the default clock --------------


def test_loose_replay_sees_events_added_after_first_request() -> None:
    results = []
    for cls in (seed.ReplayMaster, tracemem.ReplayMaster):
        replay = cls([], strict=False)
        first = replay.read(0x10, 4)
        replay.events.append({"op": "read", "address": 0x10, "value": 7, "width": 4})
        results.append((first, replay.read(0x10, 4)))
    assert results[1] == results[0] == (0, 7)


@pytest.mark.parametrize("odd", [{"comment": "phase 2"}, {"op": "write", "address": 8, "value": None}])
def test_loose_replay_ignores_records_it_never_scans(odd: dict[str, Any]) -> None:
    events = [{"op": "read", "address": 4, "value": 9, "width": 4}, odd]
    got = [outcome(lambda: cls(events, strict=False).read(4, 4)) for cls in (seed.ReplayMaster, tracemem.ReplayMaster)]
    assert got[1] == got[0] == ("ok", 9, int)


def test_default_clock_follows_time_monotonic_patched_after_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    s, t = seed.RecordingMaster(Bus()), tracemem.RecordingMaster(Bus())
    start = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: start + 1000.0)
    s.read(0, 4)
    t.read(0, 4)
    assert s.events[0]["timestamp"] > 999.0
    assert t.events[0]["timestamp"] > 999.0


@pytest.mark.parametrize("odd", [{"comment": "phase 2"}, {"op": "write", "address": 8, "value": None}])
def test_loose_replay_passing_an_odd_record_fails_as_the_seed_does(odd: dict[str, Any]) -> None:
    events = [odd, {"op": "read", "address": 8, "value": 9, "width": 4}, {"op": "write", "address": 8, "value": 1}]
    for request in (lambda r: r.read(8, 4), lambda r: r.write(8, 1, 4), lambda r: r.write(8, None, 4)):
        got = [outcome(lambda: request(cls(events, strict=False))) for cls in (seed.ReplayMaster, tracemem.ReplayMaster)]
        assert got[1] == got[0]
