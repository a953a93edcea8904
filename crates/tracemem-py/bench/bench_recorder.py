"""The Python recorder's benchmark (issue 19; figures in BENCHMARKS.md).

Per-op overhead of recording over a Python mock master, for N writes timed
from the first op through ``close()`` (construction excluded), best of
``--runs``: tracemem into a ``.tmdb`` with ``flush="event"``, beside
PeakRDL-pybind11's own ``RecordingMaster`` (the seed) with ``file=`` an
NDJSON path and ``flush="event"``, and with no file. Then peak RSS of a
recording of 500,000 and 5,000,000 events (each in a child process), and
the rate of ``value()`` queries inside one snapshot on the W1 workload.

    python bench/bench_recorder.py [--events 200000 1000000] [--runs 3]
        [--rss 500000 5000000] [--queries 200000] [--tracemem-bin PATH]

Needs peakrdl-pybind11 (``pip install --no-deps peakrdl-pybind11==0.8.8``)
for the seed's figures, and the ``tracemem`` binary for W1.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import tracemem

try:
    from peakrdl_pybind11.masters import MockMaster
    from peakrdl_pybind11.masters import RecordingMaster as SeedRecordingMaster
except ImportError:  # pragma: no cover
    MockMaster = None  # type: ignore[assignment,misc]
    SeedRecordingMaster = None  # type: ignore[assignment,misc]


class PlainMock:
    """A mock master like the seed's: a dict, values masked to the width."""

    def __init__(self) -> None:
        self.memory: dict[int, int] = {}

    def read(self, address: int, width: int) -> int:
        return self.memory.get(address, 0) & ((1 << (width * 8)) - 1)

    def write(self, address: int, value: int, width: int) -> None:
        self.memory[address] = value & ((1 << (width * 8)) - 1)


def mock() -> Any:
    return MockMaster() if MockMaster is not None else PlainMock()


def drive(master: Any, n: int) -> float:
    """Seconds for n writes plus close(), if it has one."""
    write = master.write
    start = time.perf_counter()
    for i in range(n):
        write(0x40000000 + ((i * 4) & 0xFFFF), i & 0xFFFFFFFF, 4)
    close = getattr(master, "close", None)
    if close is not None:
        close()
    return time.perf_counter() - start


def best(runs: int, make: Callable[[Path], Any], n: int) -> float:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            master = make(Path(folder))
            times.append(drive(master, n))
            del master
    return min(times)


def overhead(n: int, runs: int) -> dict[str, float]:
    cases: dict[str, Callable[[Path], Any]] = {
        "mock master alone": lambda d: mock(),
        "tracemem .tmdb flush=event": lambda d: tracemem.RecordingMaster(mock(), file=d / "t.tmdb", flush="event"),
        "tracemem in memory (no file)": lambda d: tracemem.RecordingMaster(mock()),
    }
    if SeedRecordingMaster is not None:
        cases["seed NDJSON flush=event"] = lambda d: SeedRecordingMaster(mock(), file=d / "t.ndjson", flush="event")
        cases["seed in memory (no file)"] = lambda d: SeedRecordingMaster(mock())
    seconds = {name: best(runs, make, n) for name, make in cases.items()}
    base = seconds["mock master alone"]
    print(f"\n{n:,} writes, best of {runs} (construction excluded, close() included):")
    print(f"  {'case':34} {'total s':>9} {'us/op':>8} {'overhead us/op':>15}")
    result = {}
    for name, s in seconds.items():
        extra = (s - base) / n * 1e6
        result[name] = extra
        print(f"  {name:34} {s:9.3f} {s / n * 1e6:8.3f} {extra:15.3f}")
    if "seed NDJSON flush=event" in result:
        ratio = result["tracemem .tmdb flush=event"] / result["seed NDJSON flush=event"]
        print(f"  tracemem durable overhead / seed flush=event overhead = {ratio:.3f} (target <= 0.333)")
    return result


RSS_CHILD = """
import sys, tempfile, os
kind, n = sys.argv[1], int(sys.argv[2])
sys.path[:0] = [os.path.dirname(sys.argv[3])]
from bench_recorder import mock
with tempfile.TemporaryDirectory() as d:
    if kind == "tracemem":
        import tracemem
        m = tracemem.RecordingMaster(mock(), file=os.path.join(d, "t.tmdb"))
    else:
        from peakrdl_pybind11.masters import RecordingMaster
        m = RecordingMaster(mock(), file=os.path.join(d, "t.ndjson"))
    w = m.write
    for i in range(n):
        w(0x40000000 + ((i * 4) & 0xFFFF), i & 0xFFFFFFFF, 4)
    m.close()
    # VmHWM, not ru_maxrss: Linux carries the parent's peak across exec.
    with open("/proc/self/status") as status:
        print([line.split()[1] for line in status if line.startswith("VmHWM:")][0])
"""


def peak_rss(kind: str, n: int) -> int:
    done = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, kind, str(n), os.path.abspath(__file__)],
        capture_output=True, text=True, check=True,
    )
    return int(done.stdout.split()[-1])


def rss(sizes: list[int]) -> None:
    kinds = ["tracemem"] + (["seed"] if SeedRecordingMaster is not None else [])
    print("\npeak RSS (KiB) of a recording with file= (.tmdb / .ndjson), flush=event:")
    for kind in kinds:
        figures = [peak_rss(kind, n) for n in sizes]
        shown = ", ".join(f"{n:,} events: {kib:,}" for n, kib in zip(sizes, figures))
        print(f"  {kind:9} {shown}; ratio {figures[-1] / figures[0]:.2f}")


def queries(count: int, binary: str | None) -> None:
    if binary is None:
        print("\nvalue() queries: skipped (no tracemem binary: --tracemem-bin)")
        return
    with tempfile.TemporaryDirectory() as folder:
        trace, db_path = Path(folder) / "w1.ndjson", Path(folder) / "w1.tmdb"
        events = 1_000_000
        subprocess.run([binary, "gen", str(trace), "--events", str(events)], check=True, capture_output=True)
        subprocess.run([binary, "import", str(db_path), str(trace), "--capture", "w1"], check=True, capture_output=True)
        rng = random.Random(1)
        with tracemem.open(db_path) as db:
            addresses = sorted({e["address"] for e in db.events(stop=20_000)})
            asks = [(rng.choice(addresses), rng.randrange(events)) for _ in range(count)]
            with db.snapshot() as view:
                value = view.value
                start = time.perf_counter()
                for address, snap in asks:
                    value(address, 4, snap=snap)
                seconds = time.perf_counter() - start
    print(f"\nvalue() on W1 (1,000,000 events), random address and snap, one snapshot: "
          f"{count / seconds:,.0f} per second (target >= 200,000)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="*", default=[200_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rss", type=int, nargs="*", default=[500_000, 5_000_000])
    parser.add_argument("--queries", type=int, default=200_000)
    parser.add_argument("--tracemem-bin", default=os.environ.get("TRACEMEM_BIN"))
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, tracemem {tracemem.__version__}, "
          f"seed {'present' if SeedRecordingMaster else 'absent'}, {time.strftime('%Y-%m-%d %H:%M')}")
    for n in args.events:
        overhead(n, args.runs)
    if args.rss:
        rss(args.rss)
    if args.queries:
        queries(args.queries, args.tracemem_bin)


if __name__ == "__main__":
    main()
