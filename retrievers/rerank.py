"""Optional cross-encoder reranking stage over any retriever's candidates."""
from __future__ import annotations

from dataclasses import replace

from .base import RetrievedDoc, Retriever, StageScore


class RerankingRetriever(Retriever):
    """Retrieve ``top_n`` candidates with ``base``, rescore (query, chunk) pairs with a sentence-transformers
    ``CrossEncoder`` (Hub id or local dir), return the best ``k``. The base stages' scores are kept."""

    def __init__(self, base: Retriever, model: str, top_n: int = 20, batch_size: int = 32, device: str | None = None,
                 trust_remote_code: bool = False):
        super().__init__(base.kb)
        from sentence_transformers import CrossEncoder

        self.base, self.top_n, self.batch_size = base, top_n, batch_size
        self.model = CrossEncoder(model, device=device, trust_remote_code=trust_remote_code)
        self.name = f"{base.name}+rerank"

    def batch_retrieve(self, queries, k=5) -> list[list[RetrievedDoc]]:
        cands = self.base.batch_retrieve(queries, max(k, self.top_n))
        pairs = [(q, d.text) for q, docs in zip(queries, cands) for d in docs]
        scores = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False) if pairs else []
        out, pos = [], 0
        for docs in cands:
            s = [float(x) for x in scores[pos:pos + len(docs)]]
            pos += len(docs)
            order = sorted(range(len(docs)), key=lambda i: -s[i])[:k]
            out.append([replace(docs[i], score=s[i], stages={**docs[i].stages, "rerank": StageScore(r, s[i])})
                        for r, i in enumerate(order, 1)])
        return out
