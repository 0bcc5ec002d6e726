"""Resumable sharded embedding into a memory-mapped ``.npy`` file.

``embeddings.npy`` is created with its final shape; shards of ``shard_size`` chunks are embedded in order
and each finished shard is recorded in ``embeddings.progress.json`` (with a fingerprint of the chunk
texts and the encoder). A killed build re-run with the same chunks and encoder continues at the first
unfinished shard.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

EMB_FILE = "embeddings.npy"
PROGRESS_FILE = "embeddings.progress.json"


def fingerprint(texts: Sequence[str], encoder_desc: dict) -> str:
    h = hashlib.sha256(json.dumps(encoder_desc, sort_keys=True).encode())
    for t in texts:
        h.update(t.encode())
        h.update(b"\x00")
    return h.hexdigest()


def text_key(text: str) -> bytes:
    return hashlib.sha1(text.encode()).digest()


class Reuse:
    """Embeddings of an earlier build, looked up by chunk text: rows whose text was embedded before with the
    same encoder are copied instead of encoded again (adding documents to a store re-embeds only them)."""

    def __init__(self, texts: Sequence[str], vectors: np.ndarray):
        self.rows = {text_key(t): i for i, t in enumerate(texts)}
        self.vectors = vectors
        self.copied = 0

    def get(self, text: str) -> np.ndarray | None:
        i = self.rows.get(text_key(text))
        return None if i is None else self.vectors[i]


def embed_resumable(texts: Sequence[str], encode: Callable[[Sequence[str]], np.ndarray], dim: int,
                    out_dir: Path, encoder_desc: dict, shard_size: int = 1024, dtype: str = "float32",
                    show_progress: bool = True, stop_after_shards: int | None = None, batch_size: int = 64,
                    reuse: Reuse | None = None) -> np.ndarray:
    """Embed ``texts`` into ``out_dir/embeddings.npy``; returns the (memory-mapped) array.

    ``reuse`` supplies vectors of texts embedded by an earlier build with the same encoder.
    ``stop_after_shards`` stops after that many new shards (used by tests to simulate a killed build)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path, prog_path = out_dir / EMB_FILE, out_dir / PROGRESS_FILE
    fp = fingerprint(texts, encoder_desc)
    n = len(texts)
    n_shards = (n + shard_size - 1) // shard_size
    prog = json.loads(prog_path.read_text()) if prog_path.exists() else None
    if (prog is None or prog.get("fingerprint") != fp or prog.get("shard_size") != shard_size
            or prog.get("dtype") != dtype or not path.exists()):
        prog = {"fingerprint": fp, "shard_size": shard_size, "dtype": dtype, "n": n, "dim": dim, "done": []}
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.dtype(dtype), shape=(n, dim))
        del arr
        prog_path.write_text(json.dumps(prog))
    arr = np.load(path, mmap_mode="r+", allow_pickle=False)
    done = set(prog["done"])
    todo = [s for s in range(n_shards) if s not in done]
    bar = tqdm(total=n, initial=n - sum(min(shard_size, n - s * shard_size) for s in todo), unit="chunk",
               desc="dense: embedding", disable=not show_progress, smoothing=0.1)
    t0 = time.time()
    for k, s in enumerate(todo):
        if stop_after_shards is not None and k >= stop_after_shards:
            break
        lo, hi = s * shard_size, min(n, (s + 1) * shard_size)
        rows = list(range(lo, hi))
        if reuse is not None:
            fresh = []
            for r in rows:
                v = reuse.get(texts[r])
                if v is None:
                    fresh.append(r)
                else:
                    arr[r] = v.astype(dtype)
                    reuse.copied += 1
            bar.update(len(rows) - len(fresh))
            rows = fresh
        for a in range(0, len(rows), batch_size):  # sub-batches keep the progress bar moving inside a shard
            sub = rows[a:a + batch_size]
            vec = encode([texts[r] for r in sub])
            if vec.shape != (len(sub), dim):
                raise ValueError(f"encoder returned shape {vec.shape}, expected {(len(sub), dim)}")
            arr[sub] = vec.astype(dtype)
            bar.update(len(sub))
        arr.flush()
        done.add(s)
        prog["done"] = sorted(done)
        tmp = prog_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(prog))
        tmp.replace(prog_path)
    bar.close()
    prog["seconds"] = prog.get("seconds", 0) + time.time() - t0
    prog_path.write_text(json.dumps(prog))
    del arr
    return np.load(path, mmap_mode="r", allow_pickle=False)


def is_complete(out_dir: Path) -> bool:
    prog_path = out_dir / PROGRESS_FILE
    if not prog_path.exists():
        return False
    prog = json.loads(prog_path.read_text())
    n_shards = (prog["n"] + prog["shard_size"] - 1) // prog["shard_size"]
    return len(prog["done"]) == n_shards
