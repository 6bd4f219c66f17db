"""Which Sardana-style macro runs in this thread (the innermost of nested calls).

Element adapters are made when parameters are parsed, before any macro runs; they use
this to wait the way the running macro waits (a stop or abort halts the move or count
and ends the wait).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

_local = threading.local()


def _stack() -> list[Any]:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def current() -> Any | None:
    """The innermost running macro of this thread (None outside macros)."""
    stack = _stack()
    return stack[-1] if stack else None


@contextmanager
def running(macro: Any) -> Iterator[None]:
    """Mark `macro` as this thread's innermost running macro while the block runs."""
    _stack().append(macro)
    try:
        yield
    finally:
        _stack().pop()


def wait(done: Callable[[float], bool], halt: Callable[[], None]) -> None:
    """Wait for `done(timeout)`; inside a macro a stop or abort calls `halt` and raises."""
    macro = current()
    if macro is not None:
        macro.context.control.wait_until(done, halt)
        return
    while not done(0.05):
        pass
