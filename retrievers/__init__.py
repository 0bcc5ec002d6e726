"""Retrieval over a built knowledge base: BM25, dense, hybrid fusion, reranking, LangChain adapter.

    from retrievers import get_retriever
    retriever = get_retriever(cfg.retrieval, kb)           # by name: bm25 | dense | hybrid
    docs = retriever.retrieve("조선 후기 붕당 정치", k=5)    # RetrievedDoc with fused + per-stage scores
"""
from .base import RetrievedDoc, Retriever, StageScore
from .factory import RETRIEVERS, get_retriever

__all__ = ["RETRIEVERS", "RetrievedDoc", "Retriever", "StageScore", "get_retriever"]
