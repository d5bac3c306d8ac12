"""Where a chart's words go: their width estimated without a browser, and point labels placed so that none
overlaps another label, a point or the edge of the plot (a label moved away from its point gets a leader line).

The widths are those of DejaVu Sans (what `system-ui` falls back to where no other font is installed), the widest
font a report is likely to be read in, so that an estimate errs on the side of room."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

#: advance widths in em: narrow punctuation and letters, wide letters, the rest by case
_NARROW = frozenset("ijlrtfI.,:;'!|()[] -/")
_WIDE = frozenset("mwMW@%")
#: how much wider bold text runs
_BOLD = 1.12


def text_width(text: str, size: float = 12.0, *, bold: bool = False) -> float:
    """The width in px of `text` at `size` px, a little over what a browser draws."""
    em = sum(0.36 if c in _NARROW else 0.98 if c in _WIDE else 0.72 if c.isupper() else 0.64 for c in text)
    return em * size * (_BOLD if bold else 1.0)


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    def hits(self, other: Box) -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1

    def inside(self, bounds: Box) -> bool:
        return self.x0 >= bounds.x0 and self.x1 <= bounds.x1 and self.y0 >= bounds.y0 and self.y1 <= bounds.y1


@dataclass(frozen=True)
class Label:
    """A placed label: its text's anchor point (`x`, baseline `y`, `anchor`), and whether it sits away from its
    point (then a leader line joins them, from `px`, `py`)."""

    text: str
    x: float
    y: float
    anchor: Literal["start", "end"]
    px: float
    py: float
    box: Box

    @property
    def leader(self) -> bool:
        return abs(self.y - 4 - self.py) > 6


#: vertical steps tried, nearest first: beside the point, then above and below it, further each time
_STEPS = (0, -14, 14, -28, 28, -42, 42, -56, 56, -70, 70)
_GAP = 9  # px between a point's centre and its label


def place(points: Sequence[tuple[float, float, str]], bounds: Box, *, size: float = 12.0, radius: float = 7.0,
          avoid: Sequence[tuple[float, float]] = ()) -> list[Label]:
    """A label for each (x, y, text), in order, each beside its point where that is free, else the nearest free
    place above or below it (on the side with more room first), inside `bounds`. Free: no other label there, no
    point (`avoid` and the labelled points, `radius` around each). Where nothing is free, beside the point."""
    obstacles = [Box(x - radius, y - radius, x + radius, y + radius) for x, y in [*avoid, *((p[0], p[1]) for p in points)]]
    placed: list[Label] = []
    middle = (bounds.x0 + bounds.x1) / 2
    for px, py, text in points:
        w = text_width(text, size)
        sides: tuple[Literal["start", "end"], ...] = ("start", "end") if px < middle else ("end", "start")
        chosen = None
        for dy in _STEPS:
            for side in sides:
                label = _label(text, px, py, dy, side, w, size)
                if label.box.inside(bounds) and not any(label.box.hits(o) for o in obstacles) \
                        and not any(label.box.hits(p.box) for p in placed):
                    chosen = label
                    break
            if chosen is not None:
                break
        placed.append(chosen or _label(text, px, py, 0, sides[0], w, size))
    return placed


def _label(text: str, px: float, py: float, dy: float, side: Literal["start", "end"], w: float, size: float) -> Label:
    y = py + 4 + dy  # the baseline: a 12 px text centred on the point's height
    x = px + _GAP if side == "start" else px - _GAP
    x0 = x if side == "start" else x - w
    return Label(text, x, y, side, px, py, Box(x0, y - size + 2, x0 + w, y + 3))
