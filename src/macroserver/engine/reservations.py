"""Which door holds which element while its macro runs.

A motor or channel a running macro moves or counts is reserved for that macro's door
until the macro ends, as Sardana reserves the elements of a running macro. A macro on
another door that needs one of them is refused before anything moves, with a message
naming the door that holds it. `held()` lists the reservations (for clients, e.g. a
`ReservedElements` attribute).
"""

from __future__ import annotations

import threading
from typing import Iterable

from macroserver.errors import ElementReserved


class Reservations:
    """Element name -> holding door, shared by all doors of a server; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: dict[str, str] = {}

    def reserve(self, door: str, names: Iterable[str]) -> None:
        """Reserve all of `names` for `door`, or none of them (raise if another door holds
        one). Elements the door holds already stay held."""
        wanted = list(dict.fromkeys(names))
        with self._lock:
            taken = {n: self._holder[n] for n in wanted if self._holder.get(n, door) != door}
            if taken:
                raise ElementReserved("; ".join(
                    f"{name} is in use by the macro running on {holder}"
                    for name, holder in taken.items()) + (
                    "; nothing was moved. Wait for that macro to end, or stop it"))
            for name in wanted:
                self._holder[name] = door

    def release(self, door: str) -> None:
        """Free every element `door` holds (its macro ended)."""
        with self._lock:
            self._holder = {n: d for n, d in self._holder.items() if d != door}

    def held(self) -> dict[str, str]:
        """A copy of the reservations: element name -> door."""
        with self._lock:
            return dict(self._holder)
