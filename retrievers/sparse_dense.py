"""BM25 and dense retrievers (one stage each)."""
from __future__ import annotations

from knowledge_base.store import KnowledgeBase

from .base import SingleStageRetriever


class BM25Retriever(SingleStageRetriever):
    name = stage = "bm25"
    stages = ("bm25",)

    def __init__(self, kb: KnowledgeBase, n_threads: int = 1, max_query_chars: int | None = None):
        super().__init__(kb, max_query_chars)
        self.n_threads = n_threads

    def stage_hits(self, queries, k):
        return self.kb.search_bm25(queries, k, n_threads=self.n_threads, max_query_chars=self.max_query_chars)


class DenseRetriever(SingleStageRetriever):
    name = stage = "dense"
    stages = ("dense",)

    def stage_hits(self, queries, k):
        return self.kb.search_dense(queries, k, max_query_chars=self.max_query_chars)
