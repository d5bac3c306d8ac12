"""Fit a table to a terminal's width with whole columns: the most important first, each kept only where it fits
whole. A cell is never cut nor wrapped; a header may break between its words, never inside one. What is left out
is for the caller to say under the table (or to leave to a wider terminal and `--json`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich import box
from rich.markup import escape as _markup_escape
from rich.table import Column, Table
from rich.text import Text

from rungwise.textsafe import safe_text


def escape(text: str) -> str:
    """Text from data, a server or a task file, made safe for the terminal: no control characters, no markup."""
    return _markup_escape(safe_text(text))

#: what the default box adds to a table's width: "│ " before each column, " " after it, and the last "│"; a
#: bare table (no edges, a rule under its header) has three spaces between columns and nothing at its edges
_PER_COLUMN = 3
_EDGE = {False: 1, True: -3}
#: the narrowest a column that folds is made
_FOLDED = 10


@dataclass(frozen=True)
class Col:
    """A column: its header (plain text), its cells (rich markup, already escaped) and its rank (0 first)."""

    header: str
    cells: Sequence[str]
    justify: Literal["left", "right"] = "right"
    rank: int = 0
    #: its cells may break over lines (a long URL), where the columns always shown do not fit whole otherwise
    fold: bool = False

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
    """The columns that fit `width`, in their order. By rank: the first `always`, a `fold` one among them narrowed
    (down to 10) where they do not fit whole, and the least important of them left out while they still do not
    (never the first two); then each other one that still fits. Where the width leaves room, headers go on one
    line, those that need the least room first."""
    ranked = sorted(range(len(columns)), key=lambda i: columns[i].rank)
    kept = ranked[:always]
    widths = {i: columns[i].width for i in kept}

    def used() -> int:
        return sum(widths.values()) + _PER_COLUMN * len(widths) + _EDGE[bare]

    for i in (i for i in kept if columns[i].fold):
        widths[i] -= max(0, min(used() - width, widths[i] - _FOLDED))
    while used() > width and len(widths) > 2:
        del widths[kept.pop()]
    for i in (i for i in kept if columns[i].fold):  # what dropping a column left, back to the folded one
        widths[i] = min(columns[i].width, widths[i] + max(0, width - used()))
    for i in ranked[always:]:
        if used() + columns[i].width + _PER_COLUMN <= width:
            widths[i] = columns[i].width
    for i in sorted(widths, key=lambda i: (columns[i].wide - columns[i].width, columns[i].rank)):  # most headers
        grow = columns[i].wide - widths[i]
        if grow > 0 and used() + grow <= width:
            widths[i] += grow
    return [Fitted(c, widths[i]) for i, c in enumerate(columns) if i in widths]


def build(columns: Sequence[Fitted], title: str | None = None, *, bare: bool = False) -> Table:
    """A rich table of fitted columns, each exactly as wide as it was fitted."""
    table = Table(*(Column(f.col.header, justify=f.col.justify, min_width=f.width, max_width=f.width,
                           overflow="fold" if f.col.fold else "ellipsis") for f in columns), title=title, box=box.SIMPLE_HEAD if bare else box.HEAVY_HEAD,
                  show_edge=not bare, pad_edge=not bare, title_justify="left" if bare else "center")
    for row in zip(*(f.col.cells for f in columns), strict=True):
        table.add_row(*row)
    return table
