"""Fit a table to a terminal's width with whole columns: the most important first, each kept only where it fits
whole. A cell is never cut nor wrapped; a header may break between its words, never inside one. What is left out
is for the caller to say under the table (or to leave to a wider terminal and `--json`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich import box
from rich.table import Column, Table
from rich.text import Text

#: what the default box adds to a table's width: "│ " before each column, " " after it, and the last "│"; a
#: bare table (no edges, a rule under its header) has three spaces between columns and nothing at its edges
_PER_COLUMN = 3
_EDGE = {False: 1, True: -3}


@dataclass(frozen=True)
class Col:
    """A column: its header (plain text), its cells (rich markup, already escaped) and its rank (0 first)."""

    header: str
    cells: Sequence[str]
    justify: Literal["left", "right"] = "right"
    rank: int = 0

    @property
    def width(self) -> int:
        """The narrowest it can be: its widest cell, or its header's longest word (the header breaks between its
        words)."""
        words = (Text.from_markup(w).cell_len for w in self.header.split())
        return max(self._cells, *words, 0)

    @property
    def wide(self) -> int:
        """Its width with the header on one line."""
        return max(self._cells, Text.from_markup(self.header).cell_len)

    @property
    def _cells(self) -> int:
        return max((Text.from_markup(c).cell_len for c in self.cells), default=0)


@dataclass(frozen=True)
class Fitted:
    """A column as it is drawn: `width` columns wide."""

    col: Col
    width: int


def table_width(columns: Sequence[Col], *, bare: bool = False) -> int:
    """The columns' table at its narrowest, borders included: the width that shows every one of them."""
    return sum(c.width for c in columns) + _PER_COLUMN * len(columns) + _EDGE[bare]


def fit(columns: Sequence[Col], width: int, *, always: int = 1, bare: bool = False) -> list[Fitted]:
    """The columns that fit `width`, in their order: by rank, the `always` first whatever their width, then each
    one that still fits. Where the width leaves room, headers go on one line, those that need the least room first."""
    ranked = sorted(range(len(columns)), key=lambda i: columns[i].rank)
    chosen = set(ranked[:always])
    used = table_width([columns[i] for i in chosen], bare=bare)
    for i in ranked[always:]:
        extra = columns[i].width + _PER_COLUMN
        if used + extra <= width:
            chosen.add(i)
            used += extra
    widths = {i: columns[i].width for i in chosen}
    for i in sorted(chosen, key=lambda i: (columns[i].wide - columns[i].width, columns[i].rank)):  # most headers
        grow = columns[i].wide - widths[i]
        if used + grow <= width:
            widths[i] += grow
            used += grow
    return [Fitted(c, widths[i]) for i, c in enumerate(columns) if i in chosen]


def build(columns: Sequence[Fitted], title: str | None = None, *, bare: bool = False) -> Table:
    """A rich table of fitted columns, each exactly as wide as it was fitted."""
    table = Table(*(Column(f.col.header, justify=f.col.justify, min_width=f.width, max_width=f.width)
                    for f in columns), title=title, box=box.SIMPLE_HEAD if bare else box.HEAVY_HEAD,
                  show_edge=not bare, pad_edge=not bare, title_justify="left" if bare else "center")
    for row in zip(*(f.col.cells for f in columns), strict=True):
        table.add_row(*row)
    return table
