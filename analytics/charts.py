"""Server-rendered SVG charts for the admin dashboard: no JavaScript, no CDN, readable without CSS.

Each function returns markup safe to put in a template: an <svg> with a <title> and <desc> for
screen readers, and a <title> on every point or bar so hovering shows the exact value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2")


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]
    color: str = PALETTE[0]


@dataclass(frozen=True)
class Threshold:
    label: str
    value: float
    color: str = "#dc2626"


def _number(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def _percent(value: float) -> str:
    return f"{value * 100:.2f}%".replace(".00%", "%")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def line_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    thresholds: Sequence[Threshold] = (),
    percent: bool = False,
    width: int = 640,
    height: int = 240,
) -> SafeString:
    fmt: Callable[[float], str] = _percent if percent else _number
    left, right, top, bottom = 56, 16, 24, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([v for s in series for v in s.values if v is not None] + [t.value * 1.25 for t in thresholds] + [0])
    y_max = _nice_max(peak)
    n = max(len(labels), 1)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / y_max

    parts = [_open(title, width, height, f"{len(series)} series over {len(labels)} days")]
    for step in range(5):
        value = y_max * step / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end" class="tick">{escape(fmt(value))}</text>'
        )
    every = max(1, n // 8)
    for i, label in enumerate(labels):
        if i % every == 0 or i == n - 1:
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - 14}" text-anchor="middle" class="tick">{escape(label)}</text>'
            )
    for threshold in thresholds:
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(threshold.value):.1f}" y2="{y(threshold.value):.1f}" '
            f'stroke="{threshold.color}" stroke-dasharray="6 4" class="threshold"><title>{escape(threshold.label)}: '
            f"{escape(fmt(threshold.value))}</title></line>"
            f'<text x="{width - right}" y="{y(threshold.value) - 4:.1f}" text-anchor="end" class="tick" '
            f'fill="{threshold.color}">{escape(threshold.label)} {escape(fmt(threshold.value))}</text>'
        )
    for item in series:
        points = [(x(i), y(v), v, labels[i]) for i, v in enumerate(item.values) if v is not None and i < len(labels)]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{item.color}" stroke-width="2"/>')
        for px, py, value, label in points:
            parts.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{item.color}">'
                f"<title>{escape(item.label)} {escape(label)}: {escape(fmt(value))}</title></circle>"
            )
    parts.append(_legend(series, left, 14))
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every interpolated text is escaped above)


def bar_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    percent: bool = False,
    width: int = 640,
    max_value: float | None = None,
) -> SafeString:
    """Horizontal bars, one group per label, one bar per series."""
    fmt: Callable[[float], str] = _percent if percent else _number
    bar_h, gap, left, right, top = 14, 10, 190, 70, 28
    group_h = bar_h * len(series) + gap
    height = top + max(len(labels), 1) * group_h + 8
    peak = max_value or _nice_max(max([v or 0 for s in series for v in s.values] + [0]))
    plot_w = width - left - right
    parts = [_open(title, width, height, f"{len(labels)} bars")]
    if not labels:
        parts.append(
            f'<text x="{width / 2}" y="{top + 20}" text-anchor="middle" class="tick">No data in this range</text>'
        )
    for i, label in enumerate(labels):
        y0 = top + i * group_h
        short = label if len(label) <= 30 else label[:29] + "…"
        parts.append(
            f'<text x="{left - 8}" y="{y0 + bar_h * len(series) / 2 + 4:.1f}" text-anchor="end" class="label">'
            f"<title>{escape(label)}</title>{escape(short)}</text>"
        )
        for j, item in enumerate(series):
            value = item.values[i] or 0
            w = plot_w * min(value / peak, 1) if peak else 0
            yy = y0 + j * bar_h
            parts.append(
                f'<rect x="{left}" y="{yy}" width="{max(w, 1):.1f}" height="{bar_h - 3}" fill="{item.color}" rx="2">'
                f"<title>{escape(item.label)} — {escape(label)}: {escape(fmt(value))}</title></rect>"
                f'<text x="{left + w + 6:.1f}" y="{yy + bar_h - 5}" class="tick">{escape(fmt(value))}</text>'
            )
    if len(series) > 1:
        parts.append(_legend(series, left, 14))
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every interpolated text is escaped above)


def _open(title: str, width: int, height: int, desc: str) -> str:
    return (
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>"
    )


def _legend(series: Sequence[Series], x0: int, y0: int) -> str:
    parts, x = [], x0
    for item in series:
        parts.append(
            f'<rect x="{x}" y="{y0 - 9}" width="10" height="10" fill="{item.color}" rx="2"/>'
            f'<text x="{x + 14}" y="{y0}" class="legend">{escape(item.label)}</text>'
        )
        x += 22 + 7 * len(item.label)
    return "".join(parts)
