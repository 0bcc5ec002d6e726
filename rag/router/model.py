"""The classifier router's linear model: learned arrays (``LinearModel``) read with the settings of its
``RouterParams``. Fitting is ``router_training.fit``, saving ``router_training.writer``; loading is ``artifact.py``.

    p(social) = σ(w_q·t + gated_weight · (1 − overlap_max) · w_u·t + passage_weight · w_p·tfidf(passage bigrams)
                  + w_d·(s ⊙ dense) + embedding_weight · (w_e·e + (1 − overlap_max) · w_g·e) + w_h·passage_prior + b)

with t = tfidf(terms) and e the morpheme-vector block (plus the topic columns). The second term and vector blocks
are *gated* by how little of the best choice the passage holds: what a question is about decides more where its
answer is not in front of it (a news passage on the economy whose choices come from the passage stays a reading
item; the same topic with nothing to read from is 사회). ``w_h`` was fitted on whether each training question has a
passage; routing holds that column at the constant ``passage_prior`` (it moves the intercept only), so no feature
of a question has to stand for "has a passage" — every real 수능 사회 item has one."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .features import DENSE_NAMES, RouterFeatures, dense_scale
from .params import RouterParams

_OVERLAP_MAX = DENSE_NAMES.index("overlap_max")
#: the arrays of a ``LinearModel`` (each saved under this name, prefixed by the model's role, in ``router.npz``)
ARRAYS = ("idf", "coef", "gated_coef", "passage_idf", "passage_coef", "dense_coef", "embedding_coef", "scalars")


def sigmoid(x) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def gate(feats: Sequence[RouterFeatures]) -> np.ndarray:
    """1 − overlap_max per question: how little of the best choice the passage holds (the gated blocks' factor)."""
    return 1.0 - np.array([f.dense[_OVERLAP_MAX] for f in feats])


def has_passages(feats: Sequence[RouterFeatures]) -> np.ndarray:
    """True where a question has a passage (any passage bigram)."""
    return np.array([bool(f.passage_terms) for f in feats], bool)


def embeddings(feats: Sequence[RouterFeatures], dim: int) -> np.ndarray:
    """The embedding block: [e, (1 − overlap_max) · e] per question (2 · dim columns)."""
    rows = [f.embedding for f in feats]
    if any(r is None or len(r) != dim for r in rows):
        raise ValueError(f"this router weighs {dim}-d morpheme vectors (and topic columns) but the features have none "
                         f"or another size: extract them with the router's own FeatureExtractor")
    e = np.stack(rows)
    return np.hstack([e, gate(feats)[:, None] * e])


class Tfidf:
    """Sublinear-tf, l2-normalised TF-IDF over a fixed vocabulary (what scikit-learn's vectorizer computes)."""

    def __init__(self, vocab: Sequence[str], idf: np.ndarray):
        self.vocab, self.idf = list(vocab), np.asarray(idf, dtype=np.float64)
        self.index = {t: i for i, t in enumerate(self.vocab)}
        if len(self.index) != len(self.vocab) or self.idf.shape != (len(self.vocab),):
            raise ValueError(f"a vocabulary of {len(self.vocab)} terms ({len(self.index)} distinct) with "
                             f"{self.idf.shape} idf values")

    def rows(self, docs: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The nonzero entries of a batch of documents as (row, column, weight), rows in order, columns sorted
        within a row: one ``np.unique`` over the batch rather than one per document."""
        index, n = self.index, len(self.vocab)
        keys = [r * n + index[t] for r, doc in enumerate(docs) for t in doc if t in index]
        if not keys:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        key, counts = np.unique(np.array(keys, dtype=np.int64), return_counts=True)
        row, col = np.divmod(key, n)
        w = (1.0 + np.log(counts)) * self.idf[col]
        norm = np.sqrt(np.bincount(row, w * w, minlength=len(docs)))
        return row, col, w / norm[row]

    def dot(self, docs: Sequence[Sequence[str]], coef: np.ndarray) -> np.ndarray:
        """tfidf(doc) · coef for each document (0 for one with no known term)."""
        row, col, w = self.rows(docs)
        return np.bincount(row, w * coef[col], minlength=len(docs))


@dataclass
class LinearModel:
    """Learned state of one fitted router model; ``params`` says how its blocks are weighed. ``topic``: whether
    its vector block carries the sentence encoder's topic columns (the second opinion's model)."""
    params: RouterParams
    vocab: list[str]
    idf: np.ndarray
    coef: np.ndarray
    passage_vocab: list[str]
    passage_idf: np.ndarray
    passage_coef: np.ndarray
    dense_coef: np.ndarray
    intercept: float
    embedding_coef: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gated_coef: np.ndarray = field(default_factory=lambda: np.zeros(0))
    passage_nuisance: float = 0.0  # the fitted has-a-passage coefficient
    topic: bool = False

    def __post_init__(self):
        self.terms, self.passage = Tfidf(self.vocab, self.idf), Tfidf(self.passage_vocab, self.passage_idf)
        for name in ("coef", "passage_coef", "dense_coef", "embedding_coef", "gated_coef"):
            setattr(self, name, np.asarray(getattr(self, name), np.float64))
        checks = {"coef": (self.coef.size, len(self.vocab)), "passage_coef": (self.passage_coef.size,
                  len(self.passage_vocab)), "dense_coef": (self.dense_coef.size, len(DENSE_NAMES))}
        if self.gated_coef.size:
            checks["gated_coef"] = (self.gated_coef.size, len(self.vocab))
        for name, (got, want) in checks.items():
            if got != want:
                raise ValueError(f"{name}: {got} coefficients for {want} features")
        if self.embedding_coef.size % 2:
            raise ValueError(f"embedding_coef: {self.embedding_coef.size} coefficients, not two blocks")
        self.intercept, self.passage_nuisance = float(self.intercept), float(self.passage_nuisance)

    @property
    def embedding_dim(self) -> int:
        """Columns of the vector block (morpheme vectors plus appended topic columns); 0 without one."""
        return self.embedding_coef.size // 2

    @property
    def embedding_weight(self) -> float:
        return self.params.embedding_weight if self.embedding_coef.size else 0.0

    @property
    def gated_weight(self) -> float:
        return self.params.gated_weight if self.gated_coef.size else 0.0

    def decision(self, feats: Sequence[RouterFeatures]) -> np.ndarray:
        """The logit of 사회 per question."""
        out = np.zeros(len(feats))
        if not len(feats):
            return out
        if self.embedding_weight:
            out += self.embedding_weight * (embeddings(feats, self.embedding_dim) @ self.embedding_coef)
        base = self.intercept + self.passage_nuisance * (self.params.passage_prior or 0.0)
        out += base + np.array([f.dense for f in feats]).reshape(len(feats), -1) @ (dense_scale(self.params)
                                                                                   * self.dense_coef)
        terms = [f.terms for f in feats]
        out += self.terms.dot(terms, self.coef)
        if self.gated_weight:
            out += self.gated_weight * gate(feats) * self.terms.dot(terms, self.gated_coef)
        out += self.params.passage_weight * self.passage.dot([f.passage_terms for f in feats], self.passage_coef)
        return out

    def predict_proba(self, feats: Sequence[RouterFeatures]) -> np.ndarray:
        return sigmoid(self.decision(feats))

    def coverage(self, feats: Sequence[RouterFeatures]) -> np.ndarray:
        """Share of each question's terms (question, <보기>, choices) that the model has a weight for: low
        coverage means a question unlike anything it was trained on."""
        return np.array([sum(t in self.terms.index for t in f.terms) / len(f.terms) if f.terms else 0.0
                         for f in feats])

    def arrays(self) -> dict[str, np.ndarray]:
        """The learned arrays (``ARRAYS``), what ``router.npz`` keeps."""
        return {"idf": self.terms.idf, "coef": self.coef, "gated_coef": self.gated_coef,
                "passage_idf": self.passage.idf, "passage_coef": self.passage_coef, "dense_coef": self.dense_coef,
                "embedding_coef": self.embedding_coef,
                "scalars": np.array([self.intercept, self.passage_nuisance])}

    @classmethod
    def from_arrays(cls, params: RouterParams, vocab: list[str], passage_vocab: list[str], arrays: dict,
                    topic: bool) -> LinearModel:
        intercept, nuisance = (float(x) for x in np.asarray(arrays["scalars"]).reshape(-1)[:2])
        return cls(params, vocab, arrays["idf"], arrays["coef"], passage_vocab, arrays["passage_idf"],
                   arrays["passage_coef"], arrays["dense_coef"], intercept, arrays["embedding_coef"],
                   arrays["gated_coef"], nuisance, topic)
