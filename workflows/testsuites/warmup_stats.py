"""The warm-up report's statistics: pure functions of score arrays, no database, no model.

Each score array is sorted once (``finite_sorted``); the quantiles of the differences, the
histograms and the PSI bins are then read off the sorted arrays with a few binary searches
instead of a pass per statistic. The results equal NumPy's ``percentile`` and ``histogram``.
"""

from __future__ import annotations

import numpy as np

from .checks import jsonable


def as_float(values: np.ndarray) -> np.ndarray:
    """Predicted values as numbers, or all NaN when they are labels that are not numbers."""
    try:
        return values.astype(float)
    except (TypeError, ValueError):
        return np.full(len(values), np.nan)


def finite_sorted(values: np.ndarray) -> np.ndarray:
    """The finite values, sorted (rows a model failed on are NaN and left out)."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    return np.sort(values if finite.all() else values[finite])


def quantiles(diff: np.ndarray) -> dict:
    """p5..p95 (NumPy's linear interpolation), mean, mean and max absolute difference."""
    diff = finite_sorted(diff)
    n = len(diff)
    if not n:
        return {}
    percents = (5, 25, 50, 75, 95)
    # One sort, then each quantile is two look-ups: cheaper than np.percentile's partitions.
    position = np.array(percents, dtype=float) / 100 * (n - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, n - 1)
    values = diff[lower] + (diff[upper] - diff[lower]) * (position - lower)
    points = {f"p{q}": float(v) for q, v in zip(percents, values)}
    absolute = np.abs(diff)
    return {**points, "mean": float(diff.mean()), "mean_abs": float(absolute.mean()), "max_abs": float(max(abs(diff[0]), abs(diff[-1])))}


def sorted_counts(sorted_values: np.ndarray, edges: np.ndarray) -> list[int]:
    """np.histogram(values, edges) counts (last bin closed) for already sorted values."""
    inner = np.searchsorted(sorted_values, edges[1:-1], side="left")
    bounds = np.concatenate(([np.searchsorted(sorted_values, edges[0], side="left")], inner,
                             [np.searchsorted(sorted_values, edges[-1], side="right")]))
    return np.diff(bounds).tolist()


def histograms(new: np.ndarray, champion: np.ndarray | None, bins: int = 20) -> dict:
    """Histograms on common, even bins of finite, sorted scores."""
    present = [a for a in (new, champion) if a is not None and len(a)]
    if not present:
        return {}
    low, high = min(float(a[0]) for a in present), max(float(a[-1]) for a in present)
    if low == high:
        high = low + 1.0
    edges = np.linspace(low, high, bins + 1)
    result = {"edges": [float(e) for e in edges], "new": sorted_counts(new, edges)}
    if champion is not None:
        result["champion"] = sorted_counts(champion, edges)
    return result


def largest_disagreements(frame, features, both, new_values, champ_values, new_numeric, champ_numeric, task, count: int = 5) -> list[dict]:
    """The ``count`` rows (of those both models scored, ``both``) where the scores differ most."""
    gap = np.where(both, np.abs(new_numeric - champ_numeric), -1.0)
    gap = np.nan_to_num(gap, nan=-1.0)
    if len(gap) > count:
        top = np.argpartition(-gap, count)[:count]  # the largest few without sorting every row
        order = top[np.argsort(-gap[top])]
    else:
        order = np.argsort(-gap)
    out = []
    for index in order:
        if gap[index] <= 0:
            break
        row = frame.iloc[int(index)]
        out.append(
            {
                "row": int(index),
                "inputs": {f: jsonable(row[f]) for f in features[:12]},
                "new": jsonable(new_values[index] if task == "classification" else new_numeric[index]),
                "champion": jsonable(champ_values[index] if task == "classification" else champ_numeric[index]),
                "new_score": jsonable(new_numeric[index]),
                "champion_score": jsonable(champ_numeric[index]),
                "difference": jsonable(gap[index]),
            }
        )
    return out
