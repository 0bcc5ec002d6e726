"""Question *families* for training and judging the router: sources that differ in how their questions look.

A router is only trusted on real 수능 if it routes a family it never saw. ``python -m rag.router lofo``
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
| ``ksat-social`` | social | real 수능 사회탐구 items inside competition test (evaluation only; see its loader) |
| ``korquad-mc`` | korean | synthetic: KorQuAD dev made multiple-choice (``synthetic.py``) |
| ``wiki-jaryo`` | social | synthetic: 수능-사회-shaped items from Korean Wikipedia (``synthetic.py``) |
| ``kobest-mc`` | korean | synthetic: KoBEST HellaSwag/COPA/WiC as 국어 items, often without a passage |
| ``wiki-gabeul`` | social | synthetic: 갑/을 two-position items (ethics, society, politics, economics) from Korean Wikipedia |
| ``wiki-terms`` | social | synthetic: knowledge items without a passage from Korean Wikipedia (KMMLU/MMMLU wording) |
| ``statute-mc`` | social | synthetic: law / welfare / tax items without a passage from Korean statutes (KMMLU wording) |
| ``wiki-grammar`` | korean | synthetic: the same wording on language (phonology, grammar, spelling articles), no passage |
| ``wiki-saryo`` | social | synthetic: a quotation from a world-history / ethics article as the 사료, an inference stem |

``kice`` years 2020–2024 are the competition test's KCSAT rows: the shipped router (``default_training``)
leaves them out so that its competition-test figure is not measured on its own training items.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.registry import Registry

from ..data import load_questions, load_with_report
from ..data.loaders import hash_bucket
from ..data.question import Question
from .base import KOREAN, SOCIAL

#: KICE years whose items are the competition test's KCSAT rows
HELD_OUT_KICE_YEARS = frozenset({"2020", "2021", "2022", "2023", "2024"})


@dataclass(frozen=True)
class Family:
    name: str
    domain: str
    description: str
    load: Callable[[Path], list[Question]]
    #: rows kept per family when training (a deterministic sample by id); None keeps all
    train_cap: int | None = 1500
    #: built from other data to stand in for a kind of question (training only; not a real-exam figure)
    synthetic: bool = False
    #: never trained on (it lies inside an evaluation set); routed by every leave-one-out model
    eval_only: bool = False


FAMILIES: Registry[Family] = Registry("router family")


def _family(name: str, domain: str, description: str, train_cap: int | None = 1500, synthetic: bool = False,
            eval_only: bool = False):
    def deco(fn: Callable[[Path], list[Question]]) -> Callable[[Path], list[Question]]:
        def load(root: Path) -> list[Question]:
            qs = fn(Path(root))
            for q in qs:
                q.metadata["family"] = name
            return qs

        FAMILIES.register(name)(Family(name, domain, description, load, train_cap, synthetic, eval_only))
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


def _norm(s: str) -> str:
    return re.sub(r"\s+", "", s)


#: characters of a passage stretch compared with the KICE passages (``kice_matches``)
KICE_WINDOW = 30
_HANGUL = re.compile(r"[가-힣]")


def kice_matches(questions: list[Question], kice: list[Question], window: int = KICE_WINDOW) -> list[bool]:
    """Whether each question is a KICE 국어 item. With a passage, by the passage alone: it shares a stretch of
    ``2 · window`` characters (spaces ignored) with a KICE passage. A stem or choices are no proof: 수능 사회탐구
    items share generic stems ("(가)～(다)에 대한 설명으로 가장 적절한 것은?") and <보기>-combination choices
    ("ㄱ, ㄴ", "ㄴ, ㄷ") with 국어 items, and matching on those left 55 사회탐구 rows of competition test counted
    as 국어. Without a passage: the same question text (first 40 characters, spaces ignored) or at least two
    choices (first 30 characters) of four or more Hangul syllables."""
    indexed = set()
    for q in kice:
        t = _norm(q.paragraph)
        indexed.update(t[i:i + window] for i in range(0, len(t) - window + 1, window))
    stems = {_norm(q.question)[:40] for q in kice}
    choices = {_norm(c)[:30] for q in kice for c in q.choices if len(_HANGUL.findall(c)) >= 4}

    def match(q: Question) -> bool:
        t = _norm(q.paragraph)
        if t:  # any stretch of 2·window shared characters holds one of the indexed windows
            return any(t[i:i + window] in indexed for i in range(len(t) - window + 1))
        return _norm(q.question)[:40] in stems or sum(_norm(c)[:30] in choices for c in q.choices) >= 2

    return [match(q) for q in questions]


@_family("ksat-social", SOCIAL, "real 수능 사회탐구 items in competition test (labelled KCSAT/korean there)",
         eval_only=True)
def _ksat_social(root: Path) -> list[Question]:
    """The competition test's ``KCSAT`` rows that are not 수능 국어 items (their passage is no KICE 2015–2024
    passage, ``kice_matches``): 237 real 사회탐구 items — 윤리와 사상, 생활과 윤리, 사회·문화, 정치와 법,
    지리 … — with 5 choices, 자료 passages, <보기> and 갑/을 dialogues, which ``test_sources.csv`` labels
    ``korean`` (188 KCSAT rows are 수능 국어 items). Relabelled ``social`` here;
    evaluation only (never trained on)."""
    out = [q for q in _competition_test(root) if q.source == "KCSAT-social"]
    for q in out:
        q.domain = SOCIAL
    return out


def _competition_test(root: Path) -> list[Question]:
    """Competition test with its labels; the KCSAT rows with no KICE match get source ``KCSAT-social``."""
    test = load_questions(root / "competition/test.csv", labels=root / "competition/test_sources.csv")
    kcsat = [q for q in test if q.source == "KCSAT"]
    for q, hit in zip(kcsat, kice_matches(kcsat, _kice(root))):
        if not hit:
            q.source = "KCSAT-social"
    return test


def competition_test_relabelled(root: Path) -> list[Question]:
    """Competition test with its labels, the ``ksat-social`` rows set to ``social``."""
    test = _competition_test(root)
    for q in test:
        if q.source == "KCSAT-social":
            q.domain = SOCIAL
    return test


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


def load_families(root: Path, names: list[str] | None = None) -> dict[str, list[Question]]:
    return {n: FAMILIES.get(n).load(root) for n in (names or FAMILIES.names())}


def default_training(root: Path) -> list[Question]:
    """What the shipped router trains on: every family (capped per family), without KICE 2020–2024 (the
    competition test's KCSAT items) and with only the ``@0/2`` half of CLIcK (``hash_bucket``; evaluate on
    ``exams/click@1/2``)."""
    out: list[Question] = []
    for name, qs in load_families(root, [n for n in FAMILIES.names() if not FAMILIES.get(n).eval_only]).items():
        fam = FAMILIES.get(name)
        if name == "kice":
            qs = [q for q in qs if q.metadata.get("year") not in HELD_OUT_KICE_YEARS]
        if name.startswith("click-"):
            qs = [q for q in qs if hash_bucket(q.id, 2) == 0]
        out.extend(cap(qs, fam.train_cap))
    return out


from . import synthetic as _synthetic  # noqa: F401  (registers the synthetic families)
from . import synthetic_wiki as _synthetic_wiki  # noqa: F401  (and those from Korean Wikipedia)
