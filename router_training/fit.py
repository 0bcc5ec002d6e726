"""Fitting one router model (``rag.router.model.LinearModel``) on extracted features: scikit-learn's TF-IDF and
logistic regression, with the blocks weighed as ``RouterParams`` says. Routing recomputes the same probabilities
from the saved arrays (``rag.router.model``) without scikit-learn."""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from rag.router.features import DENSE_NAMES, RouterFeatures, dense_scale
from rag.router.model import LinearModel, embeddings, gate, has_passages
from rag.router.params import RouterParams


def drop_terms(feats: Sequence[RouterFeatures], p: float, seed: int = 0) -> list[RouterFeatures]:
    """Copies of ``feats`` with each ``q:`` term dropped with probability ``p`` (deterministic for a seed); the
    passage bigrams, overlap features and vectors stay as they are. The terms alone separate the training families,
    so without such copies the fit leaves the features that generalise to an unseen family (morpheme vectors, topic
    student, overlap) near zero weight."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"term dropout is a probability in [0, 1], not {p}")
    rng = random.Random(seed)
    return [replace(f, terms=[t for t in f.terms if rng.random() >= p]) for f in feats]


def _identity(x):
    return x


def vocabulary(vec) -> list[str]:
    """A fitted scikit-learn vectorizer's vocabulary in column order."""
    vocab = [""] * len(vec.vocabulary_)
    for t, i in vec.vocabulary_.items():
        vocab[i] = t
    return vocab


def tfidf_vectorizer(min_df: int):
    """Sublinear-tf, l2-normalised TF-IDF over pre-tokenised documents (what ``rag.router.model.Tfidf`` recomputes)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=min_df, norm="l2", lowercase=False)


def fit_linear(feats: list[RouterFeatures], labels: list[int], weights: np.ndarray | None, params: RouterParams,
               topic: bool = False, keep_sklearn: bool = False) -> LinearModel:
    """Fit the logistic regression of ``rag.router.model`` on ``feats`` (labels 1 = 사회). With
    ``params.term_dropout`` > 0 every row is fitted once more with that share of its terms dropped (same label and
    weight). ``topic``: the features' vector blocks carry the encoder's topic columns."""
    from scipy.sparse import csr_matrix, diags, hstack
    from sklearn.linear_model import LogisticRegression

    if params.term_dropout > 0:
        weights = np.ones(len(feats)) if weights is None else np.asarray(weights, np.float64)
        feats, labels = [*feats, *drop_terms(feats, params.term_dropout, params.seed)], [*labels, *labels]
        weights = np.concatenate([weights, weights])
    vq, vp = tfidf_vectorizer(params.min_df), tfidf_vectorizer(params.min_df)
    Xq = vq.fit_transform([f.terms for f in feats])
    Xp = vp.fit_transform([f.passage_terms for f in feats])
    blocks = [Xq, Xp * params.passage_weight, csr_matrix(np.stack([f.dense for f in feats]) * dense_scale(params))]
    if params.gated_weight > 0:
        blocks.append(diags(gate(feats)) @ Xq * params.gated_weight)
    dim = 0
    if params.embedding_weight > 0 and params.n_anchors > 0:
        dim = len(feats[0].embedding) if feats[0].embedding is not None else 0
        blocks.append(csr_matrix(embeddings(feats, dim) * params.embedding_weight))
    if params.passage_prior is not None:
        blocks.append(csr_matrix(has_passages(feats).astype(np.float64)[:, None]))
    X = hstack(blocks).tocsr()
    clf = LogisticRegression(C=params.C, max_iter=5000, random_state=params.seed)
    clf.fit(X, labels, sample_weight=weights)
    nq, npv, nd = Xq.shape[1], Xp.shape[1], len(DENSE_NAMES)
    coef = clf.coef_[0]
    nuisance = 0.0
    if params.passage_prior is not None:
        coef, nuisance = coef[:-1], float(coef[-1])
    ng = nq if params.gated_weight > 0 else 0
    rest = nq + npv + nd + ng
    model = LinearModel(params, vocabulary(vq), vq.idf_, coef[:nq], vocabulary(vp), vp.idf_, coef[nq:nq + npv],
                        coef[nq + npv:rest - ng], clf.intercept_[0],
                        embedding_coef=coef[rest:] if dim else np.zeros(0),
                        gated_coef=coef[rest - ng:rest] if ng else np.zeros(0), passage_nuisance=nuisance,
                        topic=topic)
    if keep_sklearn:
        model._sk = (vq, vp, clf)  # in memory only, for the round-trip test
    return model
