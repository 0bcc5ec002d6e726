"""Trained router: TF-IDF (sublinear tf, l2) over Kiwi morpheme features + logistic regression.

Saved as ``router.json`` (vocabulary, settings) and ``router.npz`` (idf, coefficients) — no pickle; loading
recomputes the same probabilities as the fitted scikit-learn model."""
from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data.question import Question
from .base import KOREAN, ROUTERS, SOCIAL, Router
from .features import FeatureExtractor

FORMAT = "csat-rag/router-tfidf-lr/1"


def _identity(x):
    return x


def shape_features(questions: Sequence[Question]) -> np.ndarray:
    """Dense features beside the text: the number of choices (수능 items have 5, KMMLU/MMMLU 4), a <보기>,
    ㄱ/ㄴ/ㄷ combination choices, the passage length (log)."""
    rows = []
    for q in questions:
        rows.append([q.n_choices == 5, q.n_choices == 4, bool(q.question_plus),
                     any(c.strip().startswith("ㄱ") for c in q.choices), np.log1p(len(q.paragraph)) / 8.0])
    return np.asarray(rows, dtype=np.float64).reshape(len(questions), 5)


class TfidfLogReg:
    """Logistic regression over [l2-normalised sublinear TF-IDF of the terms ‖ dense shape features]."""

    def __init__(self, vocab: list[str], idf: np.ndarray, coef: np.ndarray, intercept: float,
                 meta: dict | None = None, dense_coef: np.ndarray | None = None):
        self.vocab = vocab
        self.index = {t: i for i, t in enumerate(vocab)}
        self.idf, self.coef, self.intercept = idf, coef, float(intercept)
        self.dense_coef = np.zeros(0) if dense_coef is None else np.asarray(dense_coef, dtype=np.float64)
        self.meta = meta or {}

    @classmethod
    def fit(cls, docs: list[list[str]], labels: list[int], dense: np.ndarray, C: float = 4.0, min_df: int = 2,
            seed: int = 0) -> TfidfLogReg:
        from scipy.sparse import csr_matrix, hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vec = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=min_df, norm="l2")
        X = hstack([vec.fit_transform(docs), csr_matrix(dense)]).tocsr()
        clf = LogisticRegression(C=C, max_iter=3000, class_weight="balanced", random_state=seed)
        clf.fit(X, labels)
        vocab = [None] * len(vec.vocabulary_)
        for t, i in vec.vocabulary_.items():
            vocab[i] = t
        nv = len(vocab)
        model = cls(vocab, vec.idf_.astype(np.float64), clf.coef_[0, :nv].astype(np.float64), clf.intercept_[0],
                    dense_coef=clf.coef_[0, nv:])
        model._sk = (vec, clf)  # kept only in memory, for the round-trip test
        return model

    def decision(self, docs: Sequence[Sequence[str]], dense: np.ndarray) -> np.ndarray:
        out = np.asarray(dense, dtype=np.float64) @ self.dense_coef if self.dense_coef.size else np.zeros(len(docs))
        for r, doc in enumerate(docs):
            counts = Counter(self.index[t] for t in doc if t in self.index)
            if not counts:
                out[r] += self.intercept
                continue
            idx = np.fromiter(counts.keys(), dtype=np.int64)
            tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64))
            w = tf * self.idf[idx]
            w /= np.linalg.norm(w)
            out[r] += float(w @ self.coef[idx]) + self.intercept
        return out

    def predict_proba(self, docs, dense: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.decision(docs, dense)))

    def save(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        np.savez(out / "router.npz", idf=self.idf, coef=self.coef, intercept=np.array([self.intercept]),
                 dense_coef=self.dense_coef)
        (out / "router.json").write_text(json.dumps({"format": FORMAT, "classes": [KOREAN, SOCIAL],
                                                     "vocab": self.vocab, "meta": self.meta}, ensure_ascii=False),
                                         encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> TfidfLogReg:
        jpath, npath = path / "router.json", path / "router.npz"
        if not jpath.exists() or not npath.exists():
            raise FileNotFoundError(f"{path} is not a trained router (router.json/router.npz missing); train one "
                                    f"with `python -m rag.router train --out {path}`")
        info = json.loads(jpath.read_text(encoding="utf-8"))
        if info.get("format") != FORMAT:
            raise ValueError(f"{jpath}: unknown router format {info.get('format')!r}")
        with np.load(npath, allow_pickle=False) as z:
            return cls(info["vocab"], z["idf"], z["coef"], float(z["intercept"][0]), info.get("meta"), z["dense_coef"])


@ROUTERS.register("classifier")
class ClassifierRouter(Router):
    name = "classifier"

    def __init__(self, cfg=None, model: TfidfLogReg | None = None, **_):
        super().__init__(cfg)
        if model is None:
            if not self.cfg.model:
                raise ValueError("router.model is not set: train a router (python -m rag.router train) and pass "
                                 "-o router.model=DIR")
            model = TfidfLogReg.load(Path(self.cfg.model))
        self.model = model
        self.features = FeatureExtractor(model.meta.get("passage_chars", 1500))

    def p_social(self, questions):
        return [float(p) for p in self.model.predict_proba(self.features(questions), shape_features(questions))]


def train_classifier(questions: list[Question], C: float = 4.0, passage_chars: int = 1500) -> TfidfLogReg:
    labelled = [q for q in questions if q.domain in (KOREAN, SOCIAL)]
    feats = FeatureExtractor(passage_chars)(labelled)
    model = TfidfLogReg.fit(feats, [int(q.domain == SOCIAL) for q in labelled], shape_features(labelled), C=C)
    model.meta = {"passage_chars": passage_chars, "C": C, "n_train": len(labelled),
                  "by_domain": dict(Counter(q.domain for q in labelled)),
                  "trained": time.strftime("%Y-%m-%dT%H:%M:%S")}
    return model
