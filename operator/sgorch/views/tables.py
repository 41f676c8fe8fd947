"""Column-aligned text tables, laid out as kubectl lays out its own: ``get`` tables
with kubectl's tab-writer spacing, ``describe`` sections as indented sub-tables."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["NONE", "render_fields", "render_section_table", "render_table"]

NONE = "<none>"
"""What kubectl prints for an empty value; a blank cell would shift the columns."""

_MIN_WIDTH = 6
_PADDING = 3


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A ``get`` table: each column as wide as its widest cell plus 3 spaces (at least 6),
    the last column unpadded, no trailing spaces; ends with a newline."""
    return _render([list(header), *(list(r) for r in rows)], min_width=_MIN_WIDTH, padding=_PADDING)


def render_section_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, indent: str = "  "
) -> str:
    """A ``describe`` sub-table: a header underlined with dashes, columns 2 apart."""
    underline = ["-" * len(h) for h in header]
    lines = _render(
        [list(header), underline, *(list(r) for r in rows)], min_width=0, padding=2
    ).splitlines()
    return "".join(f"{indent}{line}".rstrip() + "\n" for line in lines)


def render_fields(fields: Sequence[tuple[str, str]]) -> str:
    """``Label:  value`` lines with the values aligned, as at the top of ``describe``."""
    width = max((len(label) for label, _ in fields), default=0) + 3  # colon, 2 spaces
    return "".join(f"{label + ':':<{width}}{value}".rstrip() + "\n" for label, value in fields)


def _render(rows: list[list[str]], *, min_width: int, padding: int) -> str:
    columns = max(len(r) for r in rows)
    cells = [[_one_line(c) for c in r] + [""] * (columns - len(r)) for r in rows]
    widths = [max(min_width, max(len(r[i]) for r in cells) + padding) for i in range(columns)]
    lines = []
    for row in cells:
        line = "".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + row[-1]
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def _one_line(cell: str) -> str:
    """A cell cannot span lines without breaking every column after it."""
    return " ".join(cell.split("\n")) if "\n" in cell else cell
