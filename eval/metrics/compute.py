"""All metrics of one run from its prediction records."""
from __future__ import annotations

from collections import Counter
from typing import Any

from rag.record import Prediction

from .stats import brier, ece, reliability, wilson


def _group(records: list[Prediction]) -> dict[str, Any]:
    scored = [r for r in records if r.gold is not None]
    n = len(scored)
    k = sum(bool(r.correct) for r in scored)
    out: dict[str, Any] = {"n": n, "accuracy": k / n if n else None, "ci95": list(wilson(k, n))}
    if n:
        out["chance"] = sum(1 / r.n_choices for r in scored) / n
        top = Counter(r.gold for r in scored).most_common(1)[0]
        out["majority_answer"] = {"position": top[0], "accuracy": top[1] / n}
    return out


def _by(records: list[Prediction], key: str) -> dict[str, Any]:
    groups: dict[str, list[Prediction]] = {}
    for r in records:
        groups.setdefault(getattr(r, key) or "unknown", []).append(r)
    return {g: _group(rs) for g, rs in sorted(groups.items())}


def compute_metrics(records: list[Prediction], bins: int = 10) -> dict[str, Any]:
    scored = [r for r in records if r.gold is not None]
    m: dict[str, Any] = {"n_total": len(records), **_group(records)}
    m["by_domain"] = _by(scored, "domain")
    m["by_source"] = _by(scored, "source")
    m["by_subject"] = _by(scored, "subject")
    m["answer_positions"] = {
        "predicted": dict(sorted(Counter(r.prediction for r in records).items())),
        "gold": dict(sorted(Counter(r.gold for r in scored).items())),
    }
    if scored:
        conf = [max(r.probs) for r in scored]
        corr = [bool(r.correct) for r in scored]
        m["calibration"] = {"ece": ece(conf, corr, bins), "brier": brier([r.probs for r in scored],
                                                                        [r.gold for r in scored]),
                            "reliability": reliability(conf, corr, bins)}
    labelled = [r for r in records if r.domain in ("korean", "social")]
    if labelled:
        conf_m = Counter(f"{r.domain}->{r.route}" for r in labelled)
        m["router"] = {"n": len(labelled), "accuracy": sum(r.route == r.domain for r in labelled) / len(labelled),
                       "confusion": dict(sorted(conf_m.items()))}
    with_ctx = [r for r in records if r.context_used > 0]
    tops = [r.retrieved[0]["score"] for r in records if r.retrieved]
    m["retrieval"] = {"share_with_context": len(with_ctx) / len(records) if records else 0.0,
                      "mean_chunks_used": sum(r.context_used for r in records) / max(len(records), 1),
                      "mean_top_score": sum(tops) / len(tops) if tops else None,
                      "retrieved_questions": len(tops)}
    return m
