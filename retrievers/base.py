"""The retrieved-document record and the retriever interface."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.registry import Registry
from knowledge_base.store import Hit, KnowledgeBase

#: retriever classes by ``retrieval.method``, each named here and imported when first asked for
RETRIEVERS: Registry[type] = Registry("retriever", field="retrieval.method", lazy={
    "bm25": "retrievers.sparse_dense:BM25Retriever", "dense": "retrievers.sparse_dense:DenseRetriever",
    "hybrid": "retrievers.hybrid:HybridRetriever"})


@dataclass
class StageScore:
    rank: int  # 1-based rank within that stage's candidates
    score: float


@dataclass
class RetrievedDoc:
    chunk_id: str
    doc_id: str
    title: str
    text: str
    score: float  # the final (fused / reranked) score
    stages: dict[str, StageScore] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {"chunk_id": self.chunk_id, "doc_id": self.doc_id, "title": self.title, "score": self.score,
               "stages": {k: {"rank": v.rank, "score": v.score} for k, v in self.stages.items()}}
        if "choice" in self.metadata:  # per-choice retrieval: the choice (1-based) it was found for
            out["choice"] = self.metadata["choice"]
        return out


class Retriever:
    """``retrieve(query, k)`` and ``batch_retrieve(queries, k)``, best first, unique chunk ids."""

    name = "base"
    #: what decides this retriever's results (``factory.retriever_fingerprint``); set by ``get_retriever``
    fingerprint: str = ""

    #: the knowledge-base stages it searches
    stages: tuple[str, ...] = ()

    def __init__(self, kb: KnowledgeBase, max_query_chars: int | None = None):
        """``max_query_chars``: longer queries are cut (default: the store's ``KnowledgeBase.max_query_chars``)."""
        self.kb, self.max_query_chars = kb, max_query_chars

    @classmethod
    def from_config(cls, kb: KnowledgeBase, cfg) -> Retriever:
        """The retriever a ``RetrievalConfig`` describes (each class reads the settings it has)."""
        return cls(kb, max_query_chars=cfg.max_query_chars)

    def batch_retrieve(self, queries: list[str], k: int = 5) -> list[list[RetrievedDoc]]:
        raise NotImplementedError

    def retrieve(self, query: str, k: int = 5) -> list[RetrievedDoc]:
        return self.batch_retrieve([query], k)[0]

    def _doc(self, index: int, score: float, stages: dict[str, StageScore]) -> RetrievedDoc:
        c = self.kb.chunks[index]
        return RetrievedDoc(c.chunk_id, c.doc_id, c.title, c.text, score, stages,
                            {"source": c.source, **c.metadata})


class SingleStageRetriever(Retriever):
    stage = "base"

    def stage_hits(self, queries: list[str], k: int) -> list[list[Hit]]:
        raise NotImplementedError

    def batch_retrieve(self, queries, k=5):
        out = []
        for hits in self.stage_hits(queries, k):
            out.append([self._doc(h.index, h.score, {self.stage: StageScore(r, h.score)})
                        for r, h in enumerate(hits, 1)])
        return out
