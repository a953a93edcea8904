"""tracemem: time-travel memory traces for Python.

Record bus transactions straight into a crash-safe database, as a drop-in
for PeakRDL-pybind11's recorder, and ask the database what memory held at
any time::

    import tracemem
    from tracemem import RecordingMaster

    with RecordingMaster(my_master, file="soak.tmdb") as bus:
        bus.write(0x1000, 0xCAFE, 4)      # durable before write() returns
        bus.read(0x1000, 4)

    with tracemem.open("soak.tmdb") as db, db.snapshot() as view:
        view.value(0x1000, 4)             # 0xCAFE
        view.read("bus", 0x1000, 4, snap=0)

Errors are in :mod:`tracemem.errors`.
"""

from __future__ import annotations

from . import errors
from ._database import Database, open
from ._masters import AccessOp, CaptureEvents, MasterBase, RecordingMaster, ReplayMaster, ReplayMismatchError
from ._tracemem import FORMAT_VERSION, Capture, EventIterator, Registers, Snapshot, __version__
from .errors import CorruptError, Error

__all__ = [
    "FORMAT_VERSION",
    "AccessOp",
    "Capture",
    "CaptureEvents",
    "CorruptError",
    "Database",
    "Error",
    "EventIterator",
    "MasterBase",
    "RecordingMaster",
    "Registers",
    "ReplayMaster",
    "ReplayMismatchError",
    "Snapshot",
    "__version__",
    "errors",
    "open",
]
