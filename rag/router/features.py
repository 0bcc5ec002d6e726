"""What the classifier router sees of a question — what it *says*, never how it is laid out.

No choice count, passage length or "has a passage" feature: in the training sources those separate the
domains perfectly (competition 사회 rows have 4 choices, 국어 rows 5; CLIcK/KMMLU 사회 items have no
passage) and on the real 수능 — 5 choices and a 자료 passage for every 사회 item — they route all of 사회 to
국어. What is left:

* ``terms``: content morphemes (nouns, verbs, adjectives, roots, foreign words, numbers; Kiwi) of the
  question, the <보기> and the choices, prefixed ``q:`` — TF-IDF in the model, so a choice more or less
  barely moves the vector; never the exam's instruction words (``INSTRUCTION_WORDS``: 다음, 적절, 옳, 고르, 보(기),
  밑줄 …), which say how a family words its questions, not what a question is about;
* ``passage_terms``: character bigrams inside the words of the passage's first ``passage_chars`` characters
  (``p:``), a block of its own that the model weighs down. Not Kiwi morphemes: Kiwi's analysis was 83% of
  routing time and the passage three quarters of the text it read; bigrams route left-out families within
  0.01 of morphemes (docs/routing.md) at ~2.5× the speed. A question without a passage has none (never a
  "no passage" term: that is the passage-length shortcut again);
* ``dense``: (1–3) how much of each choice's content is found in the passage, <보기> and question (mean, max
  and min over choices; a content morpheme counts as found when its form occurs in that text, spaces
  ignored) — "answerable from the passage" is what 국어 means; (4–5) log-counts of Korean-language/literature
  terms and of social-studies terms in the question and choices; (6–9) steps of the overlap that a linear model
  cannot draw from (1–3): some choice wholly in the passage (overlap_max ≥ 0.99, what an extractive reading
  question looks like), mean overlap ≥ 0.8 and ≥ 0.6, a best choice half-found (0.5 ≤ overlap_max < 0.99);
  (10–11) the share of the question's own content morphemes of two or more letters found in the passage, and
  that share ≥ 0.6 — a question that restates a sentence of its passage ("3월 은행 예금회전율이 … 상승한 이유는?")
  is extractive reading (KLUE-MRC 0.82 on average), one that asks about the passage ("이 글에서 알 수 있는 통치자의
  모습은?") is not (수능 사회 0.08, 수능 국어 0.16); one-letter morphemes are labels (갑, 을, 가), not content; 0
  without a passage. The classifier weighs (10–11) down (``DENSE_SCALE``);
* ``embedding``: the unit sum of Kiwi's morpheme vectors (``vectors.py``) of the distinct content morphemes of
  the question, <보기> and choices — what a word the model never saw is *about* (접미사 lies by 파생어 and 어근,
  타당도 by 설명력 and 회귀분석); the classifier weighs it once as is and once gated by ``1 − overlap_max``.
  None when the extractor has no vectors (``n_anchors=0``). With an opt-in ``topics.TopicFeatures`` the
  encoder's topic block of the stem is appended to it (``topics.py``), then, with a ``TopicStudent``
  (``topic_student.py``, the default router's), the topic distilled from that encoder into the terms and vectors.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..data.question import Question

CONTENT_TAGS = ("NN", "VV", "VA", "XR", "SL", "SH", "SN", "MA")
#: the words of the exam's *instructions*, shared by 수능 국어 and 사회탐구 stems ("다음 … 에 대한 설명으로 가장
#: 적절한 것은?", "옳은 것만을 <보기>에서 있는 대로 고른 것은?", "밑줄 친 ㉠", "들어갈 내용으로 … 고르십시오"): never
#: terms. Each training family words its instructions its own way (KICE "적절한", KMMLU "옳은", CLIcK and the KoBEST
#: look-alikes "고르십시오"), so the words separated the families and the fit leaned on them: ``q:고르/VV`` alone gave a
#: stem −3.4 to −5.2 logits towards 국어, and the real 수능 윤리·법 items "갑, 을 사상가들의 입장으로 적절한 것만을
#: <보기>에서 고른 것은?" went to 국어 (docs/routing.md: ksat-social 0.878 → 0.937 without them, CLIcK Language 0.905 → 0.862)
INSTRUCTION_WORDS = frozenset(["다음", "대하", "설명", "옳", "적절", "않", "가장", "것", "고르", "보", "있", "대로", "밑줄",
                               "치", "이해", "해당", "무엇", "모두", "내용", "들어가"])
DENSE_NAMES = ("overlap_mean", "overlap_max", "overlap_min", "language_terms", "social_terms", "choice_in_passage",
               "overlap_mean_high", "overlap_mean_mid", "overlap_max_partial", "question_in_passage",
               "question_in_passage_high")

#: terms of Korean grammar, literature, reading and writing (the 국어 curriculum's own vocabulary)
LANGUAGE_TERMS = frozenset(
    ["품사", "명사", "동사", "형용사", "부사", "관형사", "조사", "어미", "어간", "어근", "접사", "음운", "음절", "자음", "모음", "받침", "발음", "표기", "맞춤법", "표준어", "띄어쓰기", "높임", "존대", "피동", "사동", "시제", "문장", "단어", "형태소", "합성어", "파생어", "외래어", "로마자", "주어", "서술어", "목적어", "부사어", "관형어", "안긴", "홑문장", "겹문장", "의미", "어휘", "사전", "문맥", "중세", "국어", "한글", "훈민정음", "화자", "서술자", "시어", "시구", "운율", "비유", "반어", "역설", "상징", "인물", "갈등", "시점", "독백", "묘사", "서술", "대화", "장면", "작품", "작가", "독자", "글쓴이", "필자", "표현", "어조", "정서", "발표", "토론", "협상", "면담", "청중", "초고", "글쓰기", "작문", "문단", "제목", "주제", "요약", "글", "문학", "소설", "시", "수필", "희곡", "속담", "관용"])
#: terms of history, politics, law, economics, geography, society and ethics
SOCIAL_TERMS = frozenset(
    ["국가", "정부", "왕", "왕조", "조선", "고려", "신라", "백제", "고구려", "일제", "독립", "전쟁", "혁명", "제도", "정책", "법", "헌법", "법률", "권리", "의무", "선거", "정당", "의회", "국회", "대통령", "경제", "시장", "가격", "수요", "공급", "소득", "물가", "금리", "무역", "환율", "세금", "기업", "노동", "인구", "도시", "지역", "기후", "지리", "산업", "농업", "종교", "사상", "윤리", "철학", "시대", "세기", "역사", "사회", "문화", "민주", "자유", "평등", "복지", "계층", "집단", "제국", "식민", "조약", "외교"])


_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[가-힣]+|[A-Za-z]+")


@dataclass
class RouterFeatures:
    terms: list[str]
    passage_terms: list[str]
    dense: np.ndarray  # len(DENSE_NAMES)
    embedding: np.ndarray | None = None  # MorphemeVectors.dim, or None without vectors


def _content_tokens(tokens) -> list:
    """The content morphemes of a Kiwi analysis, without the exam's instruction words (``INSTRUCTION_WORDS``)."""
    return [t for t in tokens if t.tag[:2] in CONTENT_TAGS and t.form not in INSTRUCTION_WORDS]


def _content(tokens) -> list[str]:
    return [f"{t.form}/{t.tag[:2]}" for t in tokens]


def passage_bigrams(text: str) -> list[str]:
    """Character bigrams inside each word (a run of Hangul or of Latin letters) of ``text``, prefixed ``p:``;
    a one-letter word is kept whole. "경제성장률이 올랐다" → 경제 제성 성장 장률 률이 올랐 랐다."""
    return [f"p:{w[i:i + 2]}" for w in _WORD.findall(text) for i in range(max(1, len(w) - 1))]


def dense_features(stem: list[str], choices: list[list[str]], context: str, asked: Sequence[str] = (),
                   passage: str = "") -> np.ndarray:
    """Share of each choice's content morphemes whose form occurs in ``context`` (the passage head, <보기> and
    question; spaces ignored, as PDF text splits words), its steps, the cue counts, and the share of ``asked``
    (the question's own content forms) of two or more letters found in ``passage``."""
    ctx = _SPACE.sub("", context)
    choice_forms = [[t.rsplit("/", 1)[0] for t in c] for c in choices]
    frac = [sum(f in ctx for f in c) / len(c) for c in choice_forms if c]
    forms = [t.rsplit("/", 1)[0] for t in stem] + [f for c in choice_forms for f in c]
    lang = sum(f in LANGUAGE_TERMS for f in forms)
    soc = sum(f in SOCIAL_TERMS for f in forms)
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
    without Kiwi. ``n_anchors`` > 0 adds the morpheme-vector ``embedding`` (``vectors.MorphemeVectors`` over the
    same Kiwi); ``topic`` (``topics.TopicFeatures``) appends a sentence encoder's topic block to it, ``student``
    (``topic_student.TopicStudent``) the topic distilled from that encoder into the terms and vectors."""

    def __init__(self, passage_chars: int = 1500, n_anchors: int = 0, topic=None, student=None):
        from kiwipiepy import Kiwi

        from .vectors import MorphemeVectors

        self.passage_chars = passage_chars
        self.kiwi = Kiwi()
        self.vectors = MorphemeVectors(self.kiwi, n_anchors) if n_anchors else None
        if topic is not None and self.vectors is None:
            raise ValueError("the topic block is weighed with the morpheme vectors: it needs them (embedding_weight "
                             "> 0 and n_anchors > 0)")
        self.topic = topic
        if student is not None and (self.vectors is None or student.bag_dim != self.vectors.dim):
            raise ValueError(f"the topic student reads {student.bag_dim}-d morpheme vectors: it needs the same "
                             f"vectors (n_anchors > 0; this extractor has "
                             f"{self.vectors.dim if self.vectors is not None else 'none'})")
        self.student = student

    def text_terms_and_bags(self, texts: Sequence[str]) -> tuple[list[list[str]], np.ndarray]:
        """Plain texts read as a question's words are: their ``q:`` content terms and their morpheme-vector bags
        (what the topic student is fitted on)."""
        if self.vectors is None:
            raise ValueError("the morpheme-vector bags need an extractor with vectors (n_anchors > 0)")
        toks = [_content_tokens(t) for t in self.kiwi.tokenize(list(texts))]
        return [[f"q:{x}" for x in _content(t)] for t in toks], np.stack([self.vectors.bag(t) for t in toks])

    def __call__(self, questions: Sequence[Question]) -> list[RouterFeatures]:
        if not questions:
            return []
        stems = [f"{q.question} {q.question_plus or ''}" for q in questions]
        n = len(stems)
        choices = [c for q in questions for c in q.choices]
        # questions with a <보기> are read once more alone: the question's own words are searched in the passage
        with_plus = [r for r, q in enumerate(questions) if q.question_plus]
        raw = [_content_tokens(t) for t in
               self.kiwi.tokenize(stems + choices + [questions[r].question for r in with_plus])]
        asked = [[t.form for t in r] for r in raw[:n]]
        for r, alone in zip(with_plus, raw[n + len(choices):]):
            asked[r] = [t.form for t in alone]
        tokens = [_content(t) for t in raw[:n + len(choices)]]
        topic = self.topic(questions) if self.topic is not None else None
        bigrams: dict[str, list[str]] = {}  # a passage shared by several questions (a 수능 지문 set) read once
        out, i = [], n
        for r, (q, s) in enumerate(zip(questions, tokens[:n])):
            cs = tokens[i: i + q.n_choices]
            terms = [f"q:{t}" for t in s] + [f"q:{t}" for c in cs for t in c]
            emb = None
            if self.vectors is not None:
                emb = bag = self.vectors.bag([t for part in [raw[r], *raw[i: i + q.n_choices]] for t in part])
                if topic is not None:
                    emb = np.concatenate([emb, topic[r]])
                if self.student is not None:
                    emb = np.concatenate([emb, self.student(terms, bag)])
            i += q.n_choices
            head = q.paragraph[: self.passage_chars]
            if head not in bigrams:
                bigrams[head] = passage_bigrams(head)
            out.append(RouterFeatures(terms=terms, passage_terms=bigrams[head],
                                      dense=dense_features(s, cs, head + stems[r], asked[r], head), embedding=emb))
        return out
