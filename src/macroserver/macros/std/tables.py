"""Plain-text tables for listing macros (wa, wm, lsm, lsenv, ...)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence


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


def stats_table(stats: Mapping[str, Mapping[str, Mapping[str, Any]]], motors: Sequence[str],
                channels: Sequence[str], width: int = 80) -> list[str]:
    """The lines `scanstats` shows: one column per channel, rows MIN, MAX, MEAN, INT,
    then per motor MIN@, MAX@, COM, FWHM, CEN (Sardana's layout)."""
    heads = ["MIN", "MAX", "MEAN", "INT"]
    for motor in motors:
        heads += [motor, " MIN@", " MAX@", " COM", " FWHM", " CEN"]
    first = motors[0]
    columns = []
    for channel in channels:
        cells = [_g(stats[first][channel][k]) for k in ("min", "max", "mean", "int")]
        for motor in motors:
            values = stats[motor][channel]
            cells += [""] + [_g(values[k]) for k in ("minpos", "maxpos", "com", "fwhm", "cen")]
        columns.append(cells)
    return sardana_table(heads, list(channels), columns, width)


def _g(value: Any) -> str:
    return "nan" if value is None else "%g" % value


def sardana_table(row_heads: Sequence[str], col_heads: Sequence[str],
                  columns: Sequence[Sequence[str]], width: int = 80) -> list[str]:
    """A table as Sardana's macros print them: row heads left, each column as wide as
    the widest column head (cells right-aligned), a dashed line under the heads, and
    as many columns side by side as fit in `width`, then the next ones below."""
    head_width = max(len(h) for h in row_heads)
    cell_width = max(len(h) for h in col_heads)
    per_block = max(1, (width - cell_width - head_width - 1) // (cell_width + 1) + 1)
    lines: list[str] = []
    for start in range(0, len(columns), per_block):
        if start:
            lines.append(" " * (cell_width + (per_block - 1) * (cell_width + 1)
                                + head_width + 1))
        block = range(start, min(start + per_block, len(columns)))
        rows = [" ".join([" " * head_width] + [col_heads[j].rjust(cell_width) for j in block])]
        rows += [" ".join([head.ljust(head_width)]
                          + [columns[j][k].rjust(cell_width) for j in block])
                 for k, head in enumerate(row_heads)]
        lines.append(rows[0])
        lines.append("-" * max(len(r) for r in rows))
        lines += rows[1:]
    return lines


def sardana_list(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A list as Sardana's macros print them (scanhist, lsvo): every column right-aligned
    to its widest cell plus 3, a dashed line under the header."""
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) + 3 for i in range(len(header))]
    lines = ["".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "".join(" " + "-" * (w - 1) for w in widths))
    return lines
