"""The trained router (``router.name: classifier``): a logistic regression over what a question *says* — TF-IDF of
its content morphemes, as is and gated by how little of the best choice the passage holds; a down-weighted block of
passage bigrams; choice–passage overlap and cue counts (``features.py``) — and over the sum of Kiwi's morpheme
vectors of the question and choices (``vectors.py``) followed by the topic student's columns (``student.py``), with
the encoder's second opinion (``second_opinion.py``) for questions without a passage and unsure ones. No choice
count, passage length or "has a passage" feature: see ``features.py`` and ``model.py`` for why.

``router.model`` names its artifact (``artifact.py``): ``shipped:default`` is the router trained by the default
recipe and shipped inside this package (``rag/router/shipped/default``), any other value a directory that
``python -m router_training train`` wrote."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from .artifact import RouterArtifact, RouterArtifactError
from .base import Router
from .features import FeatureExtractor
from .model import LinearModel, has_passages, sigmoid
from .second_opinion import with_second_opinion

#: where the routers shipped with the package lie, by name (``router.model: shipped:NAME``)
SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
SHIPPED_PREFIX = "shipped:"


def router_path(model: str) -> Path:
    """The directory ``router.model`` names: ``shipped:NAME`` → the package's ``shipped/NAME``, else the path."""
    if model.startswith(SHIPPED_PREFIX):
        name = model[len(SHIPPED_PREFIX):]
        names = sorted(p.name for p in SHIPPED_DIR.iterdir() if p.is_dir()) if SHIPPED_DIR.is_dir() else []
        if name not in names:
            raise RouterArtifactError(f"router.model {model!r}: no shipped router of that name (shipped: "
                                      f"{', '.join(SHIPPED_PREFIX + n for n in names) or 'none'})")
        return SHIPPED_DIR / name
    return Path(model).expanduser()


class ClassifierRouter(Router):
    name = "classifier"

    def __init__(self, cfg=None, artifact: RouterArtifact | None = None, **_):
        super().__init__(cfg)
        if artifact is None:
            if not self.cfg.model:
                raise RouterArtifactError("router.model is not set: use the shipped router (-o "
                                          "router.model=shipped:default) or one trained with `python -m "
                                          "router_training train --out DIR` (-o router.model=DIR)")
            artifact = RouterArtifact.load(router_path(self.cfg.model))
        self.artifact = art = artifact
        self.model = art.model
        self.features = extractor_for(art, art.model)
        #: the second model's extractor (it runs the encoder), when the router has one and the config uses it
        self.second_features = (extractor_for(art, art.second, self.features)
                                if art.second is not None and self.cfg.second_opinion else None)

    def p_social(self, questions):
        return self.scores(questions)[0]

    def scores(self, questions):
        feats = self.features(questions)
        decision, coverage = self.model.decision(feats), self.model.coverage(feats)
        if self.second_features is not None and len(feats):
            second = self.artifact.second
            decision = with_second_opinion(
                decision, has_passages(feats), coverage,
                lambda idx: second.decision(self._second_features(questions, feats, idx)),
                self.artifact.params.second_opinion_weight, self.cfg)
        return [float(p) for p in sigmoid(decision)], [float(c) for c in coverage]

    def _second_features(self, questions, feats, idx):
        """The second model's features of the questions at ``idx``: the router's own, with the encoder's topic
        block spliced in after the morpheme vectors (where the second model's extractor puts it), so the
        questions are not analysed twice."""
        if self.model.topic:  # the router reads the topic block itself: the same features
            return [feats[i] for i in idx]
        topic = self.second_features.topic([questions[i] for i in idx])
        vdim = self.features.vectors.dim
        return [replace(feats[i], embedding=np.concatenate([feats[i].embedding[:vdim], t, feats[i].embedding[vdim:]]))
                for i, t in zip(idx, topic)]


def extractor_for(art: RouterArtifact, model: LinearModel, share: FeatureExtractor | None = None) -> FeatureExtractor:
    """The feature extractor ``model`` of ``art`` was fitted with (``share``: an extractor whose Kiwi and morpheme
    vectors to reuse); refuses vectors from another Kiwi model (other anchors: the coefficients would be read in the
    wrong basis)."""
    uses_vectors = bool(model.embedding_weight)
    topic = None
    if model.topic and uses_vectors:
        from .topics import TopicFeatures, encoder_from

        topic = TopicFeatures(encoder_from(art.topic_encoder), art.params.lexicon.prototypes, art.params.topic_weight)
    student = art.student if uses_vectors else None
    if share is not None and share.vectors is not None:
        return FeatureExtractor(art.params, topic=topic, student=student, kiwi=share.kiwi,
                                morpheme_vectors=share.vectors)
    fx = FeatureExtractor(art.params, vectors=uses_vectors, topic=topic, student=student)
    if fx.vectors is not None:
        appended = (len(art.params.lexicon.prototypes) if model.topic else 0) + (student.dim if student else 0)
        if fx.vectors.signature != art.vectors_signature or fx.vectors.dim + appended != model.embedding_dim:
            raise RouterArtifactError(
                f"this router's morpheme vectors came from another Kiwi model (anchors {art.vectors_signature}, "
                f"{model.embedding_dim - appended} dims; this kiwipiepy gives {fx.vectors.signature}, "
                f"{fx.vectors.dim}): retrain it with `python -m router_training train`")
        fx.vectors.seed(art.vector_ids, art.vector_table)
    return fx
