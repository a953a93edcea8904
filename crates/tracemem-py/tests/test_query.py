"""The query API against the Rust library's own answers (the ``tracemem``
command line over the same file), and its errors: damaged, foreign, missing
and closed files, unknown names, bad arguments."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

import tracemem

EVENTS = 20_000


def cli(binary: str, *args: object) -> str:
    done = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def w1(tmp_path_factory: pytest.TempPathFactory, tracemem_cli: str) -> Path:
    """A W1 soak of 20,000 events, generated and imported by the CLI."""
    folder = tmp_path_factory.mktemp("w1")
    trace, db = folder / "w1.ndjson", folder / "w1.tmdb"
    cli(tracemem_cli, "gen", trace, "--events", EVENTS)
    cli(tracemem_cli, "import", db, trace, "--capture", "w1")
    return db


def test_events_match_the_library(w1: Path, tracemem_cli: str) -> None:
    expected = [json.loads(line) for line in cli(tracemem_cli, "log", w1, "--json").splitlines()]
    with tracemem.open(w1) as db:
        got = list(db.events())
        assert len(got) == EVENTS
        for mine, theirs in zip(got, expected):
            assert {k: mine[k] for k in ("op", "address", "value", "width", "snap", "error")} == {
                k: theirs[k] for k in ("op", "address", "value", "width", "snap", "error")
            }
            assert mine["timestamp"] == pytest.approx(theirs["timestamp"], rel=0, abs=0)
        assert list(db.events(start=100, stop=103)) == got[100:103]


def test_reads_match_the_library_at_many_snaps(w1: Path, tracemem_cli: str) -> None:
    rng = random.Random(7)
    with tracemem.open(w1) as db, db.snapshot() as view:
        for _ in range(25):
            snap = rng.randrange(EVENTS)
            address = 0x40000000 + rng.randrange(0, 0x400)
            out = cli(tracemem_cli, "read", w1, "bus", address, 32, "--snap", snap, "--json")
            # Nothing observed there yet: the CLI prints nothing (exit 1).
            theirs = json.loads(out) if out else {"bytes": [None] * 32}
            data = view.read("bus", address, 32, snap=snap)
            assert list(data) == [b if b is not None else 0 for b in theirs["bytes"]]
            value = view.value(address, 4, snap=snap)
            known_bytes = theirs["bytes"][:4]
            data4, mask = view.read_known("bus", address, 4, snap=snap)
            if value is not None:
                assert value == int.from_bytes(data[:4], "little") and mask == b"\x01" * 4
            else:
                assert 0 in mask
            buffer = bytearray(32)
            assert view.readinto("bus", address, buffer, snap=snap) == 32 and bytes(buffer) == data
            del known_bytes, data4


def test_history_matches_the_library(w1: Path, tracemem_cli: str) -> None:
    with tracemem.open(w1) as db:
        for address in (0x40000000, 0x40010030):
            theirs = [json.loads(x) for x in cli(tracemem_cli, "history", w1, hex(address), "--json").splitlines()]
            mine = db.history(address)
            assert [(e["snap"], e["op"], e["value"]) for e in mine] == [(e["snap"], e["op"], e["value"]) for e in theirs]
            before = [json.loads(x) for x in cli(tracemem_cli, "history", w1, hex(address), "--before", 5000, "--limit", 3, "--json").splitlines()]
            assert [e["snap"] for e in db.history(address, before=5000, limit=3)] == [e["snap"] for e in before]


def test_timeline_matches_the_command_line_and_counts_every_event(w1: Path, tmp_path: Path, tracemem_cli: str) -> None:
    tracked = tmp_path / "tracked.tmdb"
    cli(tracemem_cli, "import", tracked, w1.with_suffix(".ndjson"), "--capture", "w1", "--tracks")
    for db_path in (w1, tracked):
        with tracemem.open(db_path) as db:
            theirs = [json.loads(x) for x in cli(tracemem_cli, "history", db_path, "0x40000000", "--buckets", 9, "--json").splitlines()]
            mine = db.timeline(0x40000000, buckets=9)
            keys = ("from_time", "to_time", "events", "first", "last", "min", "max")
            assert [[b[k] for k in keys] for b in mine] == [[b[k] for k in keys] for b in theirs]
            assert sum(b["events"] for b in mine) == len(db.history(0x40000000))
            window = db.timeline(0x40000000, buckets=2, from_time=mine[0]["to_time"], to_time=mine[1]["to_time"])
            assert sum(b["events"] for b in window) >= mine[1]["events"]
            with pytest.raises(ValueError, match="0 buckets"):
                db.timeline(0x40000000, buckets=0)
            with pytest.raises(ValueError, match="not a finite, ordered time range"):
                db.timeline(0x40000000, from_time=2.0, to_time=1.0)


def test_diff_and_find_match_the_library(w1: Path, tracemem_cli: str) -> None:
    with tracemem.open(w1) as db:
        theirs = json.loads(cli(tracemem_cli, "diff", w1, "bus", 100, 5000, "--json"))
        assert db.diff("bus", 100, 5000) == [(d["first"], d["last"]) for d in theirs]
        found = cli(tracemem_cli, "find", w1, "bus", "00 00", "--snap", 100).split()
        assert db.find("bus", b"\x00\x00", snap=100) == (int(found[0], 16) if found else None)


def test_time_queries_use_the_last_event_at_or_before(w1: Path, tracemem_cli: str) -> None:
    with tracemem.open(w1) as db:
        events = list(db.events(stop=50))
        t = events[30]["timestamp"]
        theirs = json.loads(cli(tracemem_cli, "read", w1, "bus", 0x40000000, 16, "--time", t, "--json"))
        assert theirs["snap"] == 30 or theirs["snap"] >= 30
        assert db.read("bus", 0x40000000, 16, time=t) == db.read("bus", 0x40000000, 16, snap=theirs["snap"])
        with pytest.raises(ValueError, match="no event at or before"):
            db.read("bus", 0, 4, time=-1.0)
        with pytest.raises(TypeError, match="not both"):
            db.read("bus", 0, 4, time=1.0, snap=3)


def test_a_snapshot_keeps_its_view_while_another_process_records(tmp_path: Path, tracemem_cli: str) -> None:
    from conftest import Bus

    path = tmp_path / "t.tmdb"
    with tracemem.RecordingMaster(Bus(), file=path) as master:
        master.write(0x10, 1, 4)
    with tracemem.open(path) as db:
        view = db.snapshot()
        line = '{"op": "write", "address": 16, "value": 2, "width": 4, "timestamp": 0.5}\n'
        done = subprocess.run(
            [tracemem_cli, "record", str(path), "--capture", "more"], input=line, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert [c.name for c in view.captures()] == ["t"] and view.value(0x10, 4) == 1
        assert sorted(c.name for c in db.captures()) == ["more", "t"] and db.value(0x10, 4, space="bus") == 2
        view.close()
        with pytest.raises(tracemem.errors.ClosedError):
            view.spaces()


def test_states_cover_the_range(tmp_path: Path) -> None:
    from conftest import Bus

    path = tmp_path / "t.tmdb"
    with tracemem.RecordingMaster(Bus(failing={0x18}), file=path) as master:
        master.write(0x10, 0xFFFF, 2)
        with pytest.raises(RuntimeError):
            master.read(0x18, 4)
    with tracemem.open(path) as db:
        assert db.states("bus", 0x0, 0x20) == [
            (0x00, 0x0F, "unknown"), (0x10, 0x11, "known"), (0x12, 0x17, "unknown"),
            (0x18, 0x1B, "error"), (0x1C, 0x1F, "unknown"),
        ]
        assert db.value(0x10, 2) == 0xFFFF and db.value(0x10, 4) is None and db.value(0x18, 4) is None
        assert db.changes("bus", 0, 1) == [(0x18, 0x1B)] and db.changes("bus", -1, 0) == [(0x10, 0x11)]


def test_a_read_only_open_changes_nothing(w1: Path) -> None:
    before = w1.read_bytes()
    with tracemem.open(w1) as db:
        db.read("bus", 0x40000000, 64)
        list(db.events(stop=10))
    assert w1.read_bytes() == before


def test_a_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing.tmdb"):
        tracemem.open(tmp_path / "nothing.tmdb")


def test_a_foreign_file_is_a_format_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "notes.tmdb"
    path.write_bytes(b"just some text, not a database" * 100)
    with pytest.raises(tracemem.errors.FormatError, match="notes.tmdb"):
        tracemem.open(path)


def test_a_damaged_file_is_a_corrupt_error_never_a_panic(w1: Path, tmp_path: Path) -> None:
    data = bytearray(w1.read_bytes())
    rng = random.Random(3)
    outcomes = set()
    for trial in range(12):
        damaged = bytearray(data)
        if trial % 3 == 0:
            damaged = damaged[: len(damaged) * (trial + 1) // 14]
        else:
            for _ in range(64):
                damaged[rng.randrange(4096, len(damaged))] ^= 0xFF
        path = tmp_path / f"damaged{trial}.tmdb"
        path.write_bytes(bytes(damaged))
        try:
            with tracemem.open(path) as db:
                list(db.events())
                db.read("bus", 0x40000000, 4096)
                outcomes.add("ok" if not db.check()["problems"] else "found by check")
        except tracemem.errors.Error as error:
            outcomes.add(type(error).__name__)
        except BaseException as error:  # noqa: BLE001 - the point of the test
            pytest.fail(f"trial {trial}: {type(error).__name__} escaped: {error}")
    assert outcomes - {"ok"}, "the damage must be noticed at least once"


def test_unknown_names_are_key_errors(w1: Path) -> None:
    with tracemem.open(w1) as db:
        with pytest.raises(KeyError, match="unknown space 'nope'"):
            db.read("nope", 0, 4)
        with pytest.raises(tracemem.errors.UnknownNameError, match="unknown capture 'nope'"):
            list(db.events("nope"))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda db: db.read("bus", -1, 4), ValueError, "address: -1 is not in"),
        (lambda db: db.read("bus", 2**64 - 2, 4), ValueError, "run past the end"),
        (lambda db: db.read("bus", "0x10", 4), TypeError, "address must be an int"),
        (lambda db: db.value(0, 9), ValueError, "width: 9 is not in 1..=8"),
        (lambda db: db.find("bus", b"\x00", start=10, end=2), ValueError, "after end"),
    ],
)
def test_bad_arguments_name_the_argument(w1: Path, call: Any, error: type, message: str) -> None:
    with tracemem.open(w1) as db:
        with pytest.raises(error, match=message):
            call(db)


def test_a_closed_database_is_a_closed_error_and_a_value_error(w1: Path) -> None:
    db = tracemem.open(w1)
    db.close()
    db.close()
    with pytest.raises(ValueError, match="closed"):
        db.spaces()
    assert isinstance(tracemem.errors.ClosedError("x"), tracemem.errors.Error)


def test_export_writes_the_seeds_bytes(w1: Path, tmp_path: Path, tracemem_cli: str) -> None:
    with tracemem.open(w1) as db:
        assert db.export("w1", tmp_path / "mine.ndjson") == EVENTS
        db.export("w1", tmp_path / "mine.json", format="json")
    cli(tracemem_cli, "export", w1, "--capture", "w1", "-o", tmp_path / "theirs.ndjson")
    assert (tmp_path / "mine.ndjson").read_bytes() == (tmp_path / "theirs.ndjson").read_bytes()
    assert json.loads((tmp_path / "mine.json").read_text()) == [
        json.loads(line) for line in (tmp_path / "mine.ndjson").read_text().splitlines()
    ]


def test_pack_keeps_the_answers(tmp_path: Path, w1: Path) -> None:
    path = tmp_path / "copy.tmdb"
    path.write_bytes(w1.read_bytes())
    with tracemem.open(path, readonly=False) as db:
        before = db.read("bus", 0x40000000, 256, snap=12345)
        report = db.pack()
        assert report["bytes_after"] <= report["bytes_before"]
        assert db.read("bus", 0x40000000, 256, snap=12345) == before


def test_the_chunk_index_keeps_the_answers_until_a_write(tmp_path: Path, w1: Path) -> None:
    path = tmp_path / "indexed.tmdb"
    path.write_bytes(w1.read_bytes())
    with tracemem.open(path, readonly=False) as db:
        before = [db.read("bus", 0x40000000, 256, snap=snap) for snap in (0, 5000, 12345, 19999)]
        with db.snapshot() as snap:
            assert not snap.uses_chunk_index
        report = db.write_chunk_index()
        assert report["chunks"] >= report["granules"] > 0
        # A bus capture's registers fill no whole 64 KiB stretch.
        assert report["stretch_images"] == 0
        assert (tmp_path / "indexed.tmdb.chunk-index").stat().st_size == report["bytes"]
        with db.snapshot() as snap:
            assert snap.uses_chunk_index
        assert [db.read("bus", 0x40000000, 256, snap=snap) for snap in (0, 5000, 12345, 19999)] == before
    # Read-only, in a new process's way: the index is found and used.
    with tracemem.open(path) as db, db.snapshot() as snap:
        assert snap.uses_chunk_index
        assert snap.read("bus", 0x40000000, 256, snap=5000) == before[1]
    with tracemem.open(path) as db, pytest.raises(tracemem.errors.ReadOnlyError):
        db.write_chunk_index()


def test_readinto_fills_a_numpy_array_in_place(w1: Path) -> None:
    import numpy as np

    with tracemem.open(w1) as db:
        words = np.zeros(8, dtype="<u4")
        assert db.readinto("bus", 0x40000000, words, snap=9000) == 32
        assert words.tobytes() == db.read("bus", 0x40000000, 32, snap=9000)
        with pytest.raises(TypeError, match="writable"):
            db.readinto("bus", 0x40000000, b"read-only bytes", snap=9000)


REGISTERS = Path(__file__).parent / "data" / "registers.tmdb"
# tests/data/registers.tmdb: made through the Rust library as tests/cli.rs's
# registers_regions_and_a_fork() makes its database (a register map, thread
# 1's registers at snaps 100 and 120, regions of 'ram', a scratch snap -1).


def test_registers_by_name_match_the_library(tracemem_cli: str) -> None:
    theirs = json.loads(cli(tracemem_cli, "regs", REGISTERS, "1", "--snap", "120", "--json"))
    with tracemem.open(REGISTERS) as db, db.snapshot() as view:
        registers = view.registers("1")
        assert sorted(registers.names()) == sorted(r["name"] for r in theirs)
        for register in theirs:
            mine = registers.value(register["name"], snap=120)
            expected = None if register["value"] is None else int(register["value"], 16)
            if register["state"] in ("known", "stale"):
                assert mine == expected, register
        assert registers.value("pc", snap=120) == 0x1000
        assert registers.value("r0", snap=99) is None
        with pytest.raises(KeyError, match="nope"):
            registers.value("nope", snap=120)


def test_regions_and_snaps_match_the_library(tracemem_cli: str) -> None:
    theirs = json.loads(cli(tracemem_cli, "regions", REGISTERS, "--space", "ram", "--json"))
    with tracemem.open(REGISTERS) as db:
        mine = db.regions("ram")
        assert [(r["name"], r["first"], r["last"]) for r in mine] == [
            (r["name"], r["first"], r["last"]) for r in theirs
        ]
        assert [r["name"] for r in db.regions("ram", snap=7)] == [".text", "heap"]
        assert [r["name"] for r in db.regions("ram", snap=10)] == [".text"]
        assert db.snaps() == [{"snap": -1, "description": "what if", "timestamp_ns": None, "fork_of": 100}]
        assert db.read("ram", 0x2000, 8, snap=100) == b"snap-100"


def test_a_bounded_capture_reads_from_its_horizon(tmp_path: Path, tracemem_cli: str) -> None:
    """Retention dropped the oldest events: iteration starts at the horizon,
    sequence numbers stay absolute, and reads before it are errors naming it."""
    path = tmp_path / "bounded.tmdb"
    subprocess.run(
        [tracemem_cli, "soak", str(path), "--events", "300000", "--keep-events", "50000", "--flush", "10000", "-q"],
        check=True,
    )
    with tracemem.open(path) as db:
        capture = db.capture("soak")
        assert capture.events == 300000
        first = next(iter(db.events("soak")))
        horizon_snap = first["snap"]
        assert horizon_snap > 0
        kept = sum(1 for _ in db.events("soak"))
        assert 50000 <= kept < 300000
        assert [e["snap"] for e in db.events("soak", start=capture.events - 1)] == [capture.last_snap]
        with pytest.raises(tracemem.errors.InvalidArgumentError, match="dropped by retention"):
            list(db.events("soak", start=0, stop=1))
        with pytest.raises(tracemem.errors.InvalidArgumentError, match=f"before snap {horizon_snap}"):
            db.read("bus", 0x40000000, 4, snap=horizon_snap - 1)
        assert db.read("bus", 0x40000000, 4, snap=horizon_snap) is not None
