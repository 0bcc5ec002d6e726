"""Hybrid retrieval: BM25 + dense candidates fused by RRF or a convex combination."""
from __future__ import annotations

from common.config import RetrievalConfig
from knowledge_base.store import KnowledgeBase

from .base import RetrievedDoc, Retriever, StageScore
from .fusion import convex, rrf

_DEFAULT = RetrievalConfig()  # the documented defaults, so that a retriever built by hand matches the config's


class HybridRetriever(Retriever):
    name = "hybrid"
    stages = ("bm25", "dense")

    def __init__(self, kb: KnowledgeBase, fusion: str = _DEFAULT.fusion, rrf_k: int = _DEFAULT.rrf_k,
                 alpha: float = _DEFAULT.alpha, norm: str = _DEFAULT.norm, candidates: int = _DEFAULT.candidates,
                 n_threads: int = 1, max_query_chars: int | None = None):
        super().__init__(kb, max_query_chars)
        if fusion not in ("rrf", "convex"):
            raise ValueError(f"unknown fusion {fusion!r} (rrf | convex)")
        self.fusion, self.rrf_k, self.alpha, self.norm = fusion, rrf_k, alpha, norm
        self.candidates, self.n_threads = candidates, n_threads

    @classmethod
    def from_config(cls, kb: KnowledgeBase, cfg: RetrievalConfig) -> HybridRetriever:
        return cls(kb, fusion=cfg.fusion, rrf_k=cfg.rrf_k, alpha=cfg.alpha, norm=cfg.norm, candidates=cfg.candidates,
                   max_query_chars=cfg.max_query_chars)

    def fuse(self, stage_hits) -> list[tuple[int, float]]:
        if self.fusion == "rrf":
            scores = rrf(stage_hits, self.rrf_k)
        else:
            scores = convex(stage_hits, self.alpha, self.norm)
        return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))

    def batch_retrieve(self, queries, k=5, stage_hits=None) -> list[list[RetrievedDoc]]:
        """``stage_hits`` (``{"bm25": [...], "dense": [...]}`` per query) may be passed to reuse a cache."""
        n = max(k, self.candidates)
        if stage_hits is None:
            queries = self.kb.cap_queries(queries, self.max_query_chars)  # once for both: one warning a query
            bm = self.kb.search_bm25(queries, n, n_threads=self.n_threads)
            de = self.kb.search_dense(queries, n)
            stage_hits = [{"bm25": b, "dense": d} for b, d in zip(bm, de)]
        out = []
        for hits in stage_hits:
            ranks = {s: {h.index: StageScore(r, h.score) for r, h in enumerate(hs, 1)} for s, hs in hits.items()}
            fused = self.fuse(hits)[:k]
            out.append([self._doc(i, score, {s: r[i] for s, r in ranks.items() if i in r}) for i, score in fused])
        return out
