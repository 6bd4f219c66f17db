"""Plain-text tables for listing macros (wa, wm, lsm, lsenv, ...)."""

from __future__ import annotations

from typing import Sequence


def table_lines(rows: Sequence[Sequence[str]], numbers_right: bool = False) -> list[str]:
    """Columns padded to their widest cell; the first column is always left-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(w) if numbers_right and i else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines
