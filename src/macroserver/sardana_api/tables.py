"""`Table` and `List` as Sardana's macro module offers them: text tables a macro
prints with `for line in table.genOutput(): self.output(line)`."""

from __future__ import annotations

from typing import Any, Sequence


class List:
    """Rows under a header, columns as wide as their widest cell."""

    def __init__(self, header: Sequence[str], header_separator: str = "-",
                 text_alignment: str = ">", col_sep: str = "  ", max_col_width: int = -1,
                 **kwargs: Any) -> None:
        self.header = [str(h) for h in header]
        self.header_separator = header_separator
        self.text_alignment = text_alignment
        self.col_sep = col_sep
        self.max_col_width = max_col_width
        self.rows: list[list[str]] = []

    def appendRow(self, row: Sequence[Any]) -> None:  # noqa: N802 (Sardana's names)
        self.rows.append([str(c) for c in row])

    def __len__(self) -> int:
        return len(self.rows)

    def genOutput(self) -> list[str]:  # noqa: N802
        columns = max([len(self.header), *(len(r) for r in self.rows)])
        table = [self.header + [""] * (columns - len(self.header))]
        table += [r + [""] * (columns - len(r)) for r in self.rows]
        widths = [max(len(row[i]) for row in table) for i in range(columns)]
        if self.max_col_width > 0:
            widths = [min(w, self.max_col_width) for w in widths]

        def line(row: list[str]) -> str:
            return self.col_sep.join(f"{cell[:w]:{self.text_alignment}{w}}"
                                     for cell, w in zip(row, widths))

        lines = [line(table[0])]
        if self.header_separator:
            lines.append(self.col_sep.join(self.header_separator * w for w in widths))
        return lines + [line(row) for row in table[1:]]


class Table:
    """Columns of values (`elem_list` is a list of columns), with optional column and
    row heads."""

    def __init__(self, elem_list: Sequence[Sequence[Any]], elem_fmt: Sequence[str] = ("%*s",),
                 term_width: int | None = None, col_head_str: Sequence[Any] | None = None,
                 col_head_fmt: str = "%*s", col_head_width: int | None = None,
                 col_head_sep: str = "-", col_sep: str = " ",
                 row_head_str: Sequence[Any] | None = None, row_head_fmt: str = "%-*s",
                 row_head_width: int | None = None, row_sep: str = "", **kwargs: Any) -> None:
        self.columns = [list(c) for c in elem_list]
        self.elem_fmt = list(elem_fmt)
        self.col_head = [str(h) for h in col_head_str] if col_head_str else None
        self.col_head_sep = col_head_sep
        self.col_sep = col_sep
        self.row_head = [str(h) for h in row_head_str] if row_head_str else None
        self.width = col_head_width

    def _cell(self, value: Any, row: int, width: int) -> str:
        fmt = self.elem_fmt[min(row, len(self.elem_fmt) - 1)]
        try:
            return fmt % (width, value) if "*" in fmt else fmt % value
        except (TypeError, ValueError):
            return f"{value!s:>{width}}"

    def genOutput(self) -> list[str]:  # noqa: N802
        rows = max((len(c) for c in self.columns), default=0)
        width = self.width or max([8, *(len(h) for h in self.col_head or ()),
                                   *(len(str(v)) for c in self.columns for v in c)])
        head_width = max((len(h) for h in self.row_head or ()), default=0)
        lines = []
        if self.col_head:
            lines.append(" " * (head_width + (1 if self.row_head else 0)) + self.col_sep.join(
                f"{h:>{width}}" for h in self.col_head))
            if self.col_head_sep:
                lines.append(self.col_head_sep * len(lines[0]))
        for r in range(rows):
            cells = [self._cell(c[r], r, width) if r < len(c) else " " * width
                     for c in self.columns]
            head = f"{self.row_head[r]:<{head_width}} " if self.row_head else ""
            lines.append(head + self.col_sep.join(cells))
        return lines
