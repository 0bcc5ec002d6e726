"""Named question suites over ../shared/data (``--suite NAME`` of ``rag.predict`` and the ``eval`` commands), each with domain/subject labels from the loaders.

| suite          | questions |
|----------------|-----------|
| competition-dev| seeded, domain-stratified ``eval.dev_fraction`` of competition train, domains interleaved (ids saved with every run) |
| kice           | 수능 국어 2015–2024 (450; the competition test's KCSAT rows overlap 2020–2024) |
| click-social   | CLIcK Culture/* (history, law, politics, economy, society, geography, popular, tradition) |
| click-korean   | CLIcK Language/* (grammar, functional, textual) |
| kmmlu-social   | KMMLU test splits of the social subjects |
"""
from __future__ import annotations

from collections.abc import Callable

from common.config import RunConfig
from common.registry import Registry

from .loaders import load_questions
from .question import Question
from .splits import competition_dev, interleave_by_domain

SUITES: Registry[Callable[[RunConfig], list[Question]]] = Registry("evaluation suite")
KMMLU_SOCIAL = ("korean-history", "Economics", "Political-Science-and-Sociology", "Law", "Criminal-Law",
                "Psychology", "Social-Welfare", "Education")


@SUITES.register("competition-dev")
def competition_dev_suite(cfg: RunConfig) -> list[Question]:
    """Domains interleaved, so ``--limit N`` takes a balanced prefix."""
    return interleave_by_domain(competition_dev(cfg))


@SUITES.register("kice")
def kice(cfg: RunConfig) -> list[Question]:
    return load_questions(cfg.resolve_path("data:exams/kice"))


@SUITES.register("click-social")
def click_social(cfg: RunConfig) -> list[Question]:
    return load_questions(cfg.resolve_path("data:exams/click/Culture"), format="click")


@SUITES.register("click-korean")
def click_korean(cfg: RunConfig) -> list[Question]:
    return load_questions(cfg.resolve_path("data:exams/click/Language"), format="click")


@SUITES.register("kmmlu-social")
def kmmlu_social(cfg: RunConfig) -> list[Question]:
    qs: list[Question] = []
    for subject in KMMLU_SOCIAL:
        qs += load_questions(cfg.resolve_path(f"data:exams/kmmlu/{subject}-test.csv"), format="kmmlu")
    return qs


def load_suite(name: str, cfg: RunConfig) -> list[Question]:
    return SUITES.get(name)(cfg)
