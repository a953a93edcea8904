"""``tracemem.open`` and ``tracemem.Database``: the query API for analysis
scripts. Each query method of :class:`Database` runs in a snapshot of its
own; open one with :meth:`Database.snapshot` to keep a consistent view over
a series of queries (and to skip the per-call snapshot)."""

from __future__ import annotations

import os
from typing import Any, Callable, Union

from . import _tracemem
from ._tracemem import Snapshot
from .errors import LockedError, ReadOnlyError

__all__ = ["Database", "open"]

PathLike = Union[str, "os.PathLike[str]"]

# The queries a Database forwards to a fresh snapshot, per call.
_QUERIES = (
    "captures",
    "capture",
    "spaces",
    "events",
    "read",
    "read_known",
    "readinto",
    "states",
    "value",
    "history",
    "timeline",
    "find",
    "diff",
    "changes",
    "registers",
    "regions",
    "snaps",
)


class Database(_tracemem.Database):
    """An open tracemem database (see :func:`open`).

    Every query method of :class:`Snapshot` is also a method of the
    database, answered from a snapshot taken for that call. Use the database
    in a ``with`` block, or call :meth:`close`.
    """

    _recorders: Any = None

    def _live_recorders(self) -> list[_tracemem.CaptureRecorder]:
        """The recorders of this process recording into the database now."""
        recorders: list[_tracemem.CaptureRecorder] = self._recorders or []
        return [r for r in recorders if not r.closed]

    def snapshot(self) -> Snapshot:
        """A consistent view for a series of queries (use it in ``with``).
        While a recorder of this process records into the database
        (``RecordingMaster(db=...)``), the view is of its last commit."""
        live = self._live_recorders()
        if live:
            return live[0].snapshot()
        return super().snapshot()

    def _lend(
        self,
        capture: str,
        flush: Any,
        space: str | None = None,
        max_size: int | None = None,
        keep_events: int | None = None,
        keep: float | None = None,
    ) -> _tracemem.CaptureRecorder:
        """Hands the file to a recorder of this process; several may record
        into it at once (each its own capture), sharing the file."""
        if self.readonly:
            raise ReadOnlyError(f"{os.fspath(self.path)}: the database is open read-only; open it with readonly=False to record")
        live = self._live_recorders()
        if not live:
            self._release()
        try:
            recorder = _tracemem.CaptureRecorder(
                os.fspath(self.path), capture, flush, space, max_size=max_size, keep_events=keep_events, keep=keep
            )
        except BaseException:
            if not live:
                self._reopen()
            raise
        self._recorders = [*live, recorder]
        return recorder

    def _return(self, recorder: _tracemem.CaptureRecorder) -> None:
        """Takes the file back once its last recorder has closed."""
        recorders: list[_tracemem.CaptureRecorder] = self._recorders or []
        if any(r is recorder for r in recorders):
            self._recorders = [r for r in recorders if r is not recorder and not r.closed]
            if not self._recorders:
                self._reopen()

    def __repr__(self) -> str:
        mode = "readonly" if self.readonly else "writable"
        state = "closed" if self.closed else mode
        return f"<tracemem.Database {os.fspath(self.path)!r} {state}>"


def _forward(name: str) -> Callable[..., Any]:
    query = getattr(Snapshot, name)

    def forwarded(self: Database, *args: Any, **kwargs: Any) -> Any:
        with self.snapshot() as snapshot:
            return getattr(snapshot, name)(*args, **kwargs)

    forwarded.__name__ = name
    forwarded.__qualname__ = f"Database.{name}"
    forwarded.__doc__ = query.__doc__
    return forwarded


for _name in _QUERIES:
    setattr(Database, _name, _forward(_name))


def open(path: PathLike, *, readonly: bool | None = None, create: bool = False) -> Database:  # noqa: A001
    """Opens the database at ``path``.

    Read-only by default: the file is never changed and a recorder writing
    it in another process is never blocked. ``readonly=False`` opens it for
    writing; ``create=True`` (implies ``readonly=False``) creates it when
    missing.

    Raises ``FileNotFoundError`` for a missing file,
    :class:`tracemem.errors.FormatError` for a file that is not a tracemem
    database, :class:`tracemem.errors.CorruptError` for a damaged one,
    :class:`tracemem.errors.LockedError` when another process holds it and
    :class:`tracemem.errors.UncleanError` when a killed recorder left it.
    """
    if readonly is None:
        readonly = not create
    return Database(os.fspath(path), readonly=readonly, create=create)
