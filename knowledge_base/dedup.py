"""Exact and near-duplicate chunk removal (MinHash over character 5-grams with LSH banding)."""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .documents import Chunk

_WS = re.compile(r"\s+")
_PRIME = np.uint64((1 << 61) - 1)


def _body(chunk: Chunk) -> str:
    text = chunk.text
    if chunk.title and text.startswith(chunk.title + "\n"):
        text = text[len(chunk.title) + 1:]
    return _WS.sub(" ", text).strip()


class MinHasher:
    """MinHash signatures (``num_perm`` permutations) of character ``shingle``-grams."""

    def __init__(self, num_perm: int = 64, shingle: int = 5, seed: int = 1):
        self.num_perm, self.shingle = num_perm, shingle
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, 1 << 61, num_perm, dtype=np.uint64)
        self.b = rng.integers(0, 1 << 61, num_perm, dtype=np.uint64)

    def signature(self, text: str) -> np.ndarray:
        k = self.shingle
        grams = {text[i:i + k] for i in range(max(1, len(text) - k + 1))}
        h = np.fromiter((zlib.crc32(g.encode()) for g in grams), dtype=np.uint64, count=len(grams))
        return ((h[:, None] * self.a[None, :] + self.b[None, :]) % _PRIME).min(axis=0)


_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
                 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9], dtype=np.uint64)


class Deduper:
    """Marks the first of every exact (normalised text) and near-duplicate group among chunks added in order, in
    memory that does not hold the chunks: 16 bytes per chunk for the exact keys and, for near duplicates, the
    MinHash signature (512 bytes) written to a scratch file. ``finish()`` then finds near duplicates offline: LSH
    banding (``bands`` bands) groups candidates with numpy; only chunks that share a band with another are compared,
    in order, with the *kept* members of their bands (estimated Jaccard ≥ threshold) — the result a streaming LSH
    index gives, without its per-chunk Python tables (about 2 KB a chunk at 16 bands)."""

    def __init__(self, exact: bool = True, near_threshold: float | None = 0.9, scratch: Path | None = None,
                 num_perm: int = 64, bands: int = 16):
        if near_threshold is not None and num_perm % bands:
            raise ValueError(f"{num_perm} permutations do not split into {bands} bands")
        self.exact, self.threshold, self.bands = exact, near_threshold, bands
        self.hasher = MinHasher(num_perm) if near_threshold is not None else None
        self.keys = bytearray()
        self.n = 0
        self._tmp = tempfile.TemporaryDirectory(dir=scratch, prefix=".dedup-") if self.hasher else None
        self._sigs = open(Path(self._tmp.name) / "sigs.u64", "wb") if self._tmp else None  # noqa: SIM115

    def add(self, chunk: Chunk) -> None:
        body = _body(chunk)
        if self.exact:
            self.keys += hashlib.blake2b(body.encode(), digest_size=16).digest()
        if self.hasher is not None:
            self._sigs.write(self.hasher.signature(body).tobytes())
        self.n += 1

    def finish(self) -> tuple[np.ndarray, dict[str, int]]:
        """(keep mask over the chunks added, counts ``{"exact": n, "near": m}`` of the removed ones)."""
        n = self.n
        keep = np.ones(n, bool)
        removed = {"exact": 0, "near": 0}
        if self.exact and n:
            keys = np.frombuffer(bytes(self.keys), np.dtype((np.void, 16)))
            _, first = np.unique(keys, return_index=True)
            keep[:] = False
            keep[first] = True
            removed["exact"] = n - len(first)
        if self.hasher is not None:
            self._sigs.close()
            if n:
                removed["near"] = self._near(Path(self._tmp.name) / "sigs.u64", keep)
            self._tmp.cleanup()
        return keep, removed

    def _near(self, path: Path, keep: np.ndarray) -> int:
        """Mark near duplicates among the ``keep`` chunks, reading the signatures from ``path`` (read in blocks and
        by row, never mapped: the process holds 16 band keys a chunk, not the signatures)."""
        perm, n = self.hasher.num_perm, len(keep)
        rows = perm // self.bands
        row_bytes = perm * 8
        keys = np.empty((n, self.bands), np.uint64)
        with open(path, "rb") as f:
            for lo in range(0, n, 65536):
                block = np.fromfile(f, np.uint64, count=min(65536, n - lo) * perm).reshape(-1, self.bands, rows)
                keys[lo:lo + len(block)] = (block * _MIX[:rows]).sum(axis=2, dtype=np.uint64)  # collisions re-checked
        cand = np.flatnonzero(keep)
        shared, groups = np.zeros(len(cand), bool), []
        for b in range(self.bands):
            _, inv, counts = np.unique(keys[cand, b], return_inverse=True, return_counts=True)
            multi = counts[inv] > 1
            shared |= multi
            groups.append((inv.astype(np.int32), multi))
        del keys
        buckets: list[dict[int, list[int]]] = [{} for _ in range(self.bands)]
        removed = 0
        with open(path, "rb") as f:
            def sig(j: int) -> np.ndarray:
                return np.frombuffer(os.pread(f.fileno(), row_bytes, j * row_bytes), np.uint64)

            for pos in np.flatnonzero(shared).tolist():
                j = int(cand[pos])
                mine_sig = sig(j)
                mine = [(b, int(inv[pos])) for b, (inv, multi) in enumerate(groups) if multi[pos]]
                dup = False
                for b, g in mine:
                    lo, hi = b * rows, (b + 1) * rows
                    for i in buckets[b].get(g, ()):
                        other = sig(i)
                        if np.array_equal(other[lo:hi], mine_sig[lo:hi]) and \
                                float(np.mean(other == mine_sig)) >= self.threshold:
                            dup = True
                            break
                    if dup:
                        break
                if dup:
                    keep[j] = False
                    removed += 1
                else:
                    for b, g in mine:
                        buckets[b].setdefault(g, []).append(j)
        return removed


def dedup_chunks(chunks: Iterable[Chunk], exact: bool = True, near_threshold: float | None = 0.9
                 ) -> tuple[list[Chunk], dict[str, int]]:
    """Keep the first of every exact (normalised text) and near-duplicate group; returns kept chunks and
    counts ``{"exact": n, "near": m}`` of removed ones (``Deduper`` over a list held in memory)."""
    chunks = list(chunks)
    d = Deduper(exact, near_threshold)
    for c in chunks:
        d.add(c)
    keep, removed = d.finish()
    return [c for c, k in zip(chunks, keep) if k], removed
