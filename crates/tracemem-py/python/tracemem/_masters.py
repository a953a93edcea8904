"""Drop-in replacements for PeakRDL-pybind11's recording and replay masters.

``from tracemem import RecordingMaster, ReplayMaster, ReplayMismatchError``
replaces ``from peakrdl_pybind11.masters import ...``: the same values,
events, files, exceptions and messages. A ``file=`` path ending in ``.tmdb``
(or ``db=``) records into a tracemem database instead, with per-event
durability and flat memory.

When PeakRDL-pybind11 is installed, the masters are instances of its
``MasterBase`` and :class:`ReplayMismatchError` subclasses its exception, so
existing ``isinstance`` checks and ``except`` clauses keep working; tracemem
never requires it.
"""

from __future__ import annotations

import bisect
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Union, overload

from . import _tracemem

__all__ = [
    "AccessOp",
    "CaptureEvents",
    "MasterBase",
    "RecordingMaster",
    "ReplayMaster",
    "ReplayMismatchError",
]

try:  # The masters' base classes, when PeakRDL-pybind11 is installed.
    from peakrdl_pybind11.masters.base import AccessOp, MasterBase
    from peakrdl_pybind11.masters.recording_replay import (
        ReplayMismatchError as _PeakReplayMismatchError,
    )
except ImportError:  # pragma: no cover - exercised where it is absent
    from ._base import AccessOp, MasterBase  # type: ignore[assignment]

    _PeakReplayMismatchError = Exception  # type: ignore[assignment,misc]

FlushPolicy = Union[str, int]
Event = dict

_U64_MAX = (1 << 64) - 1


def _is_ndjson_path(path: str | os.PathLike[str]) -> bool:
    text = str(path).lower()
    return text.endswith(".ndjson") or text.endswith(".jsonl")


def _is_database_path(path: str | os.PathLike[str]) -> bool:
    return str(path).lower().endswith(".tmdb")


def _check_flush(flush: object) -> None:
    is_positive_int = isinstance(flush, int) and not isinstance(flush, bool) and flush >= 1
    if flush not in ("event", "never") and not is_positive_int:
        raise ValueError(f"flush must be 'event', 'never', or a positive int; got {flush!r}")


def _zip_strict(ops: Sequence[Any], values: Sequence[Any]) -> Iterator[tuple[Any, Any]]:
    """``zip(ops, values, strict=True)``, also on Python 3.9."""
    if sys.version_info >= (3, 10):
        return zip(ops, values, strict=True)  # type: ignore[call-overload]
    return _zip_strict_39(ops, values)


def _zip_strict_39(ops: Sequence[Any], values: Sequence[Any]) -> Iterator[tuple[Any, Any]]:
    op_iter, value_iter = iter(ops), iter(values)
    for op in op_iter:
        try:
            value = next(value_iter)
        except StopIteration:
            raise ValueError("zip() argument 2 is shorter than argument 1") from None
        yield op, value
    for _ in value_iter:
        raise ValueError("zip() argument 2 is longer than argument 1")


class ReplayMismatchError(_PeakReplayMismatchError):  # type: ignore[valid-type,misc]
    """Raised by :class:`ReplayMaster` (strict mode) when a requested
    transaction does not match the next recorded event.

    ``expected`` is the recorded event (``None`` when the recording has no
    more), ``actual`` the request (``op``, ``address``, ``width`` and, for a
    write, ``value``).
    """

    def __init__(
        self,
        expected: dict[str, Any] | None,
        actual: dict[str, Any],
        message: str | None = None,
    ) -> None:
        self.expected = expected  # type: ignore[assignment]
        self.actual = actual
        if message is None:
            if expected is None:
                message = (
                    f"replay log exhausted: requested {actual['op']} @ "
                    f"0x{actual['address']:x} width={actual['width']} "
                    "but the recording has no more events"
                )
            else:
                message = (
                    f"replay mismatch: expected {expected['op']} @ "
                    f"0x{expected['address']:x} width={expected.get('width')}, "
                    f"got {actual['op']} @ 0x{actual['address']:x} "
                    f"width={actual['width']}"
                )
        Exception.__init__(self, message)


class CaptureEvents(Sequence):  # type: ignore[type-arg]
    """The events of a recording into a database, as the seed's list would
    hold them (failed transactions aside), read from the capture on demand:
    ``len``, indexes (negative too), slices and iteration, without holding
    the events in Python memory. Read-only; after ``close()`` the events
    are read from the file."""

    _PAGE = 4096

    def __init__(self, recorder: _tracemem.CaptureRecorder) -> None:
        self._recorder = recorder

    def __len__(self) -> int:
        return len(self._recorder)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        length = len(self._recorder)
        if isinstance(index, slice):
            start, stop, step = index.indices(length)
            if step == 1:
                return self._recorder.completed_events(start, max(start, stop))
            return [self[i] for i in range(start, stop, step)]
        if not isinstance(index, int):
            raise TypeError(f"event indices must be integers or slices, not {type(index).__name__}")
        position = index + length if index < 0 else index
        if not 0 <= position < length:
            raise IndexError("event index out of range")
        return self._recorder.completed_events(position, position + 1)[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        # From the first kept event: retention may have dropped older ones.
        start = self._recorder.first_kept()
        while True:
            page = self._recorder.completed_events(start, start + self._PAGE)
            if not page:
                return
            yield from page
            start += len(page)

    def __repr__(self) -> str:
        return f"<tracemem.CaptureEvents of {len(self)} events>"


def _check_u64(argument: str, given: object) -> None:
    if not isinstance(given, int) or isinstance(given, bool):
        raise TypeError(f"{argument} must be an int to be recorded into a database, not {type(given).__name__}")
    if not 0 <= given <= _U64_MAX:
        raise ValueError(f"{argument} {given!r} cannot be recorded into a database: it is not in 0..2**64-1")


def _check_request(address: object, width: object, value: object = 0) -> None:
    """Refuses, before the bus is touched, what a database cannot hold."""
    _check_u64("address", address)
    _check_u64("value", value)
    if not isinstance(width, int) or isinstance(width, bool):
        raise TypeError(f"width must be an int to be recorded into a database, not {type(width).__name__}")
    if not 1 <= width <= 8:
        raise ValueError(f"width {width!r} cannot be recorded into a database: it is not in 1..8")
    if address + width - 1 > _U64_MAX:  # type: ignore[operator]
        raise ValueError(
            f"address {address:#x} with width {width} cannot be recorded into a database: "
            "its last byte passes 2**64-1"
        )


def _monotonic() -> float:
    """``time.monotonic()``, looked up at each call as the seed does (so a
    test that patches ``time.monotonic`` patches the recorder too)."""
    return time.monotonic()


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class RecordingMaster(MasterBase):  # type: ignore[misc,valid-type]
    """A master that records every read and write of the master it wraps.

    Args:
        inner: The master that services the transactions.
        file: Where events go as they happen. A path ending in ``.tmdb``
            records into a tracemem database (a new capture; see
            ``capture``); any other path gets one JSON document per line
            appended, exactly as PeakRDL-pybind11's recorder writes it.
        flush: ``"event"`` (default): every event is durable before its call
            returns; ``"never"``: only at :meth:`close`; a positive int
            ``N``: every ``N`` events.
        clock: A callable returning seconds (default ``time.monotonic``);
            read once at construction and once per recorded op, after the
            inner call returns.
        db: An open :class:`tracemem.Database` (writable) to record into,
            instead of ``file``.
        capture: The capture's name in a database (default: the file's
            stem).
        space: The space the capture's events observe in a database
            (default ``"bus"``). Several recorders of one process may record
            into one database at once, each its own capture and space
            (``bus0``, ``bus1``): they share the database, and their events
            take snaps from one timeline.
        max_size: In a database, the most bytes its file and journal may
            take (at least 8 MiB); past it the oldest history is dropped
            while recording goes on (retention).
        keep_events: In a database, the most events the capture keeps (at
            least 4096).
        keep: In a database, how many seconds back from the newest event,
            on the recorder's clock, the capture keeps. Past a bound, the
            events before the capture's horizon are gone: ``events[i]`` of
            one is an error naming it, and iteration starts at the horizon.
    """

    def __init__(
        self,
        inner: Any,
        file: str | os.PathLike[str] | None = None,
        flush: FlushPolicy = "event",
        *,
        clock: Callable[[], float] | None = None,
        db: Any = None,
        capture: str | None = None,
        space: str | None = None,
        max_size: int | None = None,
        keep_events: int | None = None,
        keep: float | None = None,
    ) -> None:
        _check_flush(flush)
        if clock is None:
            clock = _monotonic
        elif not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds; got {clock!r}")
        if db is not None and file is not None:
            raise ValueError("give file= or db=, not both")
        self.inner = inner
        self._clock = clock
        self._flush_policy = flush
        self._events_since_flush = 0
        self._file: IO[str] | None = None
        self._native: _tracemem.CaptureRecorder | None = None
        self._lent: Any = None
        self._warned_past_bound = False
        self.events: Any
        if db is not None:
            path = Path(os.fspath(db.path))
            self._native = db._lend(capture or path.stem, flush, space, max_size, keep_events, keep)
            self._lent = db
        elif file is not None and _is_database_path(file):
            path = Path(file)
            self._native = _tracemem.CaptureRecorder(
                os.fspath(path), capture or path.stem, flush, space,
                max_size=max_size, keep_events=keep_events, keep=keep,
            )
        elif capture is not None or space is not None:
            raise ValueError("capture= and space= name a capture in a database: record into a .tmdb file or db=")
        elif max_size is not None or keep_events is not None or keep is not None:
            raise ValueError("max_size=, keep_events= and keep= bound a database: record into a .tmdb file or db=")
        if self._native is not None:
            self.events = CaptureEvents(self._native)
        else:
            self.events = []
        self._start = clock()
        if file is not None and self._native is None:
            self._file = Path(file).open("a", encoding="utf-8")

    def __enter__(self) -> RecordingMaster:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close()

    def close(self) -> None:
        """Flushes and closes the file or database; idempotent. Always
        flushes, whatever the ``flush`` policy."""
        if self._file is not None:
            try:
                self._file.flush()
                self._file.close()
            finally:
                self._file = None
                self._events_since_flush = 0
        native = self._native
        if native is not None and not native.closed:
            try:
                native.close()
                self._warn_past_bound(native)
            finally:
                if self._lent is not None:
                    lent, self._lent = self._lent, None
                    lent._return(native)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def flush(self) -> None:
        """Makes every event so far durable (and, in a database, visible to
        readers in other processes). Under ``max_size``, warns once
        (``RuntimeWarning``) when the file has grown past the bound."""
        if self._file is not None:
            self._file.flush()
        elif self._native is not None:
            self._native.flush()
            self._warn_past_bound(self._native)

    @property
    def past_bound(self) -> int | None:
        """Under ``max_size``: the most bytes the database file and its
        journals took after a commit that found them past the bound, else
        ``None``. Retention keeps them under it; only a snapshot (or another
        reader) held open while it runs keeps redb from reusing the pages it
        frees, and the file keeps the size it grew to."""
        return None if self._native is None else self._native.past_bound()

    def _warn_past_bound(self, native: _tracemem.CaptureRecorder) -> None:
        size = native.past_bound()
        if size is not None and not self._warned_past_bound:
            self._warned_past_bound = True
            warnings.warn(
                f"{native.path} takes {size} bytes with its journal, past max_size: "
                "a snapshot or reader held open keeps the pages retention frees from being reused",
                RuntimeWarning,
                stacklevel=3,
            )

    def mark(self, text: str) -> None:
        """Labels the current snap (a test's start, a phase) in the database;
        the event listings show it. Needs a database."""
        if self._native is None:
            raise ValueError("mark() labels a snap of a database: record into a .tmdb file or db=")
        self._native.mark(str(text))

    # -- the master's contract ------------------------------------------

    def read(self, address: int, width: int) -> Any:
        native = self._native
        if native is None:
            value = self.inner.read(address, width)
            self._record("read", address, value, width)
            return value
        _check_request(address, width)
        try:
            value = self.inner.read(address, width)
        except Exception as error:
            native.record_failed(False, address, 0, width, self._clock() - self._start, _describe(error))
            raise
        stored = self._storable_read(native, address, value, width)
        native.record(False, address, stored, width, self._clock() - self._start)
        return value

    def write(self, address: int, value: int, width: int) -> None:
        native = self._native
        if native is None:
            self.inner.write(address, value, width)
            self._record("write", address, value, width)
            return
        _check_request(address, width, value)
        try:
            self.inner.write(address, value, width)
        except Exception as error:
            native.record_failed(True, address, value, width, self._clock() - self._start, _describe(error))
            raise
        native.record(True, address, value, width, self._clock() - self._start)

    def read_many(self, ops: Sequence[Any]) -> list[int]:
        native = self._native
        if native is None:
            values = self.inner.read_many(ops)
            for op, v in _zip_strict(ops, values):
                self._record("read", op.address, int(v), op.width)
            return list(values)
        for op in ops:
            _check_request(op.address, op.width)
        try:
            values = self.inner.read_many(ops)
        except Exception as error:
            text = _describe(error)
            now = self._clock() - self._start
            for op in ops:
                native.record_failed(False, op.address, 0, op.width, now, text)
            raise
        for op, v in _zip_strict(ops, values):
            stored = self._storable_read(native, op.address, v, op.width)
            native.record(False, op.address, stored, op.width, self._clock() - self._start)
        return list(values)

    def write_many(self, ops: Sequence[Any]) -> None:
        native = self._native
        if native is None:
            self.inner.write_many(ops)
            for op in ops:
                self._record("write", op.address, op.value, op.width)
            return
        for op in ops:
            _check_request(op.address, op.width, op.value)
        try:
            self.inner.write_many(ops)
        except Exception as error:
            text = _describe(error)
            now = self._clock() - self._start
            for op in ops:
                native.record_failed(True, op.address, op.value, op.width, now, text)
            raise
        for op in ops:
            native.record(True, op.address, op.value, op.width, self._clock() - self._start)

    # -- persistence -----------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the events to ``path``: ``.ndjson``/``.jsonl`` one event per
        line, anything else one JSON array (``indent=2``). Replaces the
        file."""
        out = Path(path)
        if _is_ndjson_path(out):
            with out.open("w", encoding="utf-8") as fh:
                for event in self.events:
                    fh.write(json.dumps(event))
                    fh.write("\n")
        elif isinstance(self.events, list):
            out.write_text(json.dumps(list(self.events), indent=2), encoding="utf-8")
        else:
            # The same bytes as json.dumps(list, indent=2), a page at a time.
            with out.open("w", encoding="utf-8") as fh:
                first = True
                for event in self.events:
                    fh.write("[\n  " if first else ",\n  ")
                    fh.write(json.dumps(event, indent=2).replace("\n", "\n  "))
                    first = False
                fh.write("[]" if first else "\n]")

    # -- private -----------------------------------------------------------

    def _storable_read(self, native: _tracemem.CaptureRecorder, address: int, value: Any, width: int) -> int:
        """The value a read returned, as the database stores it; a value it
        cannot hold is recorded as a failed event and raised."""
        try:
            stored = int(value)
        except Exception:
            stored = None
        if stored is None or not 0 <= stored <= _U64_MAX:
            text = f"the inner master returned {value!r}, which is not an int in 0..2**64-1"
            native.record_failed(False, address, 0, width, self._clock() - self._start, text)
            raise ValueError(f"read of {width} bytes at {address:#x}: {text}")
        return stored

    def _record(self, op: str, address: Any, value: Any, width: Any) -> None:
        event = {
            "op": op,
            "address": int(address),
            "value": int(value),
            "width": int(width),
            "timestamp": self._clock() - self._start,
        }
        self.events.append(event)
        file = self._file
        if file is None:
            return
        file.write(json.dumps(event))
        file.write("\n")
        policy = self._flush_policy
        if policy == "event":
            file.flush()
        elif policy != "never":
            self._events_since_flush += 1
            if self._events_since_flush >= policy:  # type: ignore[operator]
                file.flush()
                self._events_since_flush = 0


def _load_events(path: Path, capture: str | None) -> list[dict[str, Any]]:
    if _is_database_path(path):
        from ._database import open as open_database

        with open_database(path) as db, db.snapshot() as snapshot:
            out = []
            for event in snapshot.events(capture):
                if event["error"] is not None:
                    continue
                del event["snap"], event["error"]
                if event["width"] is None:
                    del event["width"]
                out.append(event)
            return out
    if capture is not None:
        raise ValueError("capture= names a capture in a database (a .tmdb file)")
    text = path.read_text(encoding="utf-8")
    if _is_ndjson_path(path) or not text.lstrip().startswith("["):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    events: list[dict[str, Any]] = json.loads(text)
    return events


_SCAN = object()


class _LooseIndex:
    """Where each recorded read (by address) and write (by address and
    value) is, in order, so that loose replay finds the next match in
    O(log n); events it cannot read (no ``op``, an odd value) are listed
    apart, and a lookup that would pass one scans as the seed does."""

    def __init__(self) -> None:
        self.reads: dict[Any, list[int]] = {}
        self.writes: dict[Any, list[int]] = {}
        self.unreadable: list[int] = []
        self.indexed = 0

    def extend(self, events: list[dict[str, Any]]) -> None:
        for i in range(self.indexed, len(events)):
            event = events[i]
            try:
                op = event["op"]
                if op == "read":
                    self.reads.setdefault(event["address"], []).append(i)
                elif op == "write":
                    key = (event["address"], int(event.get("value", 0)))
                    self.writes.setdefault(key, []).append(i)
            except Exception:
                self.unreadable.append(i)
        self.indexed = len(events)


class ReplayMaster(MasterBase):  # type: ignore[misc,valid-type]
    """A master that replays a recording.

    Strict mode (default): each request must match the next recorded event
    (op, address, width when recorded, value for writes), else
    :class:`ReplayMismatchError`. Loose mode: a read returns the first
    recorded read at that address at or after the cursor (0 when there is
    none); a write moves the cursor past the first matching recorded write.
    Loose lookups go through an index: O(log n), never a scan.
    """

    def __init__(self, events: Sequence[dict[str, Any]], strict: bool = True) -> None:
        self.events: list[dict[str, Any]] = [dict(e) for e in events]
        self.strict = strict
        self._cursor = 0
        self._index: _LooseIndex | None = None

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], strict: bool = True, *, capture: str | None = None
    ) -> ReplayMaster:
        """Loads a recording: NDJSON (``.ndjson``/``.jsonl``, or any file not
        starting with ``[``), a JSON array, or a capture of a ``.tmdb``
        database (``capture=``, default the only one; failed transactions
        are skipped)."""
        return cls(_load_events(Path(path), capture), strict=strict)

    def read(self, address: int, width: int) -> int:
        if self.strict:
            return int(self._consume("read", address, width)["value"])
        found = self._find(self._lookup().reads, address)
        if found is _SCAN:
            found = self._scan(lambda e: e["op"] == "read" and e["address"] == address)
        if found is None:
            return 0
        self._cursor = found + 1
        return int(self.events[found]["value"])

    def write(self, address: int, value: int, width: int) -> None:
        if self.strict:
            self._consume("write", address, width, value=value)
            return
        try:
            found = self._find(self._lookup().writes, (address, int(value)))
        except (TypeError, ValueError, OverflowError):
            found = _SCAN
        if found is _SCAN:
            found = self._scan(
                lambda e: e["op"] == "write" and e["address"] == address and int(e.get("value", 0)) == int(value)
            )
        if found is not None:
            self._cursor = found + 1

    def _find(self, positions: dict[Any, list[int]], key: Any) -> Any:
        """The first indexed position of ``key`` at or after the cursor, or
        None; ``_SCAN`` when an event the index could not read lies before
        it (the seed's scan decides then, raising as the seed does)."""
        index = self._lookup()
        candidates = positions.get(key)
        found = None
        if candidates:
            at = bisect.bisect_left(candidates, self._cursor)
            found = candidates[at] if at < len(candidates) else None
        odd = bisect.bisect_left(index.unreadable, self._cursor)
        if odd < len(index.unreadable) and (found is None or index.unreadable[odd] < found):
            return _SCAN
        return found

    def _scan(self, matches: Callable[[dict[str, Any]], bool]) -> int | None:
        """The seed's linear scan from the cursor (for unusual events only)."""
        for i in range(self._cursor, len(self.events)):
            if matches(self.events[i]):
                return i
        return None

    def _lookup(self) -> _LooseIndex:
        """The loose-mode index, brought up to date with ``events`` (events
        appended since are indexed; a shorter list is indexed anew)."""
        index = self._index
        if index is None or len(self.events) < index.indexed:
            index = self._index = _LooseIndex()
        index.extend(self.events)
        return index

    def _consume(self, op: str, address: int, width: int, value: int | None = None) -> dict[str, Any]:
        actual: dict[str, Any] = {"op": op, "address": int(address), "width": int(width)}
        if value is not None:
            actual["value"] = int(value)
        if self._cursor >= len(self.events):
            raise ReplayMismatchError(None, actual)
        event = self.events[self._cursor]
        if event["op"] != op or int(event["address"]) != int(address):
            raise ReplayMismatchError(event, actual)
        if "width" in event and int(event["width"]) != int(width):
            raise ReplayMismatchError(event, actual)
        if value is not None and int(event["value"]) != int(value):
            raise ReplayMismatchError(event, actual)
        self._cursor += 1
        return event
