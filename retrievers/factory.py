"""``get_retriever(cfg.retrieval, kb)``: retrievers chosen by name, FlashRAG-style."""
from __future__ import annotations

from pathlib import Path

from common.config import RetrievalConfig, config_dict
from common.hashing import short_hash
from common.paths import check_model_ref
from knowledge_base.manifest import KBError
from knowledge_base.store import KnowledgeBase

from .base import RETRIEVERS, Retriever

#: retrieval settings that do not change which documents a query gets (they are applied per call or after)
PER_CALL_FIELDS = frozenset({"kb", "top_k", "min_score", "query", "trust_remote_code"})


def check_stages(kb: KnowledgeBase, method: str) -> None:
    """Refuse, before any model loads, a KB that lacks a stage ``method`` searches; say what would work."""
    have = {"bm25": kb.has_bm25, "dense": kb.has_dense}
    missing = [s for s in RETRIEVERS.get(method).stages if not have[s]]
    if not missing:
        return
    usable = [m for m in RETRIEVERS if all(have[s] for s in RETRIEVERS.get(m).stages)]
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
    elif cfg.trust_remote_code and not kb.trust_remote_code:
        raise ValueError(f"retrieval.trust_remote_code is set but the knowledge base {kb.dir} was loaded without "
                         f"it: load it with KnowledgeBase.load(..., trust_remote_code=True)")
    check_stages(kb, cfg.method)
    retriever = RETRIEVERS.get(cfg.method).from_config(kb, cfg)
    if cfg.reranker:
        from .rerank import RerankingRetriever

        retriever = RerankingRetriever(retriever, cfg.reranker, top_n=cfg.reranker_top_k,
                                       trust_remote_code=cfg.trust_remote_code)
    retriever.fingerprint = retriever_fingerprint(cfg, kb)
    return retriever
