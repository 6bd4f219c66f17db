"""The one way to change the environment.

Every writer goes through `ServerEnvironment.update`: senv/usenv/newfile, the Tango
Environment attribute and SetEnvironment, a macro's `self.env`, and the engine's own
ScanID, ScanHistory and default ActiveMntGrp. It checks the changes (names, storable
values, the server variables of envcheck.py, ScanDir and ScanFile together, sizes) and
writes them while holding the store's lock, so no other writer slips in between the
check and the write, and a read-modify-write (`modify`) is one step.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

from macroserver.engine.envcheck import check_env_size, check_env_value, check_scan_files
from macroserver.env import Environment, Listener, check_name, scoped_name
from macroserver.errors import EnvError

if TYPE_CHECKING:
    from macroserver.engine.core import MacroServerCore


class ServerEnvironment:
    """The server's environment: reads from the store, checked writes to it."""

    def __init__(self, store: Environment, server: "MacroServerCore") -> None:
        #: the unchecked store (persistence only); write through `update`, not through it
        self.store = store
        self._server = server
        #: (the store's values, an upper bound of their size as JSON): `check_env_size`
        #: serializes the whole environment only when a change could pass the limit
        self._sized: tuple[Mapping[str, Any], int] | None = None

    # -- reading ---------------------------------------------------------------------

    def __contains__(self, name: str) -> bool:
        return name in self.store

    def __iter__(self) -> Iterator[str]:
        return iter(self.store)

    def get(self, name: str, default: Any = None) -> Any:
        return self.store.get(name, default)

    def snapshot(self) -> dict[str, Any]:
        return self.store.snapshot()

    def current(self) -> Mapping[str, Any]:
        """The values now, without a copy; read only (`Environment.current`)."""
        return self.store.current()

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(changed, removed)` after every change (for Environment events)."""
        self.store.subscribe(listener)

    def stored_hint(self, *names: str) -> str:
        """Where stored values of `names` come from and how to change them, for the errors
        and warnings values left by an earlier session cause."""
        where = (f"the environment file {self.store.path}" if self.store.path is not None
                 else "the environment")
        if len(names) == 1:
            (name,) = names
            return (f"{name} comes from {where}: `senv {name} VALUE` changes it, "
                    f"`usenv {name}` clears it, `macroserver run --env FILE` starts from "
                    "another file")
        return (f"{', '.join(names)} come from {where}: `senv NAME VALUE` changes one, "
                "`usenv NAME` clears it, `macroserver run --env FILE` starts from another file")

    # -- writing ---------------------------------------------------------------------

    def update(self, changes: Mapping[str, Any], remove: Iterable[str] = (),
               write: bool = True, sync: bool = True) -> None:
        """Check, then set `changes` and remove `remove` in one atomic write; EnvError
        naming the variable and the problem (or the file that cannot be written) when
        anything is refused (nothing changes). `write` False: written at the next
        `write_pending`; `sync` False: written, synced there (`Environment.update`)."""
        changes, remove = dict(changes), list(remove)
        with self.store.lock:
            bound = self._check(changes, remove)
            self.store.update(changes, remove, write, sync)
            self._sized = (self.store.current(), bound)

    def write_pending(self) -> None:
        """Write and sync what was changed with `write=False` or `sync=False` (returns
        once it is on disk)."""
        self.store.write_pending()

    def set(self, name: str, value: Any) -> None:
        self.update({name: value})

    def unset(self, *names: str) -> None:
        self.update({}, names)

    def modify(self, name: str, change: Callable[[Any], Any], sync: bool = True) -> Any:
        """Set `name` to `change(current value or None)` and return the new value: a
        read-modify-write (ScanHistory, ScanID) that no other door's change can slip into."""
        with self.store.lock:
            value = change(self.store.get(name))
            self.update({name: value}, sync=sync)
            return value

    def next_scan_id(self, sync: bool = True) -> int:
        """Increment `ScanID` and write it, so no number is ever given twice, even after
        a kill; EnvError when the file cannot be written (the number is not taken).
        `sync` False: synced at `write_pending`, which a scan calls before any file names
        it (a crash of the machine before then may lose it, a kill of the process not)."""
        def increment(current: Any) -> int:
            current = 0 if current is None else current
            if not isinstance(current, int) or isinstance(current, bool) or current < 0:
                raise EnvError(f"ScanID must be a non-negative integer, not {current!r}")
            return current + 1

        return int(self.modify("ScanID", increment, sync))

    def _check(self, changes: dict[str, Any], remove: list[str]) -> int:
        """Refuse what cannot be stored; returns an upper bound of the size after."""
        before = self.store.current()
        after = {**before, **changes}  # read only: no copy of every value
        for name in remove:
            after.pop(name, None)
        for name, value in changes.items():
            check_name(name)
            check_env_value(scoped_name(name)[1], value, self._server, after)  # door.ScanFile
        check_scan_files(changes, after, self._server)
        sized = self._sized  # for these very values (a change by another route: measured)
        return check_env_size(after, changes, sized[1] if sized and sized[0] is before else None)


class EnvView:
    """The environment as one macro on one door sees it (Sardana's scopes).

    `door.macro.Name`, `door.Name`, `macro.Name` and `Name` are looked up in this order,
    most specific first, so two doors (or two macros) can use different values, for
    example different ScanFiles. Writes go to the names given, through the checked
    `ServerEnvironment.update`.
    """

    def __init__(self, env: ServerEnvironment, door: str, macro: str) -> None:
        self.server_env = env
        self._door = door.lower()
        self._macro = macro
        self._scopes = ("", macro, self._door, f"{self._door}.{macro}")  # least specific first

    def _key(self, name: str) -> str | None:
        for scope in reversed(self._scopes):
            key = f"{scope}.{name}" if scope else name
            if key in self.server_env:
                return key
        return None

    def _visible(self, key: str) -> bool:
        return scoped_name(key)[0] in self._scopes

    def __contains__(self, name: str) -> bool:
        return self._key(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({scoped_name(k)[1] for k in self.server_env if self._visible(k)}))

    def get(self, name: str, default: Any = None) -> Any:
        key = self._key(name)
        return default if key is None else self.server_env.get(key)

    def snapshot(self) -> dict[str, Any]:
        """Every visible variable with the value that applies here, copied."""
        return self._applying(self.server_env.snapshot())

    def current(self) -> Mapping[str, Any]:
        """`snapshot` without copying the values (a scan's start reads it twice): read
        only, as `Environment.current`; a later change does not alter it."""
        return MappingProxyType(self._applying(self.server_env.current()))

    def _applying(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The value of each name visible here, from its most specific scope in `values`."""
        chosen: dict[str, tuple[int, Any]] = {}
        for key, value in values.items():
            scope, name = scoped_name(key)
            if scope in self._scopes:
                rank = self._scopes.index(scope)
                if name not in chosen or chosen[name][0] < rank:
                    chosen[name] = (rank, value)
        return {name: chosen[name][1] for name in sorted(chosen)}

    def update(self, changes: Mapping[str, Any], remove: Iterable[str] = (),
               write: bool = True, sync: bool = True) -> None:
        self.server_env.update(changes, remove, write, sync)

    def set(self, name: str, value: Any) -> None:
        self.server_env.set(name, value)

    def unset(self, *names: str) -> None:
        self.server_env.unset(*names)

    def modify(self, name: str, change: Callable[[Any], Any]) -> Any:
        return self.server_env.modify(name, change)

    def next_scan_id(self, sync: bool = True) -> int:
        return self.server_env.next_scan_id(sync)

    def write_pending(self) -> None:
        self.server_env.write_pending()
