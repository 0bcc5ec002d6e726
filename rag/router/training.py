"""Training the classifier router (``classifier.TfidfLogReg``): features of the labelled questions, each family
weighed equally within its domain, the fit, the morpheme vectors and topic student kept with the model, and — with
an encoder — the second-opinion model (``second_opinion.py``) fitted the same way with the encoder's topic block."""
from __future__ import annotations

import time
from collections import Counter

from ..data.question import Question
from .base import KOREAN, SOCIAL
from .classifier import (
    C_DEFAULT,
    EMBEDDING_WEIGHT,
    GATED_TERMS_WEIGHT,
    N_ANCHORS,
    PASSAGE_PRIOR,
    PASSAGE_WEIGHT,
    TERM_DROPOUT,
    TfidfLogReg,
)
from .families import cap_per_family, family_of, family_weights
from .features import FeatureExtractor
from .second_opinion import SECOND_OPINION_CAP, second_opinion_weight


def train_classifier(questions: list[Question], C: float = C_DEFAULT, passage_chars: int = 1500,
                     passage_weight: float = PASSAGE_WEIGHT, balance_families: bool = True,
                     embedding_weight: float = EMBEDDING_WEIGHT, n_anchors: int = N_ANCHORS,
                     gated_weight: float = GATED_TERMS_WEIGHT, passage_prior: float | None = PASSAGE_PRIOR,
                     topic=None, student=None, term_dropout: float = TERM_DROPOUT, second_opinion=None,
                     second_weight: float | None = None, second_cap: int | None = None) -> TfidfLogReg:
    """Fit the router on labelled questions (``embedding_weight`` 0: TF-IDF and cues only, no morpheme vectors;
    ``topic``: an opt-in ``topics.TopicFeatures``, ``student``: a ``topic_student.TopicStudent`` (what
    ``python -m rag.router train`` builds by default), both weighed with the morpheme vectors, so they need them);
    ``second_opinion``: a ``topics.TopicFeatures`` for the encoder's second opinion (``second_opinion.py``: a second
    router with that topic block, fitted on at most ``second_cap`` rows a family, asked about questions without a
    passage and unsure ones, its logit weighed ``second_weight``)."""
    labelled = [q for q in questions if q.domain in (KOREAN, SOCIAL)]
    if len({q.domain for q in labelled}) < 2:
        raise ValueError("training the router needs both korean and social questions")
    if student is not None and embedding_weight <= 0:
        raise ValueError("the topic student is weighed with the morpheme vectors: it needs embedding_weight > 0")
    fx = FeatureExtractor(passage_chars, n_anchors=n_anchors if embedding_weight > 0 else 0, topic=topic,
                          student=student)
    feats = fx(labelled)
    weights = family_weights(labelled) if balance_families else None
    model = TfidfLogReg.fit(feats, [int(q.domain == SOCIAL) for q in labelled], weights, C=C,
                            passage_weight=passage_weight, embedding_weight=embedding_weight,
                            gated_weight=gated_weight, passage_prior=passage_prior, term_dropout=term_dropout)
    if fx.vectors is not None:
        model.vector_ids, model.vector_table = fx.vectors.table()
    model.student = student
    model.meta = {"passage_chars": passage_chars, "C": C, "passage_weight": passage_weight,
                  "embedding_weight": model.embedding_weight, "gated_weight": model.gated_weight,
                  "passage_prior": passage_prior, "passage_nuisance": model.passage_nuisance,
                  "term_dropout": term_dropout,
                  "n_anchors": n_anchors if fx.vectors is not None else 0,
                  "vectors_signature": fx.vectors.signature if fx.vectors is not None else None,
                  "topic": topic.describe() if topic is not None else None,
                  "n_train": len(labelled), "by_domain": dict(Counter(q.domain for q in labelled)),
                  "by_family": dict(Counter(family_of(q) for q in labelled)),
                  "trained": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if second_opinion is not None:  # the same fit with the encoder's topic block, on at most second_cap rows a family
        model.second_weight = second_opinion_weight(second_weight)
        model.second = train_classifier(
            cap_per_family(labelled, SECOND_OPINION_CAP if second_cap is None else second_cap), C=C,
            passage_chars=passage_chars, passage_weight=passage_weight, balance_families=balance_families,
            embedding_weight=embedding_weight, n_anchors=n_anchors, gated_weight=gated_weight,
            passage_prior=passage_prior, topic=second_opinion, student=student, term_dropout=term_dropout)
    return model
