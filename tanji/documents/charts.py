"""Inline SVG bar charts of the four life-cycle stages (decision 0012).

Hand-built rather than plotted: a few rectangles whose labels stay text, so the figures are
searchable in the PDF and checkable in tests, and no second font machinery is involved.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

WIDTH = 640
LABEL_MIN, LABEL_MAX = 120, 330   # the stage names' column, sized to the longest label
VALUE_W = 150          # room right of the longest bar for its figure
ROW_H = 30
BAR_H = 18
TOP = 26               # the title's line
COLOURS = ("#2f6b4f", "#4f8f6f", "#8fb99f", "#c5dccd")


@dataclass(frozen=True)
class Bar:
    label: str
    value: float


def stage_bars(title: str, bars: Sequence[Bar], fmt: Callable[[float], str], unit: str) -> Markup:
    """A horizontal bar chart: one bar per stage, its length proportional to its value, the figure beside it.

    A zero (or, defensively, negative) value draws no bar but keeps its row and its figure."""
    top = max((b.value for b in bars), default=0.0)
    label_w = min(LABEL_MAX, max([LABEL_MIN, *(_text_width(b.label) + 14 for b in bars)]))
    span = WIDTH - label_w - VALUE_W
    height = TOP + ROW_H * len(bars) + 6
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{WIDTH}" '
             f'height="{height}" viewBox="0 0 {WIDTH} {height}" aria-label={quoteattr(title)}>',
             f'<text x="0" y="16" font-size="11" font-weight="bold" fill="#1f4e3d">{escape(title)}</text>',
             f'<line x1="{label_w}" y1="{TOP - 4}" x2="{label_w}" y2="{height - 2}" stroke="#777777" '
             'stroke-width="1"/>']
    for i, b in enumerate(bars):
        y = TOP + i * ROW_H
        length = span * b.value / top if top > 0 and b.value > 0 else 0.0
        parts.append(f'<text x="{label_w - 8}" y="{y + BAR_H - 4}" text-anchor="end" font-size="10.5" fill="#222222">'
                     f'{escape(b.label)}</text>')
        if length > 0:
            parts.append(f'<rect x="{label_w}" y="{y}" width="{max(length, 1.0):.2f}" height="{BAR_H}" '
                         f'fill="{COLOURS[i % len(COLOURS)]}"/>')
        parts.append(f'<text x="{label_w + length + 6:.2f}" y="{y + BAR_H - 4}" font-size="10.5" fill="#222222">'
                     f'{escape(fmt(b.value))} {escape(unit)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _text_width(text: str) -> float:
    """Roughly how wide `text` is at the charts' 10.5 px: a CJK character is square, Latin about half."""
    return sum(10.5 if ord(ch) > 0x2E80 else 6.0 for ch in text)
