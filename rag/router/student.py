"""The sentence encoder's topic, distilled into the words: a *topic student* the router reads at no encoding cost.

``topics.py`` has multilingual-e5-small compare a question's stem with 17 one-line descriptions of the 국어 areas
and the 사회 subjects (``params.RouterLexicon.prototypes``); the encoder knows words no training family holds, but
it reads ~35 questions/s on 2 cores. The student learns that topic from knowledge-base text instead (about 11,400
snippets of Wikipedia, KoBEST and statutes, each encoded once when the router is built: ``router_training.student``):
a ridge regression maps what the router already computes for a question — the TF-IDF of its content morphemes and
its Kiwi morpheme-vector bag — to those 17 columns. Routing adds a sparse dot product: a word seen in the corpus
(조음, 텔레마케팅, 표본오차) carries the topic the encoder gave the sentences it occurs in, whether or not a
training family used it. On the leave-one-family-out folds it is worth +0.028 on MMMLU and +0.008 on five-choice
사회 (docs/routing.md)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .model import Tfidf

#: the arrays of a student in ``router.npz`` (prefixed ``student.``)
ARRAYS = ("idf", "term_coef", "bag_coef", "intercept")


class TopicStudent:
    """``student(terms, bag)`` → the (len(prototypes),) topic of one question from its router terms (``q:form/TAG``)
    and its morpheme-vector bag: ``weight · (tfidf(terms) · A + bag · B + b)``."""

    def __init__(self, vocab: list[str], idf: np.ndarray, term_coef: np.ndarray, bag_coef: np.ndarray,
                 intercept: np.ndarray, weight: float, meta: dict | None = None):
        self.tfidf = Tfidf(vocab, idf)
        self.term_coef = np.asarray(term_coef, np.float64)
        self.bag_coef, self.intercept = np.asarray(bag_coef, np.float64), np.asarray(intercept, np.float64)
        if (self.term_coef.ndim != 2 or self.bag_coef.ndim != 2 or self.intercept.ndim != 1
                or self.term_coef.shape != (len(vocab), self.intercept.size)
                or self.bag_coef.shape[1] != self.intercept.size):
            raise ValueError(f"topic student: coefficients {self.term_coef.shape} / {self.bag_coef.shape} do not fit a "
                             f"vocabulary of {len(vocab)} and {self.intercept.size} topic columns")
        self.weight, self.meta = float(weight), dict(meta or {})

    @property
    def dim(self) -> int:
        return int(self.intercept.size)

    @property
    def bag_dim(self) -> int:
        return int(self.bag_coef.shape[0])

    def __call__(self, terms: Sequence[str], bag: np.ndarray) -> np.ndarray:
        return self.batch([terms], np.asarray(bag, np.float64)[None, :])[0]

    def batch(self, terms: Sequence[Sequence[str]], bags: np.ndarray) -> np.ndarray:
        """(len(terms), dim) topics of a batch of questions (one sparse product for the batch)."""
        row, col, w = self.tfidf.rows(terms)
        out = np.asarray(bags, np.float64) @ self.bag_coef + self.intercept
        np.add.at(out, row, w[:, None] * self.term_coef[col])
        return self.weight * out

    def arrays(self) -> dict[str, np.ndarray]:
        return {"idf": self.tfidf.idf, "term_coef": self.term_coef, "bag_coef": self.bag_coef,
                "intercept": self.intercept}
