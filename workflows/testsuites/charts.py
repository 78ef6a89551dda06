"""Small inline SVG charts (warm-up reports, the gateway's live comparison), rendered on the server
(no chart library).

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


# --- Charts of any number of series (the gateway's live comparison) -------------------------

PALETTE = ["#f59e0b", "#2563eb", "#16a34a", "#dc2626", "#7c3aed", "#0891b2"]


def _svg_open(title: str, width: int, height: int) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    )


def _series_legend(labels: list[str], *, x: float, y: float) -> tuple[list[str], float]:
    """One legend line per series from (x, y); returns the parts and the height they take."""
    parts = []
    for i, label in enumerate(labels):
        top = y + i * 14
        parts.append(f'<rect x="{x}" y="{top}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 14}" y="{top + 9}" font-size="10">{escape(label)}</text>')
    return parts, len(labels) * 14


def distribution_chart(
    edges: list[float], series: list[tuple[str, list[int]]], *, title: str, x_label: str, y_label: str = "rows"
) -> SafeString | None:
    """Grouped bars of several series counted on the same bins ``edges``, with both axes
    labelled and a legend; each bar's <title> gives its series, count and bin."""
    series = [(label, counts) for label, counts in series if counts]
    if not edges or not series:
        return None
    width, plot_h = 560, 180
    legend, legend_h = _series_legend([label for label, _ in series], x=PAD_LEFT + 10, y=6)
    top = 6 + legend_h + 10
    bottom = top + plot_h
    height = bottom + 44
    bins = len(edges) - 1
    peak = max(max(counts) for _, counts in series) or 1
    plot_w = width - PAD_LEFT - 16
    slot = plot_w / bins
    bar = slot / (len(series) + 0.5)
    parts = [_svg_open(title, width, height)]
    parts.extend(legend)
    parts.append(f'<line x1="{PAD_LEFT}" y1="{bottom}" x2="{width - 16}" y2="{bottom}" stroke="#666"/>')
    parts.append(f'<line x1="{PAD_LEFT}" y1="{top}" x2="{PAD_LEFT}" y2="{bottom}" stroke="#666"/>')
    parts.append(f'<text x="{PAD_LEFT - 4}" y="{top + 8}" font-size="10" text-anchor="end">{peak}</text>')
    parts.append(f'<text x="{PAD_LEFT - 4}" y="{bottom}" font-size="10" text-anchor="end">0</text>')
    for offset, (label, counts) in enumerate(series):
        colour = PALETTE[offset % len(PALETTE)]
        for i, count in enumerate(counts):
            h = plot_h * count / peak
            x = PAD_LEFT + i * slot + offset * bar + bar * 0.25
            parts.append(
                f'<rect x="{x:.1f}" y="{bottom - h:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(label)}: {count} {escape(y_label)} in [{_fmt(edges[i])}, {_fmt(edges[i + 1])})</title></rect>"
            )
    for i in (0, bins // 2, bins):
        x = PAD_LEFT + i * slot
        parts.append(f'<text x="{x:.1f}" y="{bottom + 14}" font-size="10" text-anchor="middle">{_fmt(edges[i])}</text>')
    parts.append(
        f'<text x="{PAD_LEFT + plot_w / 2:.1f}" y="{height - 8}" font-size="11" text-anchor="middle">{escape(x_label)}</text>'
    )
    parts.append(
        f'<text x="12" y="{top + plot_h / 2:.1f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {top + plot_h / 2:.1f})">{escape(y_label)}</text>'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def percentile_chart(series: list[tuple[str, dict]], *, title: str, stats=("p50", "p95", "p99")) -> SafeString | None:
    """Horizontal bars of latency percentiles in milliseconds, grouped by statistic, one colour
    per series, with the value at the end of each bar, the axis labelled and a legend."""
    series = [(label, figures) for label, figures in series if figures]
    if not series:
        return None
    width, line, label_w = 560, 16, 50
    legend, legend_h = _series_legend([label for label, _ in series], x=label_w, y=6)
    top = 6 + legend_h + 10
    group_h = line * len(series) + 10
    bottom = top + group_h * len(stats)
    height = bottom + 36
    plot_w = width - label_w - 90
    peak = max(float(figures[stat]) for _, figures in series for stat in stats) or 1.0
    parts = [_svg_open(title, width, height)]
    parts.extend(legend)
    parts.append(f'<line x1="{label_w}" y1="{top}" x2="{label_w}" y2="{bottom}" stroke="#666"/>')
    parts.append(f'<line x1="{label_w}" y1="{bottom}" x2="{label_w + plot_w}" y2="{bottom}" stroke="#666"/>')
    for g, stat in enumerate(stats):
        y0 = top + g * group_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y0 + group_h / 2 + 2:.1f}" font-size="11" text-anchor="end">{escape(stat)}</text>'
        )
        for i, (label, figures) in enumerate(series):
            value = float(figures[stat])
            w = plot_w * value / peak
            y = y0 + i * line
            parts.append(
                f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{line - 4}" fill="{PALETTE[i % len(PALETTE)]}">'
                f"<title>{escape(label)} {escape(stat)}: {value:.2f} ms</title></rect>"
            )
            parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + line - 4}" font-size="10">{value:.2f} ms</text>')
    parts.append(f'<text x="{label_w}" y="{bottom + 14}" font-size="10">0</text>')
    parts.append(
        f'<text x="{label_w + plot_w}" y="{bottom + 14}" font-size="10" text-anchor="end">{_fmt(peak)} ms</text>'
    )
    parts.append(
        f'<text x="{label_w + plot_w / 2:.1f}" y="{height - 6}" font-size="11" text-anchor="middle">'
        "milliseconds per request</text>"
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))
