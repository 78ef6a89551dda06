"""Small inline SVG charts of a warm-up report, rendered on the server (no chart library).

Every label is escaped; the numbers come from the report. Each chart carries a <title> and an
aria-label, and the page shows the same numbers in a table beside it.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 480, 200
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 40, 28, 16
COLOURS = {"new": "#2563eb", "champion": "#f59e0b"}


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def score_histogram(histograms: dict, *, title: str) -> SafeString | None:
    """Bars of the score distribution of the new version and the champion, side by side."""
    edges = histograms.get("edges")
    if not edges or not histograms.get("new"):
        return None
    series = [(name, histograms[name]) for name in ("new", "champion") if histograms.get(name)]
    bins = len(edges) - 1
    peak = max(max(counts) for _, counts in series) or 1
    plot_w = WIDTH - PAD_LEFT - 8
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_w / bins
    bar = slot / (len(series) + 0.5)
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line x1="{PAD_LEFT}" y1="{HEIGHT - PAD_BOTTOM}" x2="{WIDTH - 8}" y2="{HEIGHT - PAD_BOTTOM}" stroke="#666"/>',
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 4}" font-size="10" text-anchor="end">{peak}</text>',
        f'<text x="{PAD_LEFT - 4}" y="{HEIGHT - PAD_BOTTOM}" font-size="10" text-anchor="end">0</text>',
    ]
    for offset, (name, counts) in enumerate(series):
        for i, count in enumerate(counts):
            h = plot_h * count / peak
            x = PAD_LEFT + i * slot + offset * bar + bar * 0.25
            y = HEIGHT - PAD_BOTTOM - h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{COLOURS[name]}">'
                f"<title>{escape(name)}: {count} rows in [{_fmt(edges[i])}, {_fmt(edges[i + 1])})</title></rect>"
            )
    parts.append(f'<text x="{PAD_LEFT}" y="{HEIGHT - 8}" font-size="10">{_fmt(edges[0])}</text>')
    parts.append(f'<text x="{WIDTH - 8}" y="{HEIGHT - 8}" font-size="10" text-anchor="end">{_fmt(edges[-1])}</text>')
    parts.extend(_legend([name for name, _ in series]))
    parts.append("</svg>")
    return mark_safe("".join(parts))


def latency_bars(latency: dict, *, title: str) -> SafeString | None:
    """Horizontal bars of p50 and p95 single-row latency, new version against champion."""
    rows = []
    for name in ("new", "champion"):
        figures = latency.get(name) or {}
        for stat in ("p50_ms", "p95_ms"):
            if stat in figures:
                rows.append((name, stat.replace("_ms", ""), float(figures[stat])))
    if not rows:
        return None
    peak = max(value for _, _, value in rows) or 1.0
    line = 22
    height = PAD_TOP + line * len(rows) + 24
    label_w = 120
    plot_w = WIDTH - label_w - 70
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, (name, stat, value) in enumerate(rows):
        y = PAD_TOP + i * line
        w = plot_w * value / peak
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" font-size="11" text-anchor="end">{escape(name)} {stat}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="14" fill="{COLOURS[name]}"/>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 13}" font-size="11">{value:.2f} ms</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def _legend(names: list[str]) -> list[str]:
    out = []
    for i, name in enumerate(names):
        x = WIDTH - 170 + i * 85
        out.append(f'<rect x="{x}" y="2" width="10" height="10" fill="{COLOURS[name]}"/>')
        out.append(f'<text x="{x + 14}" y="11" font-size="10">{"new version" if name == "new" else "champion"}</text>')
    return out


def warmup_charts(run) -> dict:
    return {
        "scores": score_histogram(run.histograms or {}, title="Score distribution: new version and champion"),
        "latency": latency_bars(run.latency or {}, title="Single-row latency, p50 and p95"),
    }
