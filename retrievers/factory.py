"""``get_retriever(cfg.retrieval, kb)``: retrievers chosen by name, FlashRAG-style."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from common.config import RetrievalConfig, config_dict
from common.hashing import short_hash
from common.paths import check_model_ref
from common.registry import Registry
from knowledge_base.manifest import KBError
from knowledge_base.store import KnowledgeBase

from .base import Retriever
from .hybrid import HybridRetriever
from .sparse_dense import BM25Retriever, DenseRetriever

RETRIEVERS: Registry[Callable[[KnowledgeBase, RetrievalConfig], Retriever]] = Registry("retriever")


@RETRIEVERS.register("bm25")
def _bm25(kb: KnowledgeBase, cfg: RetrievalConfig) -> Retriever:
    return BM25Retriever(kb)


@RETRIEVERS.register("dense")
def _dense(kb: KnowledgeBase, cfg: RetrievalConfig) -> Retriever:
    return DenseRetriever(kb)


@RETRIEVERS.register("hybrid")
def _hybrid(kb: KnowledgeBase, cfg: RetrievalConfig) -> Retriever:
    return HybridRetriever(kb, fusion=cfg.fusion, rrf_k=cfg.rrf_k, alpha=cfg.alpha, norm=cfg.norm,
                           candidates=cfg.candidates)


#: retrieval settings that do not change which documents a query gets (they are applied per call or after)
PER_CALL_FIELDS = frozenset({"kb", "top_k", "min_score", "query", "trust_remote_code"})

#: the knowledge-base stages each method searches
NEEDED_STAGES = {"bm25": ("bm25",), "dense": ("dense",), "hybrid": ("bm25", "dense")}


def check_stages(kb: KnowledgeBase, method: str) -> None:
    """Refuse, before any model loads, a KB that lacks a stage ``method`` searches; say what would work."""
    have = {"bm25": kb.has_bm25, "dense": kb.has_dense}
    missing = [s for s in NEEDED_STAGES[method] if not have[s]]
    if not missing:
        return
    usable = [m for m, need in NEEDED_STAGES.items() if all(have[s] for s in need)]
    alt = f"use -o retrieval.method={usable[0]}, or " if usable else ""
    raise KBError(f"retrieval.method={method} needs the {' and '.join(missing)} stage of {kb.dir}, which it does "
                  f"not have: {alt}build it with `python -m knowledge_base.build --config <the KB's config> "
                  f"--out {kb.dir} --stages {','.join(missing)}`")


def retriever_fingerprint(cfg: RetrievalConfig, kb: KnowledgeBase) -> str:
    """What decides a retriever's results: the knowledge base (its resolved directory and manifest) and every
    retrieval setting except the per-call ones (``PER_CALL_FIELDS``). Retrieval caches key on it + query."""
    settings = {k: v for k, v in config_dict(cfg).items() if k not in PER_CALL_FIELDS}
    return short_hash({"kb": str(Path(kb.dir).resolve()), "manifest": short_hash(kb.manifest), **settings})


def get_retriever(cfg: RetrievalConfig, kb: KnowledgeBase | str | Path | None = None) -> Retriever:
    """Build the configured retriever (``cfg.method``), wrapped in a reranker when ``cfg.reranker`` is set; its
    ``fingerprint`` is ``retriever_fingerprint``."""
    if cfg.reranker:
        check_model_ref(cfg.reranker, "retrieval.reranker")
    if kb is None:
        if cfg.kb is None:
            raise ValueError("retrieval.kb is not set: pass a knowledge base or set -o retrieval.kb=DIR")
        kb = cfg.kb
    if not isinstance(kb, KnowledgeBase):
        kb = KnowledgeBase.load(kb, trust_remote_code=cfg.trust_remote_code)
    else:
        kb.trust_remote_code = kb.trust_remote_code or cfg.trust_remote_code
    check_stages(kb, cfg.method)
    kb.max_query_chars = cfg.max_query_chars
    retriever = RETRIEVERS.get(cfg.method)(kb, cfg)
    if cfg.reranker:
        from .rerank import RerankingRetriever

        retriever = RerankingRetriever(retriever, cfg.reranker, top_n=cfg.reranker_top_k,
                                       trust_remote_code=cfg.trust_remote_code)
    retriever.fingerprint = retriever_fingerprint(cfg, kb)
    return retriever
