"""Plain-text tables for listing macros (wa, wm, lsm, lsenv, ...)."""

from __future__ import annotations

import textwrap
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
                channels: Sequence[str]) -> list[str]:
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
    return sardana_table(heads, list(channels), columns)


def _g(value: Any) -> str:
    return "nan" if value is None else "%g" % value


def sardana_table(row_heads: Sequence[str], col_heads: Sequence[str],
                  columns: Sequence[Sequence[str]]) -> list[str]:
    """A table as Sardana's scanstats prints it: `column_table` with each column as wide
    as the widest column head and a dashed line under the heads."""
    return column_table(columns, col_heads, max(len(h) for h in col_heads), row_heads,
                        head_rule=True)


def sardana_list(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "",
                 max_widths: Sequence[int] = ()) -> list[str]:
    """A list as Sardana's macros print them (scanhist, lsvo, lsmeas, lsa): each column as
    wide as its widest cell plus 3 (at most `max_widths[i]` when given and >= 0: longer
    text wraps onto more lines), a dashed line under the header. `align` has one letter
    per column, `r` right (the default), `l` left or `c` centred."""
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) + 3 for row in cells) for i in range(len(header))]
    widths = [min(w, m) if m >= 0 else w for w, m in
              zip(widths, [*max_widths, *[-1] * (len(widths) - len(max_widths))])]
    kinds = align.ljust(len(widths), "r")
    lines = []
    for row in cells:
        wrapped = [textwrap.wrap(c, w - 3) or [""] for c, w in zip(row, widths)]
        for k in range(max(len(parts) for parts in wrapped)):
            lines.append("".join(
                _aligned(parts[k], w, kind) if k < len(parts) else " " * w
                for parts, w, kind in zip(wrapped, widths, kinds)))
    lines.insert(1, "".join(" " + "-" * (w - 1) for w in widths))
    return lines


def _aligned(text: str, width: int, kind: str) -> str:
    if kind == "l":
        return " " + text.ljust(width - 1)
    return text.center(width) if kind == "c" else text.rjust(width)


TERM_WIDTH = 80
PRETTY_SEPARATOR = " |"


def column_table(columns: Sequence[Sequence[str]], heads: Sequence[str], width: int,
                 row_heads: Sequence[str] | None = None, pretty: bool = False,
                 head_rule: bool = False) -> list[str]:
    """Sardana's console table (wa, wm, wu, uct): one column per element, headed by its
    name, cells right-aligned to `width` (longer ones are kept whole), the row headings
    left-aligned in front. Columns that do not fit in 80 characters (counted at `width`)
    go on in a further block after a blank line; `head_rule` draws a `-` line under the
    headings; `pretty` (pwa, pwm) that line, `=` borders and ` |` between columns."""
    separator = PRETTY_SEPARATOR if pretty else " "
    head_width = max((len(h) for h in row_heads), default=0) if row_heads else 0
    room = TERM_WIDTH - width - (head_width + len(separator) if row_heads else 0)
    per_block = room // (width + len(separator)) + 1
    block_width = width + (per_block - 1) * (width + len(separator)) + (
        head_width + len(separator) if row_heads else 0)
    starts = ([h.ljust(head_width) + separator for h in ["", *row_heads]] if row_heads
              else [""] * (1 + len(columns[0]) if columns else 1))
    lines: list[str] = []
    for first in range(0, len(columns), per_block):
        if first:
            lines.append(" " * block_width)
        block = list(starts)
        for j in range(first, min(first + per_block, len(columns))):
            gap = separator if j > first else ""
            cells = [heads[j], *columns[j]]
            block = [line + gap + cell.rjust(width) for line, cell in zip(block, cells)]
        rule = max(len(line) for line in block)
        if pretty:
            lines += ["=" * rule, block[0], "-" * rule, *block[1:], "=" * rule]
        elif head_rule:
            lines += [block[0], "-" * rule, *block[1:]]
        else:
            lines += block
    return lines
