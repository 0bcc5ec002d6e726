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
    label: str  # "korean" | "social"
    confidence: float  # probability of ``label`` (≥ 0.5 for two-way routers)
    p_social: float


class Router:
    name = "base"

    def __init__(self, cfg: RouterConfig | None = None, **_):
        self.cfg = cfg or RouterConfig(name=self.name)

    def p_social(self, questions: Sequence[Question]) -> list[float]:
        raise NotImplementedError

    def route(self, questions: Sequence[Question]) -> list[Route]:
        out = []
        for p in self.p_social(questions):
            social = p >= self.cfg.threshold
            out.append(Route(SOCIAL if social else KOREAN, p if social else 1 - p, p))
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
