"""What the classifier router sees of a question — what it *says*, never how it is laid out (no choice count,
passage length or "has a passage": docs/routing.md says why).

* ``terms``: content morphemes (Kiwi) of the question, the <보기> and the choices, prefixed ``q:``; never the exam's
  instruction words (``RouterLexicon.instruction_words``), which say how a family words its questions;
* ``passage_terms``: character bigrams inside the words of the passage head (``p:``; not Kiwi: ~2.5× faster,
  within 0.01 on the folds); none without a passage (never a "no passage" term);
* ``dense`` (``DENSE_NAMES``): (1–3) the share of each choice's content found in the passage, <보기> and question
  (mean, max, min; spaces ignored, as PDF text splits words); (4–5) log-counts of the lexicon's Korean-language
  and social-studies terms; (6–9) steps of the overlap a linear model cannot draw (a choice wholly found, mean ≥ 0.8,
  ≥ 0.6, a best choice half-found); (10–11) the share of the question's own content words (two letters or more:
  one-letter morphemes are labels such as 갑, 을) found in the passage, and that share ≥ 0.6 — a question that
  restates its passage is extractive reading (KLUE-MRC 0.82; 수능 사회 0.08, 수능 국어 0.16);
* ``embedding``: the unit sum of Kiwi's morpheme vectors (``vectors.py``) of the distinct content morphemes of
  the question, <보기> and choices, then the encoder's topic block (``topics.py``, when the model reads it) and the
  topic student's columns (``student.py``); None without vectors.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..data.question import Question
from .params import RouterLexicon, RouterParams

DENSE_NAMES = ("overlap_mean", "overlap_max", "overlap_min", "language_terms", "social_terms", "choice_in_passage",
               "overlap_mean_high", "overlap_mean_mid", "overlap_max_partial", "question_in_passage",
               "question_in_passage_high")


def dense_scale(params: RouterParams) -> np.ndarray:
    """Scale of each dense feature before the fit (a smaller scale is a stronger pull of its weight towards 0): the
    question-restates-the-passage features by ``params.question_in_passage_scale``, the others 1."""
    return np.array([params.question_in_passage_scale if n.startswith("question_in_passage") else 1.0
                     for n in DENSE_NAMES])


_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[가-힣]+|[A-Za-z]+")


@dataclass
class RouterFeatures:
    terms: list[str]
    passage_terms: list[str]
    dense: np.ndarray  # len(DENSE_NAMES)
    embedding: np.ndarray | None = None  # MorphemeVectors.dim, or None without vectors


def content_terms(tokens) -> list[str]:
    """``form/TAG`` (two-letter tag) of each morpheme: the router's term spelling."""
    return [f"{t.form}/{t.tag[:2]}" for t in tokens]


def passage_bigrams(text: str) -> list[str]:
    """Character bigrams inside each word (a run of Hangul or of Latin letters) of ``text``, prefixed ``p:``;
    a one-letter word is kept whole. "경제성장률이 올랐다" → 경제 제성 성장 장률 률이 올랐 랐다."""
    return [f"p:{w[i:i + 2]}" for w in _WORD.findall(text) for i in range(max(1, len(w) - 1))]


def dense_features(stem: list[str], choices: list[list[str]], context: str, asked: Sequence[str] = (),
                   passage: str = "", terms: tuple[frozenset, frozenset] | None = None) -> np.ndarray:
    """Share of each choice's content morphemes whose form occurs in ``context`` (the passage head, <보기> and
    question; spaces ignored, as PDF text splits words), its steps, the cue counts (``terms``: the lexicon's
    language and social term sets), and the share of ``asked`` (the question's own content forms) of two or more
    letters found in ``passage``."""
    if terms is None:
        lexicon = RouterLexicon()
        terms = frozenset(lexicon.language_terms), frozenset(lexicon.social_terms)
    language, social = terms
    ctx = _SPACE.sub("", context)
    choice_forms = [[t.rsplit("/", 1)[0] for t in c] for c in choices]
    frac = [sum(f in ctx for f in c) / len(c) for c in choice_forms if c]
    forms = [t.rsplit("/", 1)[0] for t in stem] + [f for c in choice_forms for f in c]
    lang = sum(f in language for f in forms)
    soc = sum(f in social for f in forms)
    if not frac:
        frac = [0.0]
    mean, top = float(np.mean(frac)), max(frac)
    text, words = _SPACE.sub("", passage), [f for f in asked if len(f) >= 2]
    restated = sum(f in text for f in words) / len(words) if text and words else 0.0
    return np.array([mean, top, min(frac), np.log1p(lang), np.log1p(soc), float(top >= 0.99), float(mean >= 0.8),
                     float(mean >= 0.6), float(0.5 <= top < 0.99), restated, float(restated >= 0.6)])


class FeatureExtractor:
    """Kiwi analysis of every question's stem (+ <보기>) and choices in one batched call (Kiwi spreads a batch
    over the cores); the passage head is read as character bigrams and searched for the choices' morphemes,
    without Kiwi. With ``params.n_anchors`` > 0 and ``vectors`` the morpheme-vector ``embedding``
    (``vectors.MorphemeVectors`` over the same Kiwi); ``topic`` (``topics.TopicFeatures``) appends a sentence
    encoder's topic block to it, ``student`` (``student.TopicStudent``) the topic distilled from that encoder into
    the terms and vectors. ``kiwi``: an analyser to share (one model load for several extractors)."""

    def __init__(self, params: RouterParams | None = None, vectors: bool = True, topic=None, student=None,
                 kiwi=None, morpheme_vectors=None):
        from kiwipiepy import Kiwi

        from .vectors import MorphemeVectors

        self.params = params = params or RouterParams()
        self.lexicon = params.lexicon
        self._tags = frozenset(self.lexicon.content_tags)
        self._instruction = frozenset(self.lexicon.instruction_words)
        self._cue_terms = frozenset(self.lexicon.language_terms), frozenset(self.lexicon.social_terms)
        self.passage_chars = params.passage_chars
        self.kiwi = kiwi if kiwi is not None else Kiwi()
        if morpheme_vectors is not None:
            self.vectors = morpheme_vectors
        else:
            self.vectors = MorphemeVectors(self.kiwi, params.n_anchors) if vectors and params.n_anchors else None
        if topic is not None and self.vectors is None:
            raise ValueError("the topic block is weighed with the morpheme vectors: it needs them (embedding_weight "
                             "> 0 and n_anchors > 0)")
        self.topic = topic
        if student is not None and (self.vectors is None or student.bag_dim != self.vectors.dim):
            raise ValueError(f"the topic student reads {student.bag_dim}-d morpheme vectors: it needs the same "
                             f"vectors (n_anchors > 0; this extractor has "
                             f"{self.vectors.dim if self.vectors is not None else 'none'})")
        self.student = student

    def content_tokens(self, tokens) -> list:
        """The content morphemes of a Kiwi analysis, without the exam's instruction words."""
        return [t for t in tokens if t.tag[:2] in self._tags and t.form not in self._instruction]

    def __call__(self, questions: Sequence[Question]) -> list[RouterFeatures]:
        if not questions:
            return []
        stems = [f"{q.question} {q.question_plus or ''}" for q in questions]
        n = len(stems)
        choices = [c for q in questions for c in q.choices]
        # questions with a <보기> are read once more alone: the question's own words are searched in the passage
        with_plus = [r for r, q in enumerate(questions) if q.question_plus]
        raw = [self.content_tokens(t) for t in
               self.kiwi.tokenize(stems + choices + [questions[r].question for r in with_plus])]
        asked = [[t.form for t in r] for r in raw[:n]]
        for r, alone in zip(with_plus, raw[n + len(choices):]):
            asked[r] = [t.form for t in alone]
        tokens = [content_terms(t) for t in raw[:n + len(choices)]]
        topic = self.topic(questions) if self.topic is not None else None
        bigrams: dict[str, list[str]] = {}  # a passage shared by several questions (a 수능 지문 set) read once
        out, bags, i = [], [], n
        for r, (q, s) in enumerate(zip(questions, tokens[:n])):
            cs = tokens[i: i + q.n_choices]
            terms = [f"q:{t}" for t in s] + [f"q:{t}" for c in cs for t in c]
            if self.vectors is not None:
                bags.append(self.vectors.bag([t for part in [raw[r], *raw[i: i + q.n_choices]] for t in part]))
            i += q.n_choices
            head = q.paragraph[: self.passage_chars]
            if head not in bigrams:
                bigrams[head] = passage_bigrams(head)
            out.append(RouterFeatures(terms=terms, passage_terms=bigrams[head], dense=dense_features(
                s, cs, head + stems[r], asked[r], head, self._cue_terms)))
        if self.vectors is not None:  # [bag, topic, student] per question
            blocks = [np.stack(bags)] + ([np.asarray(topic)] if topic is not None else [])
            if self.student is not None:
                blocks.append(self.student.batch([f.terms for f in out], blocks[0]))
            for f, emb in zip(out, np.hstack(blocks)):
                f.embedding = emb
        return out
