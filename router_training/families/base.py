"""Question *families* for training and judging the router: sources that differ in how their questions look.

A router is only trusted on real 수능 if it routes a family it never saw. ``python -m eval.router lofo``
trains without each family in turn and tests on it (leave one family out); rows of the same family never
stand on both sides. Families by name (``FAMILIES.get(name)``), each read from the shared data root:

| family | domain | what |
|---|---|---|
| ``klue-mrc`` | korean | competition KLUE-MRC rows (news passage, factual question, 5 choices) |
| ``kice`` | korean | 수능 국어 2015–2024 (KICE JSON; the competition's KCSAT rows are these items) |
| ``click-korean`` | korean | CLIcK Language (grammar, textual, functional; 4 or 5 choices, often no passage) |
| ``kmmlu`` | social | competition KMMLU rows (한국사 over a 사료) + KMMLU train splits (14 subjects) |
| ``mmmlu`` | social | competition MMMLU rows (translated MMLU: history, economics, psychology, …) |
| ``click-social`` | social | CLIcK Culture (history, law, politics, economy, society, geography, …) |
| ``sat-history`` | social | SAT U.S. history translated to Korean (5 choices) |
| ``ksat-social`` | social | the competition test's real 수능 사회탐구 rows (``KCSAT-social``; evaluation only) |
| ``korquad-mc`` | korean | synthetic: KorQuAD dev made multiple-choice (``synthetic.py``) |
| ``wiki-jaryo`` | social | synthetic: 수능-사회-shaped items from Korean Wikipedia (``synthetic.py``) |
| ``kobest-mc`` | korean | synthetic: KoBEST HellaSwag/COPA/WiC as 국어 items, often without a passage |
| ``wiki-gabeul`` | social | synthetic: 갑/을 two-position items (ethics, society, politics, economics) from Korean Wikipedia |
| ``wiki-terms`` | social | synthetic: knowledge items without a passage from Korean Wikipedia (KMMLU/MMMLU wording) |
| ``statute-mc`` | social | synthetic: law / welfare / tax items without a passage from Korean statutes (KMMLU wording) |
| ``wiki-grammar`` | korean | synthetic: the same wording on language (phonology, grammar, spelling articles), no passage |
| ``wiki-saryo`` | social | synthetic: a quotation from a world-history / ethics article as the 사료, an inference stem |

``kice`` years 2020–2024 are the competition test's KCSAT rows: the shipped router (``default_training``)
leaves them out so that its competition-test figure is not measured on its own training items. The real families
are registered here, the synthetic ones in ``synthetic.py`` and ``synthetic_wiki.py``; importing
``router_training.families`` registers all of them.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.registry import Registry
from rag.data import load_questions, load_with_report
from rag.data.question import Question
from rag.router.base import KOREAN, SOCIAL

#: KICE years whose items are the competition test's KCSAT rows
HELD_OUT_KICE_YEARS = frozenset({"2020", "2021", "2022", "2023", "2024"})


@dataclass(frozen=True)
class Family:
    name: str
    domain: str
    description: str
    load: Callable[[Path], list[Question]]
    #: built from other data to stand in for a kind of question (training only; not a real-exam figure)
    synthetic: bool = False
    #: never trained on (it lies inside an evaluation set); routed by every leave-one-out model
    eval_only: bool = False


FAMILIES: Registry[Family] = Registry("router family")


def _family(name: str, domain: str, description: str, synthetic: bool = False, eval_only: bool = False):
    def deco(fn: Callable[[Path], list[Question]]) -> Callable[[Path], list[Question]]:
        def load(root: Path) -> list[Question]:
            qs = fn(Path(root))
            for q in qs:
                q.metadata["family"] = name
            return qs

        FAMILIES.register(name)(Family(name, domain, description, load, synthetic, eval_only))
        return fn

    return deco


def _competition(root: Path, source: str) -> list[Question]:
    qs = load_questions(root / "competition/train.csv", labels=root / "competition/train_sources.csv")
    return [q for q in qs if q.source == source]


@_family("klue-mrc", KOREAN, "competition KLUE-MRC rows: news passage, factual question")
def _klue(root: Path) -> list[Question]:
    return _competition(root, "KLUE-MRC")


@_family("kice", KOREAN, "수능 국어 2015–2024 (KICE)")
def _kice(root: Path) -> list[Question]:
    return load_questions(root / "exams/kice")


@_family("click-korean", KOREAN, "CLIcK Language: grammar, textual, functional")
def _click_korean(root: Path) -> list[Question]:
    return load_questions(root / "exams/click/Language")


@_family("kmmlu", SOCIAL, "competition KMMLU rows (한국사 over a 사료) + KMMLU train splits")
def _kmmlu(root: Path) -> list[Question]:
    return _competition(root, "KMMLU") + load_questions(root / "exams/kmmlu", split="train")


@_family("mmmlu", SOCIAL, "competition MMMLU rows (translated MMLU social sciences)")
def _mmmlu(root: Path) -> list[Question]:
    return _competition(root, "MMMLU")


@_family("click-social", SOCIAL, "CLIcK Culture: history, law, politics, economy, society, geography, …")
def _click_social(root: Path) -> list[Question]:
    return load_questions(root / "exams/click/Culture")


@_family("sat-history", SOCIAL, "SAT U.S. history translated to Korean, 5 choices")
def _sat(root: Path) -> list[Question]:
    # two rows of the translation are broken (empty question, an answer that is not a letter): the report
    # names them; they are not questions
    qs, _ = load_with_report(root / "augment/sat_us_history_ko.csv", format="sat_ko", strict=False)
    return qs


@_family("ksat-social", SOCIAL, "real 수능 사회탐구 items in competition test (KCSAT-social rows)", eval_only=True)
def _ksat_social(root: Path) -> list[Question]:
    """The competition test's ``KCSAT-social`` rows (237 real 사회탐구 items — 윤리와 사상, 생활과 윤리, 사회·문화, 정치와
    법, 지리 … — with 5 choices, 자료 passages, <보기> and 갑/을 dialogues); evaluation only (never trained on)."""
    test = load_questions(root / "competition/test.csv", labels=root / "competition/test_sources.csv")
    return [q for q in test if q.source == "KCSAT-social"]


def stable_fraction(qid: str) -> float:
    """A number in [0, 1) fixed by the id (for reproducible samples)."""
    return int(hashlib.sha1(qid.encode("utf-8")).hexdigest()[:8], 16) / 2**32


def cap(questions: list[Question], n: int | None) -> list[Question]:
    """At most ``n`` questions, a deterministic sample by id (all when ``n`` is None or not exceeded)."""
    if n is None or len(questions) <= n:
        return list(questions)
    return sorted(questions, key=lambda q: stable_fraction(q.id))[:n]


def family_of(q: Question) -> str:
    """The family a question was loaded as (or its source)."""
    return str(q.metadata.get("family") or q.source or "unknown")


def cap_per_family(questions: list[Question], n: int | None) -> list[Question]:
    """At most ``n`` questions of each family (``cap``), families in the order they first appear."""
    by_family: dict[str, list[Question]] = {}
    for q in questions:
        by_family.setdefault(family_of(q), []).append(q)
    return [q for qs in by_family.values() for q in cap(qs, n)]


def family_weights(questions: Sequence[Question]) -> np.ndarray:
    """Sample weights giving each family the same total weight within its domain, and each domain the same."""
    per_family = Counter(family_of(q) for q in questions)
    families_in: dict[str | None, set[str]] = {}
    for q in questions:
        families_in.setdefault(q.domain, set()).add(family_of(q))
    w = np.array([1.0 / per_family[family_of(q)] / len(families_in[q.domain]) for q in questions])
    return w / w.mean()
