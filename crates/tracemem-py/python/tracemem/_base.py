"""The master interface, for when PeakRDL-pybind11 is not installed: the
same methods and extension points as its ``MasterBase`` and ``AccessOp``,
so that code written against those runs unchanged."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["AccessOp", "MasterBase"]


@dataclass
class AccessOp:
    """One operation of a batched ``read_many``/``write_many`` call; reads
    ignore ``value``."""

    address: int
    value: int = 0
    width: int = 4


class MasterBase(ABC):
    """A bus master: ``read``, ``write`` and their batched forms, with
    no-op extension points (``peek``, ``barrier``, ``on_disconnect``,
    ``set_retry_policy``, ``cache_get``, ``cache_set``)."""

    @abstractmethod
    def read(self, address: int, width: int) -> int:
        """Reads ``width`` bytes at ``address``."""

    @abstractmethod
    def write(self, address: int, value: int, width: int) -> None:
        """Writes ``value`` (``width`` bytes) at ``address``."""

    def read_many(self, ops: Sequence[AccessOp]) -> list[int]:
        """Reads every op in order (the default calls :meth:`read`)."""
        return [self.read(op.address, op.width) for op in ops]

    def write_many(self, ops: Sequence[AccessOp]) -> None:
        """Writes every op in order (the default calls :meth:`write`)."""
        for op in ops:
            self.write(op.address, op.value, op.width)

    def peek(self, address: int, width: int) -> int:
        """A read without side effects; by default :meth:`read`."""
        return self.read(address, width)

    def barrier(self) -> None:
        """Waits for operations in flight; by default nothing."""
        return None

    def on_disconnect(self, callback: Callable[[], None]) -> None:
        """Registers ``callback`` for when the transport drops."""
        callbacks: list[Callable[[], None]] = self.__dict__.setdefault("_on_disconnect_callbacks", [])
        callbacks.append(callback)

    def set_retry_policy(self, **kwargs: Any) -> None:
        """Stores retry settings for a transport that retries."""
        self.__dict__.setdefault("_retry_policy", {}).update(kwargs)

    def cache_get(self, address: int) -> int | None:
        """A cached read value; by default none."""
        return None

    def cache_set(self, address: int, value: int) -> None:
        """Caches a read value; by default nothing."""
        return None
