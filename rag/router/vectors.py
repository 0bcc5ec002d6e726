"""Morpheme vectors from Kiwi's own language model, so that the router can weigh a word it never saw in training.

Kiwi's CoNg model (already loaded for tokenising) holds an embedding per morpheme but exposes only cosine
similarities (``Kiwi.morpheme_similarity``). The vectors are recovered from those: with s(m) the similarities of
morpheme m to K fixed *anchor* morphemes and G = Q Λ Qᵀ their Gram matrix, v(m) = s(m) · Q_r Λ_r^(-1/2) is m's unit
embedding in a rotated basis (288 anchors give 255 dimensions whose dot products reproduce Kiwi's similarities to
0.002). K similarity calls per new morpheme (~0.4 ms), cached by id; unknown words get no vector. A saved router
records the anchors' forms (``signature``) so that one trained with another Kiwi model is refused, not misread.
"""
from __future__ import annotations

import hashlib

import numpy as np

#: tags whose morphemes carry content (anchors are drawn from these)
ANCHOR_TAGS = frozenset({"NNG", "NNP", "VV", "VA", "XR", "MAG"})


def _similarity(kiwi, a: int, b: int) -> float | None:
    """Kiwi's cosine similarity of two morpheme ids; None where a morpheme has no embedding (Kiwi answers nan
    for dictionary words outside its language model, ValueError for ids out of range)."""
    try:
        x = float(kiwi.morpheme_similarity(a, b))
    except ValueError:
        return None
    return x if np.isfinite(x) else None


class MorphemeVectors:
    def __init__(self, kiwi, n_anchors: int = 288, max_id: int = 50_000):
        if getattr(kiwi, "model_type", None) not in ("cong", "cong-global"):
            raise ValueError(f"morpheme vectors need Kiwi's CoNg model (model_type 'cong'), not "
                             f"{getattr(kiwi, 'model_type', None)!r}")
        self.kiwi = kiwi
        anchors: list[int] = []
        for i in range(1, max_id):
            if len(anchors) == n_anchors:
                break
            tok = kiwi.morpheme(i)
            if tok is not None and tok.tag in ANCHOR_TAGS and _similarity(kiwi, i, i) is not None:
                anchors.append(i)
        if len(anchors) < n_anchors:
            raise ValueError(f"Kiwi's model has only {len(anchors)} content morphemes with embeddings "
                             f"(asked for {n_anchors} anchors)")
        self.anchors = anchors
        sim = kiwi.morpheme_similarity
        gram = np.array([[sim(a, b) for b in anchors] for a in anchors], dtype=np.float64)
        w, q = np.linalg.eigh((gram + gram.T) / 2)
        keep = w > 1e-5 * w.max()
        self.projection = q[:, keep] / np.sqrt(w[keep])
        self.dim = int(keep.sum())
        forms = "|".join(f"{kiwi.morpheme(a).form}/{kiwi.morpheme(a).tag}" for a in anchors)
        self.signature = hashlib.sha256(forms.encode("utf-8")).hexdigest()[:16]
        self._cache: dict[int, np.ndarray | None] = {}

    def of(self, token) -> np.ndarray | None:
        """The unit vector of a Kiwi token's morpheme, or None (an unknown word, or no embedding)."""
        mid = token.id
        if mid in self._cache:
            return self._cache[mid]
        vec = None
        known = self.kiwi.morpheme(mid)
        if known is not None and known.form == token.form and _similarity(self.kiwi, mid, mid) is not None:
            s = np.array([self.kiwi.morpheme_similarity(mid, a) for a in self.anchors])
            v = s @ self.projection
            n = float(np.linalg.norm(v))
            vec = v / n if n > 0 and np.isfinite(n) else None
        self._cache[mid] = vec
        return vec

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        """The morphemes computed so far, as (ids, float16 vectors): what a saved router keeps so that loading it
        does not recompute the vectors of its training vocabulary."""
        known = sorted(i for i, v in self._cache.items() if v is not None)
        if not known:
            return np.zeros(0, np.int64), np.zeros((0, self.dim), np.float16)
        return np.array(known, np.int64), np.stack([self._cache[i] for i in known]).astype(np.float16)

    def seed(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Take vectors computed earlier (``table``) into the cache."""
        if len(ids) and vectors.shape[1] != self.dim:
            raise ValueError(f"stored morpheme vectors have {vectors.shape[1]} dimensions, these {self.dim}")
        for i, v in zip(ids.tolist(), vectors.astype(np.float64)):
            self._cache[int(i)] = v

    def bag(self, tokens) -> np.ndarray:
        """Unit-length sum of the vectors of the distinct morphemes among ``tokens`` (zeros when none has one)."""
        seen, out = set(), np.zeros(self.dim)
        for t in tokens:
            if t.id in seen:
                continue
            seen.add(t.id)
            v = self.of(t)
            if v is not None:
                out += v
        n = float(np.linalg.norm(out))
        return out / n if n > 0 else out
