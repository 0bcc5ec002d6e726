"""Training a classifier router (``rag.router.artifact.RouterArtifact``) from labelled questions: features, each
family weighed equally within its domain, the fit, the morpheme vectors and topic student kept with the model, and
— with an encoder — the second-opinion model fitted the same way with the encoder's topic block of the stem."""
from __future__ import annotations

import sys
import time
from collections import Counter

from common.config import EncoderConfig
from rag.data.question import Question
from rag.router.artifact import RouterArtifact
from rag.router.base import KOREAN, SOCIAL
from rag.router.features import FeatureExtractor
from rag.router.model import LinearModel
from rag.router.params import RouterParams
from rag.router.student import TopicStudent

from .encoding import CachedTopicFeatures
from .families import cap_per_family, family_of, family_weights
from .fit import fit_linear


def encoder_describe(cfg: EncoderConfig) -> dict:
    """What an artifact keeps to rebuild the topic encoder (``rag.router.topics.encoder_from``)."""
    return {"backend": cfg.backend, "model": cfg.model, "max_length": cfg.max_length, "num_threads": cfg.num_threads}


def _fit(fx: FeatureExtractor, questions: list[Question], params: RouterParams, topic: bool, name: str,
         progress: bool) -> LinearModel:
    t = time.time()
    feats = fx(questions)
    weights = family_weights(questions) if params.balance_families else None
    model = fit_linear(feats, [int(q.domain == SOCIAL) for q in questions], weights, params, topic=topic)
    if progress:
        print(f"  {name}: features of {len(questions)} questions and the fit, {time.time() - t:.0f}s",
              file=sys.stderr)
    return model


#: the artifact keeps the vectors of morphemes found in at least this many training questions; a rarer one is computed
#: from Kiwi when a question holds it (0.4 ms), so the table stays about half the size (docs/routing.md)
TABLE_MIN_QUESTIONS = 2


def _frequent(ids, table, kiwi, questions: list[Question], fx: FeatureExtractor):
    """The rows of the vector table whose morpheme occurs in ``TABLE_MIN_QUESTIONS`` training questions or more."""
    seen: Counter = Counter()
    texts = [" \n ".join([q.question, q.question_plus or "", *q.choices]) for q in questions]
    for tokens in kiwi.tokenize(texts):
        seen.update({t.id for t in fx.content_tokens(tokens)})
    keep = [i for i, mid in enumerate(ids.tolist()) if seen[mid] >= TABLE_MIN_QUESTIONS]
    return ids[keep], table[keep]


def train_router(questions: list[Question], params: RouterParams | None = None, student: TopicStudent | None = None,
                 second_opinion: EncoderConfig | None = None, first_topic: EncoderConfig | None = None,
                 stem_cache=None, progress: bool = False) -> RouterArtifact:
    """Fit the router on the labelled questions of ``questions``. ``student``: a topic student (built with the
    same extractor settings); ``second_opinion``: the encoder of the second opinion (a second model with that
    encoder's topic block, fitted on at most ``params.second_opinion_cap`` rows a family); ``first_topic``: the
    opt-in topic block on the router itself (~35 questions/s: every question is encoded). ``stem_cache``: where
    the encoder's vectors of the training stems are kept (a directory); ``progress``: a line per step on stderr."""
    params = params or RouterParams()
    labelled = [q for q in questions if q.domain in (KOREAN, SOCIAL)]
    if len({q.domain for q in labelled}) < 2:
        raise ValueError("training the router needs both korean and social questions")
    vectors = params.embedding_weight > 0 and params.n_anchors > 0
    if (student is not None or second_opinion is not None or first_topic is not None) and not vectors:
        raise ValueError("the topic student and the encoder's topic are weighed with the morpheme vectors: they need "
                         "embedding_weight > 0 and n_anchors > 0")
    if first_topic is not None and second_opinion is not None and first_topic != second_opinion:
        raise ValueError("the router's topic block and its second opinion read one encoder")
    base = FeatureExtractor(params, vectors=vectors)

    def topic_extractor(cfg: EncoderConfig) -> FeatureExtractor:
        topic = CachedTopicFeatures(cfg, params.lexicon.prototypes, params.topic_weight, stem_cache)
        return FeatureExtractor(params, topic=topic, student=student, kiwi=base.kiwi, morpheme_vectors=base.vectors)

    first_fx = (topic_extractor(first_topic) if first_topic is not None else
                FeatureExtractor(params, student=student, kiwi=base.kiwi, morpheme_vectors=base.vectors)
                if vectors else base)
    model = _fit(first_fx, labelled, params, first_topic is not None, "router", progress)
    second = None
    if second_opinion is not None:
        second = _fit(topic_extractor(second_opinion), cap_per_family(labelled, params.second_opinion_cap), params,
                      True, "second opinion", progress)
    ids, table = base.vectors.table() if base.vectors is not None else (None, None)
    if ids is not None:
        ids, table = _frequent(ids, table, base.kiwi, labelled, first_fx)
    encoder = first_topic or second_opinion
    meta = {"n_train": len(labelled), "by_domain": dict(Counter(q.domain for q in labelled)),
            "by_family": dict(Counter(family_of(q) for q in labelled))}
    art = RouterArtifact(params, model, second, student, topic_encoder=encoder_describe(encoder) if encoder else None,
                         vectors_signature=base.vectors.signature if base.vectors is not None else None, meta=meta)
    if ids is not None:
        art.vector_ids, art.vector_table = ids, table
    art.check()
    return art
