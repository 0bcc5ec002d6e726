"""Exact and near-duplicate chunk removal (MinHash over character 5-grams with LSH banding)."""
from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable

import numpy as np

from .documents import Chunk

_WS = re.compile(r"\s+")
_PRIME = np.uint64((1 << 61) - 1)


def _body(chunk: Chunk) -> str:
    text = chunk.text
    if chunk.title and text.startswith(chunk.title + "\n"):
        text = text[len(chunk.title) + 1:]
    return _WS.sub(" ", text).strip()


class NearDupIndex:
    """MinHash signatures (``num_perm`` permutations) banded into ``bands`` LSH tables; a candidate pair is
    confirmed by its estimated Jaccard similarity ≥ threshold."""

    def __init__(self, threshold: float = 0.9, num_perm: int = 64, bands: int = 16, shingle: int = 5,
                 seed: int = 1):
        self.threshold, self.num_perm, self.bands, self.shingle = threshold, num_perm, bands, shingle
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, 1 << 61, num_perm, dtype=np.uint64)
        self.b = rng.integers(0, 1 << 61, num_perm, dtype=np.uint64)
        self.tables: list[dict[bytes, list[int]]] = [{} for _ in range(bands)]
        self.sigs: list[np.ndarray] = []

    def signature(self, text: str) -> np.ndarray:
        k = self.shingle
        grams = {text[i:i + k] for i in range(max(1, len(text) - k + 1))}
        h = np.fromiter((zlib.crc32(g.encode()) for g in grams), dtype=np.uint64, count=len(grams))
        return ((h[:, None] * self.a[None, :] + self.b[None, :]) % _PRIME).min(axis=0)

    def add_if_new(self, text: str) -> bool:
        """True (and indexed) when no near-duplicate is indexed yet."""
        sig = self.signature(text)
        rows = self.num_perm // self.bands
        keys = [sig[i * rows:(i + 1) * rows].tobytes() for i in range(self.bands)]
        seen: set[int] = set()
        for table, key in zip(self.tables, keys):
            for j in table.get(key, ()):
                if j not in seen:
                    seen.add(j)
                    if float(np.mean(self.sigs[j] == sig)) >= self.threshold:
                        return False
        idx = len(self.sigs)
        self.sigs.append(sig)
        for table, key in zip(self.tables, keys):
            table.setdefault(key, []).append(idx)
        return True


def dedup_chunks(chunks: Iterable[Chunk], exact: bool = True, near_threshold: float | None = 0.9
                 ) -> tuple[list[Chunk], dict[str, int]]:
    """Keep the first of every exact (normalised text) and near-duplicate group; returns kept chunks and
    counts ``{"exact": n, "near": m}`` of removed ones."""
    seen: set[bytes] = set()
    near = NearDupIndex(near_threshold) if near_threshold is not None else None
    kept: list[Chunk] = []
    removed = {"exact": 0, "near": 0}
    for c in chunks:
        body = _body(c)
        if exact:
            key = hashlib.blake2b(body.encode(), digest_size=16).digest()
            if key in seen:
                removed["exact"] += 1
                continue
            seen.add(key)
        if near is not None and not near.add_if_new(body):
            removed["near"] += 1
            continue
        kept.append(c)
    return kept, removed
