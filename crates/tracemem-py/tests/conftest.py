"""Fixtures shared by the suite: a deterministic clock, bus masters (one
that fails on chosen addresses), and the tracemem command-line tool built
from the same repository (the Rust library's own answers)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]


class FakeClock:
    """A clock that advances by ``step`` seconds at each reading, counting
    its readings."""

    def __init__(self, start: float = 100.0, step: float = 0.25) -> None:
        self.now = start
        self.step = step
        self.readings = 0

    def __call__(self) -> float:
        self.readings += 1
        value = self.now
        self.now += self.step
        return value

    def monotonic(self) -> float:
        return self()


class Bus:
    """A register file (reads give what was written, masked to the width)
    that raises ``RuntimeError`` at the addresses in ``failing``, and
    counts its calls."""

    def __init__(self, failing: set[int] | None = None) -> None:
        self.memory: dict[int, int] = {}
        self.failing = failing or set()
        self.calls = 0

    def _check(self, address: int) -> None:
        self.calls += 1
        if address in self.failing:
            raise RuntimeError(f"bus timeout at {address:#x}")

    def read(self, address: int, width: int) -> int:
        self._check(address)
        return self.memory.get(address, 0) & ((1 << (8 * width)) - 1)

    def write(self, address: int, value: int, width: int) -> None:
        self._check(address)
        self.memory[address] = value & ((1 << (8 * width)) - 1)

    def read_many(self, ops: Any) -> list[int]:
        return [self.read(op.address, op.width) for op in ops]

    def write_many(self, ops: Any) -> None:
        for op in ops:
            self.write(op.address, op.value, op.width)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bus() -> Bus:
    return Bus()


@pytest.fixture(scope="session")
def tracemem_cli() -> str:
    """The `tracemem` binary: $TRACEMEM_BIN, else the repository's release
    build. Missing, the suite fails: it never skips."""
    given = os.environ.get("TRACEMEM_BIN")
    candidates = [Path(given)] if given else [REPO / "target" / "release" / "tracemem"]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("tracemem")
    if found:
        return found
    pytest.fail(f"the tracemem binary is needed: build it (cargo build --release) or set TRACEMEM_BIN; tried {candidates}")
