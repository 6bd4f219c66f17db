"""The one way to change the environment.

Every writer goes through `ServerEnvironment.update`: senv/usenv/newfile, the Tango
Environment attribute and SetEnvironment, a macro's `self.env`, and the engine's own
ScanID, ScanHistory and default ActiveMntGrp. It checks the changes (names, storable
values, the server variables of envcheck.py, ScanDir and ScanFile together, sizes) and
writes them while holding the store's lock, so no other writer slips in between the
check and the write, and a read-modify-write (`modify`) is one step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

from macroserver.engine.envcheck import check_env_size, check_env_value, check_scan_files
from macroserver.env import Environment, Listener, check_name
from macroserver.errors import EnvError

if TYPE_CHECKING:
    from macroserver.engine.core import MacroServerCore


class ServerEnvironment:
    """The server's environment: reads from the store, checked writes to it."""

    def __init__(self, store: Environment, server: "MacroServerCore") -> None:
        #: the unchecked store (persistence only); write through `update`, not through it
        self.store = store
        self._server = server

    # -- reading ---------------------------------------------------------------------

    def __contains__(self, name: str) -> bool:
        return name in self.store

    def __iter__(self) -> Iterator[str]:
        return iter(self.store)

    def get(self, name: str, default: Any = None) -> Any:
        return self.store.get(name, default)

    def snapshot(self) -> dict[str, Any]:
        return self.store.snapshot()

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(changed, removed)` after every change (for Environment events)."""
        self.store.subscribe(listener)

    # -- writing ---------------------------------------------------------------------

    def update(self, changes: Mapping[str, Any], remove: Iterable[str] = ()) -> None:
        """Check, then set `changes` and remove `remove` in one atomic write; EnvError
        naming the variable and the problem when anything is refused (nothing changes)."""
        changes, remove = dict(changes), list(remove)
        with self.store.lock:
            self._check(changes, remove)
            self.store.update(changes, remove)

    def set(self, name: str, value: Any) -> None:
        self.update({name: value})

    def unset(self, *names: str) -> None:
        self.update({}, names)

    def modify(self, name: str, change: Callable[[Any], Any]) -> Any:
        """Set `name` to `change(current value or None)` and return the new value: a
        read-modify-write (ScanHistory, ScanID) that no other door's change can slip into."""
        with self.store.lock:
            value = change(self.store.get(name))
            self.update({name: value})
            return value

    def next_scan_id(self) -> int:
        """Increment and persist `ScanID` before the scan starts, so no id is ever reused."""
        def increment(current: Any) -> int:
            current = 0 if current is None else current
            if not isinstance(current, int) or isinstance(current, bool) or current < 0:
                raise EnvError(f"ScanID must be a non-negative integer, not {current!r}")
            return current + 1

        return int(self.modify("ScanID", increment))

    def _check(self, changes: dict[str, Any], remove: list[str]) -> None:
        after = {**self.store.snapshot(), **changes}
        for name in remove:
            after.pop(name, None)
        for name, value in changes.items():
            check_name(name)
            check_env_value(name, value, self._server, after)
        check_scan_files(changes, after, self._server)
        check_env_size(after, changes)
