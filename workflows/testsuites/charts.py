"""Inline SVG charts of the evidence, drawn on the server (no chart library, nothing fetched).

The warm-up's score histogram and latency bars, and a test run's standard charts: ROC and
precision-recall curves, confusion matrix and calibration for classifiers; residuals and
predicted against actual for regressors; the metric per group of each fairness check. Each is a
plain function of stored data returning safe HTML, so the version page, the signing page and
the compliance report draw the same charts; and charts of any number of series for the gateway's
live comparison of champion and challengers. Every label is escaped; each chart has a <title>,
an aria-label, axis labels and a legend, and its figure caption gives the key numbers in words.
"""

from __future__ import annotations

import math

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from .evidence import METRIC_NAMES, SHARE_METRICS

WIDTH, HEIGHT = 480, 200
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 40, 28, 16
COLOURS = {"new": "#2563eb", "champion": "#f59e0b"}


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def score_histogram(histograms: dict, *, title: str, x_label: str = "Score") -> SafeString | None:
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
                f"<title>{'new version' if name == 'new' else 'champion'}: {count} rows in [{_fmt(edges[i])}, {_fmt(edges[i + 1])})</title></rect>"
            )
    parts.append(f'<text x="{PAD_LEFT}" y="{HEIGHT - 8}" font-size="10">{_fmt(edges[0])}</text>')
    parts.append(f'<text x="{WIDTH - 8}" y="{HEIGHT - 8}" font-size="10" text-anchor="end">{_fmt(edges[-1])}</text>')
    parts.append(f'<text class="axis-label" x="{(PAD_LEFT + WIDTH) / 2:.0f}" y="{HEIGHT - 8}" font-size="10" text-anchor="middle">{escape(x_label)}</text>')
    mid = (PAD_TOP + HEIGHT - PAD_BOTTOM) / 2
    parts.append(f'<text class="axis-label" x="10" y="{mid:.0f}" font-size="10" text-anchor="middle" transform="rotate(-90 10 {mid:.0f})">Rows</text>')
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
        who = "new version" if name == "new" else "champion"
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" font-size="11" text-anchor="end">{who} {stat}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="14" fill="{COLOURS[name]}"/>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 13}" font-size="11">{value:.2f} ms</text>')
    parts.append(
        f'<text class="axis-label" x="{label_w + plot_w / 2:.0f}" y="{height - 6}" font-size="10" text-anchor="middle">'
        "Milliseconds per single-row call</text>"
    )
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
    """The warm-up's charts: score distribution and single-row latency (None where there is no data)."""
    return {
        "scores": score_histogram(
            run.histograms or {},
            title="Score distribution: new version and champion",
            x_label="Predicted value (target units)" if run.version.model.task == "regression" else "Score (probability of the positive class)",
        ),
        "latency": latency_bars(run.latency or {}, title="Single-row latency, p50 and p95"),
    }


# --- The test run's standard charts -----------------------------------------------------------
PLOT_W, PLOT_H = 420, 330
MARGIN = {"left": 58, "right": 14, "top": 40, "bottom": 48}
NEW_LABEL = "this version"


def _num(value: float) -> str:
    """A figure for a chart label: three significant digits, no exponent for everyday numbers."""
    value = float(value)
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e6:
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:.2e}"


def _percent(value: float) -> str:
    return f"{float(value) * 100:.1f} %"


def empty_chart(sentence: str) -> SafeString:
    """What stands in for a chart that has no data: a sentence, never an error."""
    return format_html('<p class="muted chart-empty">{}</p>', sentence)


def _step(span: float, count: int = 5) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) giving about ``count`` ticks."""
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def nice_range(low: float, high: float) -> tuple[float, float]:
    """The range widened to whole tick steps, so the axis labels are round numbers."""
    if high <= low:
        high = low + 1.0
    step = _step(high - low)
    return math.floor(low / step) * step, math.ceil(high / step) * step


def _ticks(low: float, high: float) -> list[float]:
    step = _step(high - low)
    first = math.ceil(low / step - 1e-9) * step
    out = []
    value = first
    while value <= high + step * 1e-9:
        out.append(0.0 if abs(value) < step * 1e-9 else value)
        value += step
    return out


class _Plot:
    """A plot area with linear x and y axes mapping data to SVG coordinates."""

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float], *, width: int = PLOT_W, height: int = PLOT_H):
        self.width, self.height = width, height
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        if self.x1 == self.x0:
            self.x1 = self.x0 + 1.0
        if self.y1 == self.y0:
            self.y1 = self.y0 + 1.0
        self.left, self.right = MARGIN["left"], width - MARGIN["right"]
        self.top, self.bottom = MARGIN["top"], height - MARGIN["bottom"]

    def x(self, value: float) -> float:
        return self.left + (float(value) - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def y(self, value: float) -> float:
        return self.bottom - (float(value) - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)

    def axes(self, x_label: str, y_label: str) -> list[str]:
        parts = [
            f'<rect x="{self.left}" y="{self.top}" width="{self.right - self.left}" height="{self.bottom - self.top}" fill="#fff" stroke="#999"/>'
        ]
        for xv in _ticks(self.x0, self.x1):
            px = self.x(xv)
            parts.append(f'<line x1="{px:.1f}" y1="{self.top}" x2="{px:.1f}" y2="{self.bottom}" stroke="#eee"/>')
            parts.append(f'<text x="{px:.1f}" y="{self.bottom + 14}" font-size="10" text-anchor="middle">{_num(xv)}</text>')
        for yv in _ticks(self.y0, self.y1):
            py = self.y(yv)
            parts.append(f'<line x1="{self.left}" y1="{py:.1f}" x2="{self.right}" y2="{py:.1f}" stroke="#eee"/>')
            parts.append(f'<text x="{self.left - 5}" y="{py + 3:.1f}" font-size="10" text-anchor="end">{_num(yv)}</text>')
        mid_x = (self.left + self.right) / 2
        mid_y = (self.top + self.bottom) / 2
        parts.append(f'<text class="axis-label" x="{mid_x:.1f}" y="{self.height - 10}" font-size="11" text-anchor="middle">{escape(x_label)}</text>')
        parts.append(
            f'<text class="axis-label" x="14" y="{mid_y:.1f}" font-size="11" text-anchor="middle" '
            f'transform="rotate(-90 14 {mid_y:.1f})">{escape(y_label)}</text>'
        )
        return parts

    def line(self, xs: list[float], ys: list[float], *, colour: str, dashed: bool = False, width: float = 2) -> str:
        points = " ".join(f"{self.x(a):.1f},{self.y(b):.1f}" for a, b in zip(xs, ys))
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        return f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="{width}"{dash}/>'

    def diagonal(self, label: str) -> str:
        low, high = max(self.x0, self.y0), min(self.x1, self.y1)
        return (
            f'<line x1="{self.x(low):.1f}" y1="{self.y(low):.1f}" x2="{self.x(high):.1f}" y2="{self.y(high):.1f}" '
            f'stroke="#888" stroke-dasharray="2 3"><title>{escape(label)}</title></line>'
        )


def _svg(title: str, body: list[str], *, width: int = PLOT_W, height: int = PLOT_H, css: str = "") -> str:
    return (
        f'<svg class="{" ".join(["chart", css]).strip()}" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def _chart_legend(entries: list[tuple[str, str, str]], *, width: int = PLOT_W) -> list[str]:
    """(label, colour, mark) entries across the top; mark is "line", "dash", "dot", "box" or "ring"."""
    parts = ['<g class="legend">']
    x = MARGIN["left"]
    for label, colour, mark in entries:
        if mark in ("line", "dash"):
            dash = ' stroke-dasharray="6 4"' if mark == "dash" else ""
            parts.append(f'<line x1="{x}" y1="16" x2="{x + 18}" y2="16" stroke="{colour}" stroke-width="2"{dash}/>')
        elif mark == "ring":
            parts.append(f'<circle cx="{x + 9}" cy="16" r="4" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        elif mark == "dot":
            parts.append(f'<circle cx="{x + 9}" cy="16" r="4" fill="{colour}"/>')
        else:
            parts.append(f'<rect x="{x + 3}" y="10" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 22}" y="20" font-size="11">{escape(label)}</text>')
        x += 30 + 6.2 * len(label)
    parts.append("</g>")
    return parts


def _figure(svg: str, caption: str, *, table: str = "", css: str = "") -> SafeString:
    return mark_safe(
        f'<figure class="chart-figure {css}">{svg}<figcaption>{caption}</figcaption>{table}</figure>'
    )


def _series(new: dict | None, champion: dict | None, champion_label: str) -> list[tuple[str, dict, str, bool]]:
    """(label, data, colour, dashed) of the series there are: the version, then the champion."""
    out = []
    if new:
        out.append((NEW_LABEL, new, COLOURS["new"], False))
    if champion:
        out.append((champion_label, champion, COLOURS["champion"], True))
    return out


def _figures_sentence(what: str, values: list[tuple[str, str]]) -> str:
    return escape(what) + ": " + "; ".join(f"{escape(label)} {escape(value)}" for label, value in values) + "."


def roc_chart(new: dict | None, champion: dict | None = None, *, champion_label: str = "champion") -> SafeString:
    """ROC curve (true against false positive rate), AUC in the legend."""
    series = [s for s in _series(new, champion, champion_label) if s[1].get("fpr")]
    if not series:
        return empty_chart("No ROC curve: the run recorded no probabilities of a binary target.")
    title = "ROC curve: true positive rate against false positive rate"
    plot = _Plot((0, 1), (0, 1))
    body = plot.axes("False positive rate (share of negatives flagged)", "True positive rate (recall)")
    body.append(plot.diagonal("Chance: AUC 0.5"))
    for label, data, colour, dashed in series:
        body.append(plot.line(data["fpr"], data["tpr"], colour=colour, dashed=dashed))
    body += _chart_legend([(f"{label} (AUC {data['auc']:.3f})", colour, "dash" if dashed else "line") for label, data, colour, dashed in series])
    caption = _figures_sentence("Area under the ROC curve", [(label, f"{data['auc']:.3f}") for label, data, _, _ in series])
    return _figure(_svg(title, body), caption, css="chart-roc")


def precision_recall_chart(new: dict | None, champion: dict | None = None, *, champion_label: str = "champion") -> SafeString:
    """Precision against recall, average precision in the legend, the share of positives as baseline."""
    series = [s for s in _series(new, champion, champion_label) if s[1].get("recall")]
    if not series:
        return empty_chart("No precision-recall curve: the run recorded no probabilities of a binary target.")
    title = "Precision-recall curve: precision against recall"
    plot = _Plot((0, 1), (0, 1))
    body = plot.axes("Recall (share of positives found)", "Precision (share of flagged that are positive)")
    prevalence = series[0][1].get("prevalence")
    if prevalence is not None:
        y = plot.y(prevalence)
        body.append(
            f'<line x1="{plot.left}" y1="{y:.1f}" x2="{plot.right}" y2="{y:.1f}" stroke="#888" stroke-dasharray="2 3">'
            f"<title>Share of positives: {_percent(prevalence)}</title></line>"
        )
    for label, data, colour, dashed in series:
        body.append(plot.line(data["recall"], data["precision"], colour=colour, dashed=dashed))
    body += _chart_legend(
        [(f"{label} (AP {data['average_precision']:.3f})", colour, "dash" if dashed else "line") for label, data, colour, dashed in series]
    )
    caption = _figures_sentence("Average precision", [(label, f"{data['average_precision']:.3f}") for label, data, _, _ in series])
    if prevalence is not None:
        caption += f" Share of positives in the validation data: {_percent(prevalence)}."
    return _figure(_svg(title, body), caption, css="chart-pr")


def calibration_chart(new: dict | None, champion: dict | None = None, *, champion_label: str = "champion") -> SafeString:
    """Reliability curve: the observed share of positives against the mean predicted probability."""
    series = [s for s in _series(new, champion, champion_label) if s[1].get("predicted")]
    if not series:
        return empty_chart("No calibration curve: the run recorded no probabilities of a binary target.")
    title = "Calibration: observed share of positives against predicted probability"
    plot = _Plot((0, 1), (0, 1))
    body = plot.axes("Mean predicted probability (in bins of 0.1)", "Observed share of positives")
    body.append(plot.diagonal("Perfect calibration"))
    for label, data, colour, dashed in series:
        body.append(plot.line(data["predicted"], data["observed"], colour=colour, dashed=dashed))
        for px, py, count in zip(data["predicted"], data["observed"], data["counts"]):
            fill = "#fff" if dashed else colour
            body.append(
                f'<circle cx="{plot.x(px):.1f}" cy="{plot.y(py):.1f}" r="3.5" fill="{fill}" stroke="{colour}">'
                f"<title>{escape(label)}: predicted {_percent(px)}, observed {_percent(py)}, {count} rows</title></circle>"
            )
    body += _chart_legend([(label, colour, "dash" if dashed else "line") for label, _, colour, dashed in series])
    caption = _figures_sentence("Brier score (lower is better)", [(label, f"{data['brier']:.4f}") for label, data, _, _ in series])
    caption += " Points on the dotted diagonal are perfectly calibrated."
    return _figure(_svg(title, body), caption, css="chart-calibration")


def confusion_chart(new: dict | None, champion: dict | None = None, *, champion_label: str = "champion") -> SafeString:
    """Confusion matrices (actual label in rows, predicted in columns), the champion's beside."""
    series = [s for s in _series(new, champion, champion_label) if s[1].get("labels")]
    if not series:
        return empty_chart("No confusion matrix: the run recorded no labels.")
    labels = series[0][1]["labels"]
    n = len(labels)
    cell = max(18, min(60, 240 // max(n, 1)))
    block = cell * n
    gap = 70
    left, top = 70, 52
    width = left + len(series) * block + (len(series) - 1) * gap + 20
    height = top + block + 44
    title = "Confusion matrix: actual label (rows) against predicted label (columns)"
    body = []
    captions = []
    for index, (label, data, colour, _) in enumerate(series):
        counts = data["counts"]
        total = sum(sum(row) for row in counts) or 1
        peak = max(max(row) for row in counts) or 1
        x0 = left + index * (block + gap)
        body.append(f'<text x="{x0 + block / 2:.1f}" y="{top - 26}" font-size="12" font-weight="bold" text-anchor="middle">{escape(label)}</text>')
        body.append(f'<text x="{x0 + block / 2:.1f}" y="{top - 8}" font-size="10" text-anchor="middle">Predicted label</text>')
        for r, row in enumerate(counts):
            for c, count in enumerate(row):
                shade = 0.12 + 0.88 * count / peak
                x, y = x0 + c * cell, top + r * cell
                text_colour = "#fff" if shade > 0.55 else "#111"
                body.append(
                    f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{colour}" fill-opacity="{shade:.2f}" stroke="#fff">'
                    f"<title>{escape(label)}: actual {escape(labels[r])}, predicted {escape(data['labels'][c])}: {count} rows</title></rect>"
                )
                if cell >= 24:
                    body.append(f'<text x="{x + cell / 2}" y="{y + cell / 2 + 4}" font-size="11" text-anchor="middle" fill="{text_colour}">{count}</text>')
        for c, name in enumerate(data["labels"]):
            body.append(f'<text x="{x0 + c * cell + cell / 2}" y="{top + block + 14}" font-size="10" text-anchor="middle">{escape(name)}</text>')
        if index == 0:
            for r, name in enumerate(data["labels"]):
                body.append(f'<text x="{left - 6}" y="{top + r * cell + cell / 2 + 4}" font-size="10" text-anchor="end">{escape(name)}</text>')
        correct = sum(counts[i][i] for i in range(min(len(counts), len(counts[0]) if counts else 0)))
        captions.append((label, f"{correct} of {total} rows on the diagonal ({_percent(correct / total)})"))
    mid_y = top + block / 2
    body.append(
        f'<text class="axis-label" x="14" y="{mid_y:.1f}" font-size="11" text-anchor="middle" transform="rotate(-90 14 {mid_y:.1f})">Actual label</text>'
    )
    body.append(f'<text class="axis-label" x="{width / 2:.1f}" y="{height - 8}" font-size="11" text-anchor="middle">Predicted label (columns); darker cells hold more rows</text>')
    caption = _figures_sentence("Correctly labelled", captions)
    return _figure(_svg(title, body, width=width, height=height), caption, table=_confusion_table(series), css="chart-confusion")


def _confusion_table(series) -> str:
    rows = []
    for label, data, _, _ in series:
        names = data["labels"]
        head = "".join(f'<th scope="col">predicted {escape(name)}</th>' for name in names)
        body = "".join(
            f'<tr><th scope="row">actual {escape(names[r])}</th>' + "".join(f"<td>{count} rows</td>" for count in row) + "</tr>"
            for r, row in enumerate(data["counts"])
        )
        rows.append(f'<table class="evidence confusion"><caption>{escape(label.capitalize())}</caption><thead><tr><td></td>{head}</tr></thead><tbody>{body}</tbody></table>')
    return '<details class="chart-data"><summary>Counts as a table</summary>' + "".join(rows) + "</details>"


def _scatter_range(series, xs_key, ys_key, *, residual: bool = False) -> tuple[tuple[float, float], tuple[float, float]]:
    xs, ys = [], []
    for _, data, _, _ in series:
        px = data[xs_key]
        xs += px
        ys += [a - p for a, p in zip(data["actual"], data["predicted"])] if residual else data[ys_key]
    return nice_range(min(xs), max(xs)), nice_range(min(ys), max(ys))


def _dots(plot: _Plot, xs, ys, *, colour: str, hollow: bool, label: str) -> list[str]:
    fill = 'fill="none"' if hollow else f'fill="{colour}" fill-opacity="0.55"'
    dots = [f'<circle cx="{plot.x(a):.1f}" cy="{plot.y(b):.1f}" r="2.6" {fill} stroke="{colour}" stroke-width="1"/>' for a, b in zip(xs, ys)]
    return [f"<g><title>{escape(label)}</title>", *dots, "</g>"]


def _error_caption(series) -> str:
    values = [
        (label, f"RMSE {_num(data['rmse'])}, MAE {_num(data['mae'])}, mean residual {_num(data['mean_residual'])} on {data['rows']} rows")
        for label, data, _, _ in series
    ]
    return _figures_sentence("Errors in the target's units", values)


def residuals_chart(new: dict | None, champion: dict | None = None, *, champion_label: str = "champion") -> SafeString:
    """Residuals (actual minus predicted) against the predicted value, with the zero line."""
    series = [s for s in _series(new, champion, champion_label) if s[1].get("predicted")]
    if not series:
        return empty_chart("No residual plot: the run recorded no predictions.")
    title = "Residuals: actual minus predicted, against the predicted value"
    (x_range, y_range) = _scatter_range(series, "predicted", None, residual=True)
    plot = _Plot(x_range, y_range)
    body = plot.axes("Predicted value (target units)", "Residual: actual − predicted")
    if y_range[0] < 0 < y_range[1]:
        body.append(f'<line x1="{plot.left}" y1="{plot.y(0):.1f}" x2="{plot.right}" y2="{plot.y(0):.1f}" stroke="#444" stroke-dasharray="4 3"><title>No error</title></line>')
    for label, data, colour, hollow in series:
        residuals = [a - p for a, p in zip(data["actual"], data["predicted"])]
        body += _dots(plot, data["predicted"], residuals, colour=colour, hollow=hollow, label=label)
    body += _chart_legend([(f"{label} ({len(data['predicted'])} rows shown)", colour, "ring" if hollow else "dot") for label, data, colour, hollow in series])
    return _figure(_svg(title, body), _error_caption(series), css="chart-residuals")


def predicted_actual_chart(new: dict | None, champion: dict | None = None, *, champion_label: str = "champion") -> SafeString:
    """Predicted against actual values, with the diagonal of perfect predictions."""
    series = [s for s in _series(new, champion, champion_label) if s[1].get("predicted")]
    if not series:
        return empty_chart("No predicted-against-actual plot: the run recorded no predictions.")
    title = "Predicted against actual values"
    x_range, y_range = _scatter_range(series, "actual", "predicted")
    low, high = min(x_range[0], y_range[0]), max(x_range[1], y_range[1])
    plot = _Plot((low, high), (low, high))
    body = plot.axes("Actual value (target units)", "Predicted value (target units)")
    body.append(plot.diagonal("Perfect prediction"))
    for label, data, colour, hollow in series:
        body += _dots(plot, data["actual"], data["predicted"], colour=colour, hollow=hollow, label=label)
    body += _chart_legend([(f"{label} ({len(data['predicted'])} rows shown)", colour, "ring" if hollow else "dot") for label, data, colour, hollow in series])
    caption = _error_caption(series) + " Points on the dotted diagonal are predicted exactly."
    return _figure(_svg(title, body), caption, css="chart-predicted-actual")


def fairness_value(metric: str, value: float) -> str:
    return _percent(value) if metric in SHARE_METRICS else f"{_num(value)} (target units)"


def fairness_chart(entry: dict | None, *, champion_label: str = "champion") -> SafeString:
    """Bars of a fairness check's metric in each group, the champion's beside the version's."""
    if not entry or not entry.get("new"):
        return empty_chart("No chart of the metric per group: the run recorded no groups.")
    metric = entry["metric"]
    metric_name = METRIC_NAMES.get(metric, metric)
    groups = list(entry["new"])
    series = [(NEW_LABEL, entry["new"], COLOURS["new"])]
    if entry.get("champion"):
        series.append((champion_label, entry["champion"], COLOURS["champion"]))
    values = [v for _, data, _ in series for v in data.values() if v is not None]
    share = metric in SHARE_METRICS
    top = 1.0 if share else nice_range(0.0, max(values) if values and max(values) > 0 else 1.0)[1]
    width = max(PLOT_W, MARGIN["left"] + MARGIN["right"] + len(groups) * (26 * len(series) + 24))
    plot = _Plot((0, len(groups)), (0, top), width=width)
    column = entry["column"]
    title = f"{metric_name} per group of {column}"
    body = [
        f'<rect x="{plot.left}" y="{plot.top}" width="{plot.right - plot.left}" height="{plot.bottom - plot.top}" fill="#fff" stroke="#999"/>'
    ]
    for i in range(6):
        yv = top * i / 5
        py = plot.y(yv)
        body.append(f'<line x1="{plot.left}" y1="{py:.1f}" x2="{plot.right}" y2="{py:.1f}" stroke="#eee"/>')
        body.append(f'<text x="{plot.left - 5}" y="{py + 3:.1f}" font-size="10" text-anchor="end">{_percent(yv) if share else _num(yv)}</text>')
    slot = (plot.right - plot.left) / len(groups)
    bar = slot / (len(series) + 1)
    for g, group in enumerate(groups):
        for s, (label, data, colour) in enumerate(series):
            value = data.get(group)
            if value is None:
                continue
            x = plot.left + g * slot + bar * (s + 0.5)
            y = plot.y(value)
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{plot.bottom - y:.1f}" fill="{colour}">'
                f"<title>{escape(label)}, {escape(column)} {escape(group)}: {escape(fairness_value(metric, value))}</title></rect>"
            )
        body.append(f'<text x="{plot.left + (g + 0.5) * slot:.1f}" y="{plot.bottom + 14}" font-size="10" text-anchor="middle">{escape(group)}</text>')
    mid_y = (plot.top + plot.bottom) / 2
    body.append(f'<text class="axis-label" x="{(plot.left + plot.right) / 2:.1f}" y="{plot.height - 10}" font-size="11" text-anchor="middle">Group of {escape(column)}{" (quartiles)" if entry.get("binned") else ""}</text>')
    body.append(f'<text class="axis-label" x="14" y="{mid_y:.1f}" font-size="11" text-anchor="middle" transform="rotate(-90 14 {mid_y:.1f})">{escape(metric_name)}</text>')
    body += _chart_legend([(label, colour, "box") for label, _, colour in series], width=width)
    head = "".join(f'<th scope="col">{escape(label.capitalize())}</th>' for label, _, _ in series)
    rows = "".join(
        f'<tr><th scope="row">{escape(group)}</th>'
        + "".join(f"<td>{escape(fairness_value(metric, data[group])) if data.get(group) is not None else '—'}</td>" for _, data, _ in series)
        + "</tr>"
        for group in groups
    )
    table = f'<table class="evidence fairness-groups"><thead><tr><th scope="col">Group of {escape(column)}</th>{head}</tr></thead><tbody>{rows}</tbody></table>'
    gaps = []
    for label, data, _ in series:
        present = [v for v in data.values() if v is not None]
        if present:
            gap = max(present) - min(present)
            gaps.append((label, f"{gap * 100:.1f} percentage points" if share else f"{_num(gap)} (target units)"))
    caption = _figures_sentence(f"Largest gap in {metric_name.lower()} between groups of {column}", gaps)
    return _figure(_svg(title, body, width=width), caption, table=table, css="chart-fairness")


NO_CHART_DATA = "This test run recorded no chart data (runs from before the charts were added have none)."


def run_evidence_charts(run) -> dict:
    """The standard charts of a test run for its task: {"figures": [(name, html)], "note": sentence}.

    A run without chart data (an older run, or one whose charts could not be computed) has no
    figures and a note that says why.
    """
    data = getattr(run, "charts", None) or {}
    if run is None or not data:
        return {"figures": [], "note": NO_CHART_DATA}
    if data.get("unavailable"):
        return {"figures": [], "note": data["unavailable"]}
    new, champion = data.get("new") or {}, data.get("champion") or {}
    label = f"champion v{data['champion_version']}" if data.get("champion_version") else "champion"
    figures = []
    if data.get("task") == "classification":
        if new.get("roc") or champion.get("roc"):
            figures.append(("ROC curve", roc_chart(new.get("roc"), champion.get("roc"), champion_label=label)))
            figures.append(("Precision-recall curve", precision_recall_chart(new.get("pr"), champion.get("pr"), champion_label=label)))
        figures.append(("Confusion matrix", confusion_chart(new.get("confusion"), champion.get("confusion"), champion_label=label)))
        if new.get("calibration") or champion.get("calibration"):
            figures.append(("Calibration", calibration_chart(new.get("calibration"), champion.get("calibration"), champion_label=label)))
    else:
        figures.append(("Residuals", residuals_chart(new, champion, champion_label=label)))
        figures.append(("Predicted against actual", predicted_actual_chart(new, champion, champion_label=label)))
    for entry in data.get("fairness") or []:
        figures.append((f"Fairness by {entry['column']}", fairness_chart(entry, champion_label=label)))
    notes = list(data.get("notes") or [])
    if not data.get("champion") and data.get("champion_version") is None:
        notes.append("The model had no champion when this run was made, so each chart shows this version alone.")
    return {"figures": figures, "note": " ".join(notes)}


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
