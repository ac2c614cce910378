"""Small server-rendered SVG charts: bars for the merchant's pages, steps for a device's
heartbeats. No script, no CDN, readable on a phone, every label escaped. A chart is drawn from
(label, value) pairs; negative values (a day of refunds) hang below the axis."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

WIDTH = 640
HEIGHT = 220
PAD_LEFT = 8
PAD_BOTTOM = 28
PAD_TOP = 16


def bar_chart(
    points: Sequence[tuple[str, int]], title: str, value_label: Callable[[int], str] = str
) -> str:
    """An SVG bar chart; ``value_label`` words a value (money, counts) for each bar's tooltip
    and for the largest value written on the chart."""
    if not points:
        return ""
    high = max(0, *(v for _, v in points))
    low = min(0, *(v for _, v in points))
    span = (high - low) or 1
    plot = HEIGHT - PAD_TOP - PAD_BOTTOM
    zero_y = PAD_TOP + plot * high / span
    step = (WIDTH - PAD_LEFT) / len(points)
    bar = max(step * 0.7, 1.0)
    # Label every bar while they fit; else about a dozen evenly.
    every = max(1, round(len(points) / 12))
    parts = _frame(title, zero_y, value_label(high))
    for index, (label, value) in enumerate(points):
        x = PAD_LEFT + index * step + (step - bar) / 2
        height = plot * abs(value) / span
        y = zero_y - height if value >= 0 else zero_y
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}"'
            f' class="{"bar" if value >= 0 else "bar negative"}">'
            f"<title>{escape(label)}: {escape(value_label(value))}</title></rect>"
        )
        if index % every == 0:
            parts.append(_label(x + bar / 2, label))
    parts.append("</svg>")
    return "".join(parts)


def step_chart(
    points: Sequence[tuple[str, int]], title: str, value_label: Callable[[int], str] = str
) -> str:
    """An SVG step chart of values at or above zero (a backlog over time): each value holds
    until the next; a dot per point carries its tooltip."""
    if not points:
        return ""
    high = max(1, *(v for _, v in points))
    plot = HEIGHT - PAD_TOP - PAD_BOTTOM
    step = (WIDTH - PAD_LEFT) / len(points)
    every = max(1, round(len(points) / 6))
    parts = _frame(title, PAD_TOP + plot, value_label(high))
    path, dots = [], []
    for index, (label, value) in enumerate(points):
        x = PAD_LEFT + index * step
        y = PAD_TOP + plot * (1 - max(0, value) / high)
        path.append(f"H{x:.1f} V{y:.1f}" if index else f"M{x:.1f} {y:.1f}")
        dots.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" class="dot">'
            f"<title>{escape(label)}: {escape(value_label(value))}</title></circle>"
        )
        if index % every == 0:
            parts.append(_label(x, label))
    path.append(f"H{WIDTH}")
    parts.append(f'<path d="{" ".join(path)}" class="line"/>')
    parts.extend(dots)
    parts.append("</svg>")
    return "".join(parts)


def _frame(title: str, zero_y: float, high_label: str) -> list[str]:
    """The opening of a chart: its title, the zero axis and the largest value written."""
    return [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
        f' aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="0" x2="{WIDTH}" y1="{zero_y:.1f}" y2="{zero_y:.1f}" class="axis"/>',
        f'<text x="{PAD_LEFT}" y="{PAD_TOP - 4}" class="scale">{escape(high_label)}</text>',
    ]


def _label(x: float, label: str) -> str:
    return (
        f'<text x="{x:.1f}" y="{HEIGHT - 8}" class="label" text-anchor="middle">'
        f"{escape(label)}</text>"
    )
