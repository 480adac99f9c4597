"""Small SVG charts drawn on the server, inline in the page: nothing to download.

Each chart is a ``<figure>``: a visible caption, and a self-contained ``<svg>`` with a text
alternative (``role="img"`` and a ``<title>``), so the page works without JavaScript and
reads aloud sensibly.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

BLUE = "#2563eb"
ORANGE = "#ea580c"
GREEN = "#16a34a"
RED = "#dc2626"
AMBER = "#d97706"


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg></figure>"
    )


def _number(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def bar_chart(
    title: str,
    rows: Sequence[tuple[str, Sequence[float]]],
    series: Sequence[tuple[str, str]],
    width: int = 640,
) -> str:
    """Horizontal bars, one group per row: ``rows`` = (label, one value per series)."""
    label_width, bar_height, gap = 230, 14, 8
    legend = 24
    height = legend + len(rows) * (bar_height * len(series) + gap) + gap
    top = max((max(values, default=0) for _, values in rows), default=0) or 1
    scale = (width - label_width - 60) / top
    body = []
    x = label_width
    for name, color in series:
        body.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{color}"/>')
        body.append(f'<text x="{x + 16}" y="14" font-size="12">{escape(name)}</text>')
        x += 24 + 8 * len(name)
    y = legend + gap
    for label, values in rows:
        shown = label if len(label) <= 34 else label[:33] + "…"
        middle = y + bar_height * len(series) / 2 + 4
        body.append(
            f'<text x="{label_width - 8}" y="{middle:.0f}" font-size="12" text-anchor="end">'
            f"<title>{escape(label)}</title>{escape(shown)}</text>"
        )
        for (name, color), value in zip(series, values, strict=True):
            length = max(value * scale, 1 if value else 0)
            body.append(
                f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height - 2}"'
                f' fill="{color}"><title>{escape(name)}: {_number(value)}</title></rect>'
            )
            body.append(
                f'<text x="{label_width + length + 4:.1f}" y="{y + bar_height - 4}"'
                f' font-size="11" fill="#374151">{_number(value)}</text>'
            )
            y += bar_height
        y += gap
    return _svg(width, height, title, body)


def column_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    color: str = BLUE,
    width: int = 640,
    height: int = 180,
) -> str:
    """Vertical columns over time (``labels`` are days), with the largest value marked."""
    left, bottom, top_margin = 44, 26, 12
    count = max(len(values), 1)
    top = max(values, default=0) or 1
    step = (width - left - 8) / count
    plot = height - bottom - top_margin
    body = [
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 4}" y2="{height - bottom}"'
        ' stroke="#d1d5db"/>',
        f'<text x="{left - 6}" y="{top_margin + 4}" font-size="11" text-anchor="end">'
        f"{_number(top)}</text>",
        f'<text x="{left - 6}" y="{height - bottom}" font-size="11" text-anchor="end">0</text>',
    ]
    every = max(1, count // 8)
    for n, (label, value) in enumerate(zip(labels, values, strict=True)):
        bar = value / top * plot
        x = left + n * step + step * 0.15
        body.append(
            f'<rect x="{x:.1f}" y="{height - bottom - bar:.1f}" width="{step * 0.7:.1f}"'
            f' height="{bar:.1f}" fill="{color}"><title>{escape(label)}: {_number(value)}'
            "</title></rect>"
        )
        if n % every == 0:
            body.append(
                f'<text x="{x + step * 0.35:.1f}" y="{height - 8}" font-size="10"'
                f' text-anchor="middle">{escape(label)}</text>'
            )
    return _svg(width, height, title, body)


def stacked_bar(title: str, parts: Sequence[tuple[str, float, str]], width: int = 640) -> str:
    """One bar split into shares (votes up / down / still stuck), with a legend."""
    total = sum(value for _, value, _ in parts)
    body = []
    x = 0.0
    for name, value, color in parts:
        share = (value / total * width) if total else 0
        if share:
            body.append(
                f'<rect x="{x:.1f}" y="0" width="{share:.1f}" height="22" fill="{color}">'
                f"<title>{escape(name)}: {_number(value)}</title></rect>"
            )
        x += share
    if not total:
        body.append(f'<rect x="0" y="0" width="{width}" height="22" fill="#e5e7eb"/>')
    x = 0
    for name, value, color in parts:
        body.append(f'<rect x="{x}" y="32" width="12" height="12" fill="{color}"/>')
        text = f"{name} {_number(value)}"
        body.append(f'<text x="{x + 16}" y="42" font-size="12">{escape(text)}</text>')
        x += 40 + 8 * len(text)
    return _svg(width, 50, title, body)


def meter(title: str, fraction: float | None, caption: str, width: int = 640) -> str:
    """A share of a whole (adoption), as a filled bar with its percentage."""
    body = [f'<rect x="0" y="0" width="{width}" height="22" rx="4" fill="#e5e7eb"/>']
    if fraction is not None:
        filled = max(0.0, min(1.0, fraction)) * width
        body.append(f'<rect x="0" y="0" width="{filled:.1f}" height="22" rx="4" fill="{GREEN}"/>')
    body.append(f'<text x="0" y="42" font-size="12">{escape(caption)}</text>')
    return _svg(width, 50, title, body)
