"""Route record, router interface and registry."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from common.config import RouterConfig
from common.registry import Registry

from ..data.question import Question

KOREAN, SOCIAL = "korean", "social"
ROUTERS: Registry[type] = Registry("router", field="router.name", lazy={
    "classifier": "rag.router.classifier:ClassifierRouter", "keywords": "rag.router.keywords:KeywordRouter",
    "llm": "rag.router.llm_router:LLMRouter"})


@dataclass
class Route:
    label: str  # "korean" | "social": where the question goes (after ``router.uncertain``)
    confidence: float  # the router's probability of ``label``
    p_social: float
    uncertain: bool = False  # p_social within ``router.uncertain_margin`` of the threshold, or low coverage


class Router:
    name = "base"
    #: whether it can send a question down the 사회 path (a run whose router cannot needs no retriever)
    routes_social = True
    #: whether it asks the run's LLM
    needs_llm = False

    def __init__(self, cfg: RouterConfig | None = None, **_):
        self.cfg = cfg or RouterConfig(name=self.name)

    def p_social(self, questions: Sequence[Question]) -> list[float]:
        raise NotImplementedError

    def scores(self, questions: Sequence[Question]) -> tuple[list[float], list[float] | None]:
        """P(social) per question and, for routers that can tell, the share of each question's terms they
        know (None otherwise)."""
        return self.p_social(questions), None

    def route(self, questions: Sequence[Question]) -> list[Route]:
        """Label by ``threshold``; a question is *uncertain* when p_social lies within ``uncertain_margin``
        below or above it, or (routers that report it) its known-term coverage is under ``min_coverage``.
        ``uncertain: retrieve`` sends uncertain questions down the 사회 path (retrieval costs little, missing
        knowledge costs the answer); ``uncertain: label`` keeps the label."""
        c = self.cfg
        probs, coverage = self.scores(questions)
        out = []
        for p, unsure in zip(probs, uncertain_mask(probs, coverage, c)):
            social = p >= c.threshold or (bool(unsure) and c.uncertain == "retrieve")
            out.append(Route(SOCIAL if social else KOREAN, p if social else 1 - p, p, bool(unsure)))
        return out


def uncertain_mask(p_social, coverage, cfg: RouterConfig) -> np.ndarray:
    """Where the router is unsure: p_social within ``cfg.uncertain_margin`` of the threshold, or (when the
    router reports it) under ``cfg.min_coverage`` of the question's terms known."""
    p = np.asarray(p_social, dtype=np.float64)
    unsure = np.abs(p - cfg.threshold) < cfg.uncertain_margin
    if coverage is not None:
        unsure |= np.asarray(coverage, dtype=np.float64) < cfg.min_coverage
    return unsure


@ROUTERS.register("always-social")
class AlwaysSocial(Router):
    name = "always-social"

    def p_social(self, questions):
        return [1.0] * len(questions)


@ROUTERS.register("always-korean")
class AlwaysKorean(Router):
    name = "always-korean"
    routes_social = False

    def p_social(self, questions):
        return [0.0] * len(questions)


def make_router(cfg: RouterConfig, llm=None) -> Router:
    return ROUTERS.get(cfg.name)(cfg, llm=llm)
