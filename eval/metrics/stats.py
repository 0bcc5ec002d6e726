"""Statistics: Wilson score interval, exact McNemar test, expected calibration error, Brier score."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval for k successes in n trials ((0, 0) when n == 0)."""
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def mcnemar(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> dict:
    """Exact (binomial) two-sided McNemar test on paired correctness. ``b`` = a right/b wrong,
    ``c`` = a wrong/b right; p = min(1, 2·P[X ≤ min(b, c)]), X ~ Bin(b + c, 1/2)."""
    if len(a_correct) != len(b_correct):
        raise ValueError("McNemar needs paired results of equal length")
    b = sum(1 for x, y in zip(a_correct, b_correct) if x and not y)
    c = sum(1 for x, y in zip(a_correct, b_correct) if y and not x)
    n = b + c
    if n == 0:
        return {"b": b, "c": c, "p_value": 1.0}
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2 ** n
    return {"b": b, "c": c, "p_value": min(1.0, 2 * tail)}


def reliability(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> list[dict]:
    """Equal-width confidence bins: count, mean confidence, accuracy."""
    conf = np.asarray(confidence, dtype=np.float64)
    corr = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    out = []
    for b in range(bins):
        m = idx == b
        out.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": int(m.sum()),
                    "confidence": float(conf[m].mean()) if m.any() else None,
                    "accuracy": float(corr[m].mean()) if m.any() else None})
    return out


def ece(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """Expected calibration error: Σ_bins (n_b / n) · |accuracy_b − confidence_b|."""
    n = len(confidence)
    if n == 0:
        return 0.0
    return float(sum(b["n"] / n * abs(b["accuracy"] - b["confidence"])
                     for b in reliability(confidence, correct, bins) if b["n"]))


def brier(probs: Sequence[Sequence[float]], gold: Sequence[int]) -> float:
    """Multi-class Brier score: mean over questions of Σ_j (p_j − 1[j = gold])² (gold 1-based)."""
    if not probs:
        return 0.0
    total = 0.0
    for p, g in zip(probs, gold):
        v = np.asarray(p, dtype=np.float64)
        t = np.zeros_like(v)
        t[g - 1] = 1.0
        total += float(((v - t) ** 2).sum())
    return total / len(probs)
