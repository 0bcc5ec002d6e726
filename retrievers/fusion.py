"""Fusion of per-stage ranked lists: reciprocal-rank fusion and convex combination of normalised scores."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from knowledge_base.store import Hit


def rrf(stage_hits: Mapping[str, Sequence[Hit]], k: int = 60, weights: Mapping[str, float] | None = None
        ) -> dict[int, float]:
    """score(d) = Σ_stage w_stage / (k + rank_stage(d)), ranks 1-based."""
    out: dict[int, float] = {}
    for stage, hits in stage_hits.items():
        w = 1.0 if weights is None else weights.get(stage, 1.0)
        for r, h in enumerate(hits, 1):
            out[h.index] = out.get(h.index, 0.0) + w / (k + r)
    return out


def normalise(scores: np.ndarray, method: str) -> np.ndarray:
    if scores.size == 0:
        return scores
    if method == "minmax":
        lo, hi = float(scores.min()), float(scores.max())
        return np.ones_like(scores) if hi - lo < 1e-12 else (scores - lo) / (hi - lo)
    if method == "zscore":
        sd = float(scores.std())
        return np.zeros_like(scores) if sd < 1e-12 else (scores - scores.mean()) / sd
    raise ValueError(f"unknown normalisation {method!r} (minmax | zscore)")


def convex(stage_hits: Mapping[str, Sequence[Hit]], alpha: float, method: str = "minmax",
           dense_stage: str = "dense") -> dict[int, float]:
    """score(d) = α·norm(dense)(d) + (1-α)·norm(other)(d); a document missing from a stage's candidates
    takes that stage's lowest normalised candidate score."""
    if len(stage_hits) != 2 or dense_stage not in stage_hits:
        raise ValueError("convex fusion combines exactly two stages, one of them dense")
    norm: dict[str, dict[int, float]] = {}
    floor: dict[str, float] = {}
    for stage, hits in stage_hits.items():
        s = normalise(np.array([h.score for h in hits], dtype=np.float64), method)
        norm[stage] = {h.index: float(v) for h, v in zip(hits, s)}
        floor[stage] = float(s.min()) if s.size else 0.0
    other = next(s for s in stage_hits if s != dense_stage)
    out = {}
    for idx in set(norm[dense_stage]) | set(norm[other]):
        d = norm[dense_stage].get(idx, floor[dense_stage])
        o = norm[other].get(idx, floor[other])
        out[idx] = alpha * d + (1 - alpha) * o
    return out
