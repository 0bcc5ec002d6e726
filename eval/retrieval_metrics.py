"""Document-level retrieval metrics: Recall@k and MRR@k over ranked chunk lists mapped to documents."""
from __future__ import annotations

from collections.abc import Sequence


def dedup_docs(doc_ids: Sequence[str]) -> list[str]:
    """Keep each document's first (best) occurrence."""
    seen: set[str] = set()
    out = []
    for d in doc_ids:
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


def recall_at_k(ranked: Sequence[Sequence[str]], gold: Sequence[str], k: int) -> float:
    return sum(g in list(r)[:k] for r, g in zip(ranked, gold)) / max(len(gold), 1)


def mrr_at_k(ranked: Sequence[Sequence[str]], gold: Sequence[str], k: int) -> float:
    total = 0.0
    for r, g in zip(ranked, gold):
        r = list(r)[:k]
        if g in r:
            total += 1.0 / (r.index(g) + 1)
    return total / max(len(gold), 1)


def summarize(ranked: Sequence[Sequence[str]], gold: Sequence[str], ks=(1, 5, 20), mrr_k: int = 10) -> dict:
    out = {f"recall@{k}": recall_at_k(ranked, gold, k) for k in ks}
    out[f"mrr@{mrr_k}"] = mrr_at_k(ranked, gold, mrr_k)
    out["n"] = len(gold)
    return out
