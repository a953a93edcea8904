"""The exceptions tracemem raises, one class per kind of failure.

Every error of the database is a :class:`Error`; where Python has a type
for the same failure, the class derives from it too, so that code which
knows nothing of tracemem still catches it (``except ValueError``,
``except OSError``, ``except KeyError``). Bad arguments raise Python's own
``TypeError`` and ``ValueError``; a missing file raises
``FileNotFoundError``.
"""

from __future__ import annotations

__all__ = [
    "ClosedError",
    "CorruptError",
    "Error",
    "FormatError",
    "InvalidArgumentError",
    "LockedError",
    "NoSpaceError",
    "ReadOnlyError",
    "StorageError",
    "UncleanError",
    "UnknownNameError",
]


class Error(Exception):
    """The base class of every error the database reports."""


class CorruptError(Error):
    """The file is damaged or truncated: stored data failed its checks.

    The message names the file and the part of it (table, chunk, capture).
    """


class FormatError(Error):
    """The file is not a tracemem database, or one of a format version this
    build does not read (``tracemem upgrade`` converts an older one)."""


class LockedError(Error):
    """Another process holds the database (a recorder, a writer)."""


class UncleanError(Error):
    """A recorder stopped without closing the database (it was killed).

    Open it for writing once, or run ``tracemem recover DB``, to fold in
    what its journal holds; readers never half-read such a file.
    """


class ClosedError(Error, ValueError):
    """The database, snapshot or recorder was closed; like an operation on a
    closed Python file, this is also a ``ValueError``."""


class ReadOnlyError(Error):
    """A write on a database opened read-only."""


class NoSpaceError(Error, OSError):
    """The disk or the recorder's journal is full; nothing stored is lost."""


class StorageError(Error, OSError):
    """The operating system refused an operation on the file."""


class InvalidArgumentError(Error, ValueError):
    """An argument the database cannot take (a reversed range, a bad name)."""


class UnknownNameError(Error, KeyError):
    """No space, capture, register or region of that name."""

    def __str__(self) -> str:
        # KeyError's own str() quotes its argument; the message is a sentence.
        return str(self.args[0]) if self.args else ""
