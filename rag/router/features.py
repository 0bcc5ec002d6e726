"""Morphological features of a question for the classifier router (Kiwi tokens with coarse POS)."""
from __future__ import annotations

from collections.abc import Sequence

from ..data.question import Question

_SKIP = ("SF", "SP", "SS", "SE", "SO", "SW", "SB")


class FeatureExtractor:
    """Terms ``form/TAG2`` from the question, choices and <보기> (prefixed ``q:``) and from the first
    ``passage_chars`` characters of the passage (prefixed ``p:``)."""

    def __init__(self, passage_chars: int = 1500):
        from kiwipiepy import Kiwi

        self.passage_chars = passage_chars
        self.kiwi = Kiwi()

    def _terms(self, tokens, prefix: str) -> list[str]:
        return [f"{prefix}{t.form}/{t.tag[:2]}" for t in tokens if not t.tag.startswith(_SKIP)]

    def __call__(self, questions: Sequence[Question]) -> list[list[str]]:
        qtexts = [" ".join([q.question, q.question_plus or "", *q.choices]) for q in questions]
        ptexts = [q.paragraph[: self.passage_chars] for q in questions]
        qtok = self.kiwi.tokenize(qtexts)
        ptok = self.kiwi.tokenize(ptexts)
        out = []
        for q, qt, pt in zip(questions, qtok, ptok):
            out.append(self._terms(qt, "q:") + self._terms(pt, "p:"))
        return out
