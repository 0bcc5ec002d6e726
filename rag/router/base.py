"""Route record, router interface and registry."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from common.config import RouterConfig
from common.registry import Registry

from ..data.question import Question

KOREAN, SOCIAL = "korean", "social"
ROUTERS: Registry[type] = Registry("router")


@dataclass
class Route:
    label: str  # "korean" | "social": where the question goes (after ``router.uncertain``)
    confidence: float  # the router's probability of ``label``
    p_social: float
    uncertain: bool = False  # p_social within ``router.uncertain_margin`` of the threshold, or low coverage


class Router:
    name = "base"

    def __init__(self, cfg: RouterConfig | None = None, **_):
        self.cfg = cfg or RouterConfig(name=self.name)

    def p_social(self, questions: Sequence[Question]) -> list[float]:
        return self.scores(questions)[0]

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
        for i, p in enumerate(probs):
            social = p >= c.threshold
            unsure = abs(p - c.threshold) < c.uncertain_margin or (
                coverage is not None and coverage[i] < c.min_coverage)
            if unsure and c.uncertain == "retrieve":
                social = True
            out.append(Route(SOCIAL if social else KOREAN, p if social else 1 - p, p, unsure))
        return out


@ROUTERS.register("always-social")
class AlwaysSocial(Router):
    name = "always-social"

    def p_social(self, questions):
        return [1.0] * len(questions)


@ROUTERS.register("always-korean")
class AlwaysKorean(Router):
    name = "always-korean"

    def p_social(self, questions):
        return [0.0] * len(questions)


def make_router(cfg: RouterConfig, llm=None) -> Router:
    from . import classifier, keywords, llm_router  # noqa: F401  (register)

    return ROUTERS.get(cfg.name)(cfg, llm=llm)
