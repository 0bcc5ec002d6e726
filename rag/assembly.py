"""The one place a run is assembled: ``Assembly`` builds the LLM, router, retriever (with its reranker), scorer
and hints of a ``RunConfig`` and keeps each part keyed by a fingerprint of the config sections it depends on,
so that runs that share a part (ablation variants, ``eval.run``'s retrieval-only baseline, fine-tuning) load it
once. What a config needs built is decided by ``rag.pipeline.needs`` alone. Each command owns one ``Assembly``;
library functions (``rag.predict.predict``, ``eval.evidence.evidence_baseline``) receive its parts. Paths
(``retrieval.kb``, ``retrieval.reranker``, ``router.model``, ``llm.model``, ``llm.adapter``, ``prompt.hints_path``) are
resolved with ``RunConfig.resolve_path`` / ``resolve_ref`` (``data:``, ``cache:``).

    parts = Assembly()
    pipe = parts.pipeline(cfg)           # a Pipeline wired from cached parts
    pipe2 = parts.pipeline(cfg2)         # shares whatever cfg2 has in common with cfg

| part | built by | keyed by |
|---|---|---|
| LLM | ``rag.llm.load_llm(cfg.llm)`` | ``config_hash(cfg.llm)`` |
| router | ``make_router(cfg.router, llm)`` | ``cfg.router`` (+ the LLM for ``router.name: llm``) |
| knowledge base | ``KnowledgeBase.load(retrieval.kb)`` | its resolved directory (+ ``trust_remote_code``) |
| retriever | ``retrievers.get_retriever(cfg.retrieval, kb)`` | ``retriever.fingerprint`` (KB + retrieval settings) |
| scorer | ``make_scorer(llm, cfg.scoring)`` | LLM + ``cfg.scoring`` |
| hints | ``rag.prompts.hints_file.load_hints(prompt.hints_path)`` | the hints file |

Retrieved documents are cached by the retriever's fingerprint, ``top_k`` and the query (``Pipeline.retrieve``):
two variants that differ in ``retrieval.kb``, ``candidates`` or ``reranker`` never share documents. The
pipeline never imports this module.
"""
from __future__ import annotations

from typing import Any

from common.config import RunConfig, config_dict, config_hash
from common.hashing import short_hash

from .llm import LLM
from .pipeline import Pipeline, needs
from .router.base import Router


class Assembly:
    def __init__(self, llm: LLM | None = None):
        """``llm``: an already loaded LLM, used for every config whose ``llm`` section it was loaded from. Identical
        prompts are scored once across the pipelines of one assembly (a scorer per LLM and scoring section)."""
        self.llms: dict[str, LLM] = {}
        if llm is not None:
            self.llms[config_hash(llm.requested)] = llm
        self.routers: dict[str, Router] = {}
        self.kbs: dict[tuple[str, bool], Any] = {}
        self.retrievers: dict[str, Any] = {}
        self._retriever_keys: dict[str, str] = {}  # retrieval section → retriever fingerprint
        self.scorers: dict[str, Any] = {}
        self.hints: dict[str, dict[str, str]] = {}
        self.retrieval_cache: dict[str, list] = {}

    # ------------------------------------------------------------------ parts
    def llm(self, cfg: RunConfig) -> LLM:
        key = config_hash(cfg.llm)
        if key not in self.llms:
            from .llm import load_llm

            self.llms[key] = load_llm(cfg.llm, resolve=cfg.resolve_ref)
        return self.llms[key]

    def router(self, cfg: RunConfig) -> Router:
        from .router.base import ROUTERS, make_router

        uses_llm = ROUTERS.get(cfg.router.name).needs_llm
        key = short_hash([config_dict(cfg.router), config_hash(cfg.llm) if uses_llm else None])
        if key not in self.routers:
            section = cfg.router.model_copy(update={"model": cfg.resolve_ref(cfg.router.model)})
            self.routers[key] = make_router(section, llm=self.llm(cfg) if uses_llm else None)
        return self.routers[key]

    def knowledge_base(self, cfg: RunConfig, always: bool = False):
        """The knowledge base ``retrieval.kb`` names (``data:``/``cache:`` resolved), loaded once per directory; None
        when the run retrieves nothing (``always``: whenever one is set — the retrieval-only baseline's)."""
        if not cfg.retrieval.kb or not (always or needs(cfg).retriever):
            return None
        path = cfg.resolve_path(cfg.retrieval.kb)
        key = (str(path.resolve()), cfg.retrieval.trust_remote_code)
        if key not in self.kbs:
            from knowledge_base.store import KnowledgeBase

            self.kbs[key] = KnowledgeBase.load(path, trust_remote_code=cfg.retrieval.trust_remote_code)
        return self.kbs[key]

    def retriever(self, cfg: RunConfig):
        """The configured retriever (with its reranker), or None when the run never retrieves (no KB, or a router
        that never routes to 사회 and a scorer that needs no evidence)."""
        kb = self.knowledge_base(cfg)
        if kb is None:
            return None
        section = short_hash([str(kb.dir.resolve()), config_dict(cfg.retrieval)])
        fp = self._retriever_keys.get(section)
        if fp is None:
            from retrievers import get_retriever

            r = get_retriever(cfg.retrieval.model_copy(update={"reranker": cfg.resolve_ref(cfg.retrieval.reranker)}),
                              kb)
            fp = self._retriever_keys[section] = r.fingerprint
            self.retrievers.setdefault(fp, r)
        return self.retrievers[fp]

    def scorer(self, cfg: RunConfig):
        from .scoring import make_scorer

        llm = needs(cfg).llm
        key = short_hash([config_hash(cfg.llm) if llm else None, config_dict(cfg.scoring)])
        if key not in self.scorers:
            s = make_scorer(self.llm(cfg) if llm else None, cfg.scoring)
            if hasattr(s, "cache"):
                s.cache = {}
            self.scorers[key] = s
        return self.scorers[key]

    def hints_for(self, cfg: RunConfig) -> dict[str, str]:
        if not (cfg.prompt.hints and cfg.prompt.hints_path):
            return {}
        path = cfg.resolve_path(cfg.prompt.hints_path)
        key = str(path.resolve())
        if key not in self.hints:
            from .prompts.hints_file import load_hints

            self.hints[key] = load_hints(path)
        return self.hints[key]

    # ------------------------------------------------------------------ the run
    def pipeline(self, cfg: RunConfig) -> Pipeline:
        # the cheap checks first: a KB without the stages retrieval.method needs, or a bad hints file, fails
        # before any model loads
        retriever = self.retriever(cfg)
        hints = self.hints_for(cfg)
        if needs(cfg).llm:  # a missing template file or an unknown placeholder in it
            from .prompts.templates import load_template

            load_template(cfg.prompt.template)
        router = self.router(cfg)
        llm = self.llm(cfg) if needs(cfg).llm else None
        return Pipeline(cfg, llm, router, retriever, hints, scorer=self.scorer(cfg),
                        retrieval_cache=self.retrieval_cache)
