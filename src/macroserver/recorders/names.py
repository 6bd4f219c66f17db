"""Column names made safe and unique for a file format (SPEC labels, NeXus names)."""

from __future__ import annotations

from typing import Iterable


def make_unique(names: Iterable[str]) -> list[str]:
    """Names made unique with `_2`, `_3` suffixes (readers look columns up by name)."""
    seen: set[str] = set()
    out = []
    for base in names:
        name, n = base, 1
        while name in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name)
        out.append(name)
    return out
