"""Trained router: logistic regression over TF-IDF of what a question says (``features.py``: question, <보기>
and choice morphemes, as is and gated by how little of the best choice the passage holds; a down-weighted block
of passage bigrams; choice–passage overlap and cue counts) and over the sum of Kiwi's morpheme vectors of the
question and choices (``vectors.py``: what unknown words are about), also as is and gated, followed by the
*topic student*'s 17 columns (``topic_student.py``: a sentence encoder's topic, distilled into words from
knowledge-base text, so routing never runs the encoder) when the router was trained with one.
No choice count or passage length: see ``features.py`` for why. Nor "has a passage", which the passage block
would otherwise learn by itself (every passage's bigrams summed to a pull towards 국어, −0.4 to −2.1 logits,
because most training passages are 국어 reading — and every real 수능 사회 item has one): the fit is given an
explicit has-a-passage column, so that nothing else has to stand for it, and routing leaves it out, every question
weighed as if it had a passage with probability ``passage_prior`` (a constant: it moves the intercept only).

Training (``training.train_classifier``) weighs every *family* (``families.py``) equally within its domain, so that
one large source (KMMLU's 6,000 rows) does not decide what "사회" looks like; a router may carry the encoder's second
opinion (``second_opinion.py``), a second model asked about questions without a passage and unsure ones. Saved as ``router.json`` (vocabularies, settings) and
``router.npz`` (idf, coefficients) — no pickle; loading recomputes the probabilities of the fitted model."""
from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from .base import KOREAN, ROUTERS, SOCIAL, Router
from .features import DENSE_NAMES, FeatureExtractor, RouterFeatures
from .second_opinion import (
    SUBDIR,
    has_passages,
    sigmoid,
    with_second_opinion,
)

FORMAT = "csat-rag/router-tfidf-lr/10"
_OVERLAP_MAX = DENSE_NAMES.index("overlap_max")
#: weight of the morpheme-vector block (features scaled by it before the fit; 0 turns it off) and anchors used
EMBEDDING_WEIGHT = 1.5
N_ANCHORS = 288
#: weight of the gated copy of the term block, (1 − overlap_max) · tfidf(terms) (0 turns it off; chosen among
#: 0.6, 1, 1.5, 2, 3 on the leave-one-family-out folds, docs/routing.md)
GATED_TERMS_WEIGHT = 2.0
#: inverse regularisation strength and the weight of the passage-bigram block (chosen on the leave-one-family-out
#: folds among five settings, docs/routing.md)
C_DEFAULT = 8.0
PASSAGE_WEIGHT = 0.4
#: the has-a-passage value every question is routed with (its column is fitted, then held at this constant; None
#: fits without the column). Chosen on the leave-one-family-out folds among 0.1–0.6 (docs/routing.md): lower sends
#: more passage questions of either domain to 사회, whose path retrieves — the cheaper error
PASSAGE_PRIOR = 0.25
#: scale of each dense feature before the fit (a smaller scale is a stronger pull of its weight towards 0): the
#: question-restates-the-passage features are trusted little (0.15; among 0.15, 0.3 and 1 on the folds: at 1
#: they made MMMLU's primary-source questions, which name what the source names, read as extractive reading)
DENSE_SCALE = np.array([0.15 if n.startswith("question_in_passage") else 1.0 for n in DENSE_NAMES])
#: share of ``q:`` terms dropped from a second copy of every training row (0 fits on the rows alone): the terms
#: alone separate the training families, so without the copy the fit leaves the features that generalise to a
#: family it never saw (morpheme vectors, topic student, overlap) near zero weight. Chosen on the
#: leave-one-family-out folds among 0.5 and 0.6 (and 1, and copies at half weight; docs/routing.md)
TERM_DROPOUT = 0.5


def _gate(feats: Sequence[RouterFeatures]) -> np.ndarray:
    """1 − overlap_max per question: how little of the best choice the passage holds (the gated blocks' factor)."""
    return 1.0 - np.array([f.dense[_OVERLAP_MAX] for f in feats])


def has_passage(feats: Sequence[RouterFeatures]) -> np.ndarray:
    """1 where a question has a passage (any passage bigram), else 0: the column the fit holds the shortcut in."""
    return has_passages(feats).astype(np.float64)


def drop_terms(feats: Sequence[RouterFeatures], p: float, seed: int = 0) -> list[RouterFeatures]:
    """Copies of ``feats`` with each ``q:`` term dropped with probability ``p`` (deterministic for a seed); the
    passage bigrams, overlap features and vectors stay as they are."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"term dropout is a probability in [0, 1], not {p}")
    rng = random.Random(seed)
    return [replace(f, terms=[t for t in f.terms if rng.random() >= p]) for f in feats]


def _identity(x):
    return x


class _Tfidf:
    """Sublinear-tf, l2-normalised TF-IDF over a fixed vocabulary (what scikit-learn's vectorizer computes)."""

    def __init__(self, vocab: list[str], idf: np.ndarray):
        self.vocab, self.idf = vocab, np.asarray(idf, dtype=np.float64)
        self.index = {t: i for i, t in enumerate(vocab)}

    def row(self, doc: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        counts = Counter(self.index[t] for t in doc if t in self.index)
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        idx = np.fromiter(counts.keys(), dtype=np.int64)
        w = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64))) * self.idf[idx]
        return idx, w / np.linalg.norm(w)


class TfidfLogReg:
    """p(social) = σ(w_q·t + gated_weight · (1 − overlap_max) · w_u·t + passage_weight · w_p·tfidf(passage terms)
    + w_d·(s ⊙ dense) + embedding_weight · (w_e·e + (1 − overlap_max) · w_g·e) + w_h·passage_prior + b), t = tfidf(terms)
    and e the morpheme-vector embedding; w_h was fitted on whether each training question has a passage.

    The second term and vector blocks are *gated* by how little of the best choice is found in the passage: what
    a question is about decides more where its answer is not in front of it (a news passage on the economy, whose
    choices come from the passage, stays a reading item; the same topic with nothing to read from is 사회)."""

    def __init__(self, vocab: list[str], idf: np.ndarray, coef: np.ndarray, intercept: float,
                 passage_vocab: list[str], passage_idf: np.ndarray, passage_coef: np.ndarray,
                 dense_coef: np.ndarray, passage_weight: float, meta: dict | None = None,
                 embedding_coef: np.ndarray | None = None, embedding_weight: float = 0.0,
                 gated_coef: np.ndarray | None = None, gated_weight: float = 0.0, passage_nuisance: float = 0.0,
                 passage_prior: float = 0.0, dense_scale: np.ndarray | None = None):
        self.terms = _Tfidf(vocab, idf)
        self.passage = _Tfidf(passage_vocab, passage_idf)
        self.coef, self.passage_coef = np.asarray(coef, np.float64), np.asarray(passage_coef, np.float64)
        self.dense_coef = np.asarray(dense_coef, np.float64)
        self.dense_scale = DENSE_SCALE.copy() if dense_scale is None else np.asarray(dense_scale, np.float64)
        self.embedding_coef = np.zeros(0) if embedding_coef is None else np.asarray(embedding_coef, np.float64)
        self.intercept, self.passage_weight = float(intercept), float(passage_weight)
        self.embedding_weight = float(embedding_weight) if self.embedding_coef.size else 0.0
        self.gated_coef = np.zeros(0) if gated_coef is None else np.asarray(gated_coef, np.float64)
        self.gated_weight = float(gated_weight) if self.gated_coef.size else 0.0
        #: the fitted has-a-passage coefficient and the constant value questions are routed with
        self.passage_nuisance, self.passage_prior = float(passage_nuisance), float(passage_prior)
        self.meta = meta or {}
        #: morpheme vectors of the training vocabulary (ids, float16 rows), saved with the router
        self.vector_ids, self.vector_table = np.zeros(0, np.int64), np.zeros((0, 0), np.float16)
        #: the topic student (``topic_student.TopicStudent``) the features were made with, saved with the router
        self.student = None
        #: the encoder's second opinion (``second_opinion.py``): a router with the topic block, asked about questions
        #: without a passage and unsure ones, and the weight of its logit; saved in ``second_opinion/``
        self.second: TfidfLogReg | None = None
        self.second_weight = 0.0

    @property
    def appended_dim(self) -> int:
        """Columns after the morpheme vectors in the vector block: the opt-in topic block's (one per prototype in
        the meta) and the topic student's."""
        topic = len((self.meta.get("topic") or {}).get("prototypes", []))
        return topic + (self.student.dim if self.student is not None else 0)

    @staticmethod
    def _embeddings(feats: Sequence[RouterFeatures], dim: int) -> np.ndarray:
        """The embedding block: [e, (1 − overlap_max) · e] per question (2 · dim columns)."""
        rows = [f.embedding for f in feats]
        if any(r is None or len(r) != dim for r in rows):
            raise ValueError(f"this router weighs morpheme vectors ({dim} dimensions) but the features have none "
                             f"or another size: extract them with FeatureExtractor(n_anchors=...) as in its meta")
        e = np.stack(rows)
        return np.hstack([e, _gate(feats)[:, None] * e])

    @classmethod
    def fit(cls, feats: list[RouterFeatures], labels: list[int], weights: np.ndarray | None = None,
            C: float = C_DEFAULT, passage_weight: float = PASSAGE_WEIGHT, min_df: int = 2, seed: int = 0,
            embedding_weight: float = 0.0, gated_weight: float = 0.0,
            passage_prior: float | None = PASSAGE_PRIOR, term_dropout: float = TERM_DROPOUT) -> TfidfLogReg:
        """``term_dropout`` > 0 fits on every row and on a copy of it with that share of its terms dropped
        (``drop_terms``; same label and weight)."""
        from scipy.sparse import csr_matrix, diags, hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        if term_dropout > 0:
            weights = np.ones(len(feats)) if weights is None else np.asarray(weights, np.float64)
            feats, labels = [*feats, *drop_terms(feats, term_dropout, seed)], [*labels, *labels]
            weights = np.concatenate([weights, weights])
        vq = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=min_df, norm="l2", lowercase=False)
        vp = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=min_df, norm="l2", lowercase=False)
        Xq = vq.fit_transform([f.terms for f in feats])
        Xp = vp.fit_transform([f.passage_terms for f in feats])
        blocks = [Xq, Xp * passage_weight, csr_matrix(np.stack([f.dense for f in feats]) * DENSE_SCALE)]
        if gated_weight > 0:
            blocks.append(diags(_gate(feats)) @ Xq * gated_weight)
        dim = 0
        if embedding_weight > 0:
            dim = len(feats[0].embedding) if feats[0].embedding is not None else 0
            blocks.append(csr_matrix(cls._embeddings(feats, dim) * embedding_weight))
        if passage_prior is not None:
            blocks.append(csr_matrix(has_passage(feats)[:, None]))
        X = hstack(blocks).tocsr()
        clf = LogisticRegression(C=C, max_iter=5000, random_state=seed)
        clf.fit(X, labels, sample_weight=weights)
        nq, npv, nd = Xq.shape[1], Xp.shape[1], len(DENSE_NAMES)
        coef = clf.coef_[0]
        nuisance = 0.0
        if passage_prior is not None:
            coef, nuisance = coef[:-1], float(coef[-1])
        ng = nq if gated_weight > 0 else 0
        rest = nq + npv + nd + ng
        model = cls(_vocab(vq), vq.idf_, coef[:nq], clf.intercept_[0], _vocab(vp), vp.idf_, coef[nq:nq + npv],
                    coef[nq + npv:nq + npv + nd], passage_weight, embedding_coef=coef[rest:] if dim else None,
                    embedding_weight=embedding_weight, gated_coef=coef[rest - ng:rest] if ng else None,
                    gated_weight=gated_weight, passage_nuisance=nuisance, passage_prior=passage_prior or 0.0)
        model._sk = (vq, vp, clf)  # kept only in memory, for the round-trip test
        return model

    def decision(self, feats: Sequence[RouterFeatures]) -> np.ndarray:
        out = np.zeros(len(feats))
        if self.embedding_weight:
            out += self.embedding_weight * (self._embeddings(feats, self.embedding_coef.size // 2)
                                            @ self.embedding_coef)
        # the has-a-passage column held at the prior is a constant; the dense scale folds into its coefficients
        base = self.intercept + self.passage_nuisance * self.passage_prior
        dense_coef = self.dense_scale * self.dense_coef
        for r, f in enumerate(feats):
            s = out[r] + base + float(f.dense @ dense_coef)
            idx, w = self.terms.row(f.terms)
            s += float(w @ self.coef[idx])
            if self.gated_weight:
                s += self.gated_weight * (1.0 - f.dense[_OVERLAP_MAX]) * float(w @ self.gated_coef[idx])
            idx, w = self.passage.row(f.passage_terms)
            s += self.passage_weight * float(w @ self.passage_coef[idx])
            out[r] = s
        return out

    def predict_proba(self, feats: Sequence[RouterFeatures]) -> np.ndarray:
        return sigmoid(self.decision(feats))

    def coverage(self, feats: Sequence[RouterFeatures]) -> np.ndarray:
        """Share of each question's terms (question, <보기>, choices) that the model has a weight for: low
        coverage means a question unlike anything it was trained on."""
        return np.array([sum(t in self.terms.index for t in f.terms) / len(f.terms) if f.terms else 0.0
                         for f in feats])

    def save(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.meta["second_opinion"] = {"weight": self.second_weight} if self.second is not None else None
        if self.second is not None:
            self.second.save(out / SUBDIR)
        elif (out / SUBDIR).exists():  # a second model of an earlier router saved here is not this router's
            shutil.rmtree(out / SUBDIR)
        np.savez(out / "router.npz", idf=self.terms.idf, coef=self.coef, intercept=np.array([self.intercept]),
                 passage_idf=self.passage.idf, passage_coef=self.passage_coef, dense_coef=self.dense_coef,
                 passage_weight=np.array([self.passage_weight]), embedding_coef=self.embedding_coef,
                 embedding_weight=np.array([self.embedding_weight]), gated_coef=self.gated_coef,
                 gated_weight=np.array([self.gated_weight]), passage_nuisance=np.array([self.passage_nuisance]),
                 passage_prior=np.array([self.passage_prior]), dense_scale=self.dense_scale,
                 vector_ids=self.vector_ids,
                 vector_table=self.vector_table, **(self.student.arrays() if self.student is not None else {}))
        (out / "router.json").write_text(json.dumps(
            {"format": FORMAT, "classes": [KOREAN, SOCIAL], "dense_features": list(DENSE_NAMES),
             "vocab": self.terms.vocab, "passage_vocab": self.passage.vocab, "meta": self.meta,
             "student": self.student.describe() if self.student is not None else None},
            ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> TfidfLogReg:
        jpath, npath = path / "router.json", path / "router.npz"
        if not jpath.exists() or not npath.exists():
            raise FileNotFoundError(f"{path} is not a trained router (router.json/router.npz missing); train one "
                                    f"with `python -m rag.router train --out {path}`")
        info = json.loads(jpath.read_text(encoding="utf-8"))
        if info.get("format") != FORMAT:
            raise ValueError(f"{jpath}: router format {info.get('format')!r} is not {FORMAT!r} (routers trained "
                             f"before the choice-count fix (/1), the morpheme vectors (/2), the passage bigrams "
                             f"(/3), the gated term block (/4), the has-a-passage column (/5), the "
                             f"question-in-passage features (/6), the topic student (/7) or term dropout (/8) are "
                             f"refused); retrain with `python -m rag.router train --families default --out {path}`")
        with np.load(npath, allow_pickle=False) as z:
            model = cls(info["vocab"], z["idf"], z["coef"], float(z["intercept"][0]), info["passage_vocab"],
                        z["passage_idf"], z["passage_coef"], z["dense_coef"], float(z["passage_weight"][0]),
                        info.get("meta"), z["embedding_coef"], float(z["embedding_weight"][0]), z["gated_coef"],
                        float(z["gated_weight"][0]), float(z["passage_nuisance"][0]), float(z["passage_prior"][0]),
                        z["dense_scale"])
            model.vector_ids, model.vector_table = z["vector_ids"], z["vector_table"]
            if info.get("student"):
                from .topic_student import TopicStudent

                try:
                    model.student = TopicStudent.from_saved(info["student"], z)
                except KeyError as e:
                    raise ValueError(f"{npath}: the router names a topic student but holds no {e}: not a router "
                                     f"this version wrote; retrain with `python -m rag.router train --families "
                                     f"default --out {path}`") from e
        topic_dim = model.appended_dim
        if model.embedding_coef.size and model.embedding_coef.size != 2 * (model.vector_table.shape[1] + topic_dim):
            raise ValueError(f"{npath}: {model.embedding_coef.size} embedding coefficients for "
                             f"{model.vector_table.shape[1]}-d morpheme vectors and {topic_dim} topic columns (two "
                             f"blocks expected): not a router "
                             f"this version wrote; retrain with `python -m rag.router train --families default --out "
                             f"{path}`")
        if (model.meta.get("second_opinion") or {}).get("weight"):
            model.second, model.second_weight = _load_second(path), float(model.meta["second_opinion"]["weight"])
        if model.gated_coef.size not in (0, model.coef.size):
            raise ValueError(f"{npath}: {model.gated_coef.size} gated term coefficients for a vocabulary of "
                             f"{model.coef.size}: not a router this version wrote; retrain with "
                             f"`python -m rag.router train --families default --out {path}`")
        return model


def _load_second(path: Path) -> TfidfLogReg:
    """The second-opinion model a router's meta names (``second_opinion/``): one with the encoder's topic block."""
    try:
        second = TfidfLogReg.load(path / SUBDIR)
    except FileNotFoundError as e:
        raise ValueError(f"{path}: the router names a second-opinion model but {path / SUBDIR} holds none; retrain "
                         f"with `python -m rag.router train --families default --out {path}`") from e
    if not second.meta.get("topic"):
        raise ValueError(f"{path / SUBDIR}: a second-opinion model reads the encoder's topic block, this one has "
                         f"none; retrain with `python -m rag.router train --families default --out {path}`")
    return second


def _vocab(vec) -> list[str]:
    vocab = [""] * len(vec.vocabulary_)
    for t, i in vec.vocabulary_.items():
        vocab[i] = t
    return vocab


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
        self.features = extractor_for(model)
        #: the second-opinion model's extractor (it runs the encoder), when the router has one and the config uses it
        self.second_features = (extractor_for(model.second) if model.second is not None and self.cfg.second_opinion
                                else None)

    def p_social(self, questions):
        return self.scores(questions)[0]

    def scores(self, questions):
        feats = self.features(questions)
        decision, coverage = self.model.decision(feats), self.model.coverage(feats)
        if self.second_features is not None and len(feats):
            second = self.model.second
            decision = with_second_opinion(
                decision, has_passages(feats), coverage,
                lambda idx: second.decision(self.second_features([questions[i] for i in idx])),
                self.model.second_weight, self.cfg)
        return [float(p) for p in sigmoid(decision)], [float(c) for c in coverage]


def extractor_for(model: TfidfLogReg) -> FeatureExtractor:
    """The feature extractor a trained router was fitted with; refuses one whose morpheme vectors came from
    another Kiwi model (other anchors: the embedding coefficients would be read in the wrong basis)."""
    meta = model.meta
    n_anchors = int(meta.get("n_anchors", 0)) if model.embedding_weight else 0
    topic = None
    if meta.get("topic") and model.embedding_weight:
        from .topics import TopicFeatures

        topic = TopicFeatures.from_meta(meta["topic"])
    student = model.student if model.embedding_weight else None
    fx = FeatureExtractor(meta.get("passage_chars", 1500), n_anchors=n_anchors, topic=topic, student=student)
    if fx.vectors is not None:
        if (fx.vectors.signature != meta.get("vectors_signature")
                or 2 * (fx.vectors.dim + model.appended_dim) != model.embedding_coef.size):
            raise ValueError(f"this router's morpheme vectors came from another Kiwi model (anchors "
                             f"{meta.get('vectors_signature')}, {model.embedding_coef.size // 2} dims; this kiwipiepy "
                             f"gives {fx.vectors.signature}, {fx.vectors.dim}): retrain it with "
                             f"`python -m rag.router train`")
        fx.vectors.seed(model.vector_ids, model.vector_table)
    return fx
