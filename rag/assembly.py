"""The one place a run is assembled: ``Assembly`` builds the LLM, router, retriever (with its reranker), scorer
and hints of a ``RunConfig`` and keeps each part keyed by a fingerprint of the config sections it depends on,
so that runs that share a part (ablation variants, fine-tuning's dev scoring, the demo) load it once.

    parts = Assembly()
    pipe = parts.pipeline(cfg)           # a Pipeline wired from cached parts
    pipe2 = parts.pipeline(cfg2)         # shares whatever cfg2 has in common with cfg

| part | built by | keyed by |
|---|---|---|
| LLM | ``rag.llm.load_llm(cfg.llm)`` | ``config_hash(cfg.llm)`` |
| router | ``make_router(cfg.router, llm)`` | ``cfg.router`` (+ the LLM for ``router.name: llm``) |
| retriever | ``retrievers.get_retriever(cfg.retrieval)`` | ``retriever.fingerprint`` (KB + retrieval settings) |
| scorer | ``make_scorer(llm, cfg.scoring)`` | LLM + ``cfg.scoring`` |
| hints | ``rag.prompts.hints_file.load_hints(prompt.hints_path)`` | the hints file |

Retrieved documents are cached by the retriever's fingerprint, ``top_k`` and the query (``Pipeline.retrieve``):
two variants that differ in ``retrieval.kb``, ``candidates`` or ``reranker`` never share documents. The
pipeline never imports this module.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from common.config import RunConfig, config_dict, config_hash
from common.hashing import short_hash

from .llm import LLM
from .pipeline import Pipeline
from .router.base import Router


def needs_retriever(cfg: RunConfig) -> bool:
    """Whether the run retrieves: a KB is set and either some question can be routed to 사회 or the answers
    come from the knowledge base (``scoring.method: evidence`` answers every question from it)."""
    return bool(cfg.retrieval.kb) and (cfg.router.name != "always-korean" or cfg.scoring.method == "evidence")


def needs_llm(cfg: RunConfig) -> bool:
    """Whether the run loads an LLM: not for the retrieval-only answerer (unless the router is the LLM)."""
    return cfg.scoring.method != "evidence" or cfg.router.name == "llm"


class Assembly:
    def __init__(self, llm: LLM | None = None, share_prompt_scores: bool = True):
        """``llm``: an already loaded LLM, used for every config whose ``llm`` section it was loaded from.
        ``share_prompt_scores``: identical prompts are scored once across pipelines (logits scoring)."""
        self.llms: dict[str, LLM] = {}
        if llm is not None:
            self.llms[config_hash(llm.config)] = llm
        self.routers: dict[str, Router] = {}
        self.retrievers: dict[str, Any] = {}
        self._retriever_keys: dict[str, str] = {}  # retrieval section → retriever fingerprint
        self.scorers: dict[str, Any] = {}
        self.hints: dict[str, dict[str, str]] = {}
        self.retrieval_cache: dict[str, list] = {}
        self.share_prompt_scores = share_prompt_scores

    # ------------------------------------------------------------------ parts
    def llm(self, cfg: RunConfig) -> LLM:
        key = config_hash(cfg.llm)
        if key not in self.llms:
            from .llm import load_llm

            self.llms[key] = load_llm(cfg.llm)
        return self.llms[key]

    def router(self, cfg: RunConfig) -> Router:
        from .router import make_router

        uses_llm = cfg.router.name == "llm"
        key = short_hash([config_dict(cfg.router), config_hash(cfg.llm) if uses_llm else None])
        if key not in self.routers:
            self.routers[key] = make_router(cfg.router, llm=self.llm(cfg) if uses_llm else None)
        return self.routers[key]

    def retriever(self, cfg: RunConfig):
        """The configured retriever, or None when the run never retrieves (no KB, or ``always-korean``)."""
        if not needs_retriever(cfg):
            return None
        section = short_hash([str(Path(cfg.retrieval.kb).resolve()), config_dict(cfg.retrieval)])
        fp = self._retriever_keys.get(section)
        if fp is None:
            from retrievers import get_retriever

            r = get_retriever(cfg.retrieval)
            fp = self._retriever_keys[section] = r.fingerprint
            self.retrievers.setdefault(fp, r)
        return self.retrievers[fp]

    def scorer(self, cfg: RunConfig):
        from .scoring import make_scorer

        key = short_hash([config_hash(cfg.llm) if needs_llm(cfg) else None, config_dict(cfg.scoring)])
        if key not in self.scorers:
            s = make_scorer(self.llm(cfg) if needs_llm(cfg) else None, cfg.scoring)
            if self.share_prompt_scores and hasattr(s, "cache"):
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
        if needs_llm(cfg):  # a missing template file or an unknown placeholder in it
            from .prompts.templates import load_template

            load_template(cfg.prompt.template)
        router = self.router(cfg)
        llm = self.llm(cfg) if needs_llm(cfg) else None
        return Pipeline(cfg, llm, router, retriever, hints, scorer=self.scorer(cfg),
                        retrieval_cache=self.retrieval_cache)
