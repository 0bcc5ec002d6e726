"""The 'chunk' stage, streamed: documents are read, cut and written one at a time, so its memory does not hold the
corpus.

Pass 1 writes every chunk's JSON line to a scratch file and hands it to the ``Deduper`` (16 bytes of exact key and
a MinHash signature on disk per chunk); pass 2 copies the kept lines into ``chunks.jsonl`` through a ``ChunkWriter``
(offsets, block digests, the file's sha256). What grows with the corpus in memory is about 40 bytes a chunk (its
offset, exact key and an 8-byte digest of its id that catches two sources making the same chunk id)."""
from __future__ import annotations

import hashlib
import json
from array import array
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from common.config import RunConfig
from common.hashing import sha256_tree

from .chunk_store import BLOCKS_FILE, CHUNKS_FILE, OFFSETS_FILE, ChunkWriter, move_chunk_files, record_line
from .chunking import chunk_document
from .dedup import Deduper
from .manifest import KBError, forget_files, record_files
from .sources import read_source

SCRATCH = ".chunks.scratch.jsonl"
NEW_DIR = ".chunks.new"


def _resolve_option(cfg: RunConfig, value):
    """Source options that are paths may use the ``data:`` prefix too (a list of them as well)."""
    if isinstance(value, str) and value.startswith("data:"):
        return str(cfg.resolve_path(value))
    if isinstance(value, list):
        return [_resolve_option(cfg, v) for v in value]
    return value


def _id_key(chunk_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(chunk_id.encode(), digest_size=8).digest(), "little")


def write_chunks(cfg: RunConfig, out: Path, progress: bool = True) -> dict[str, Any]:
    """Read, cut and deduplicate the configured sources into ``out/chunks.jsonl`` (+ offsets and block digests);
    returns what the manifest records (sources, counts, the chunk file's sha256)."""
    kb = cfg.kb
    if not kb.sources:
        raise KBError("kb.sources is empty: name at least one source in the config")
    owner: dict[int, int] = {}  # digest of a chunk id -> the index of the source that made it
    sources, n_docs = [], 0
    offsets = array("q", [0])
    dedup = kb.chunking.dedup or kb.chunking.near_dup_threshold is not None
    deduper = Deduper(kb.chunking.dedup, kb.chunking.near_dup_threshold, scratch=out) if dedup else None
    scratch = out / SCRATCH
    try:
        with open(scratch, "wb") as raw:
            for k, src in enumerate(kb.sources):
                path = cfg.resolve_path(src.path)
                if not path.exists():
                    raise KBError(f"source {src.name!r}: {path} not found")
                n_before, d = len(offsets) - 1, 0
                options = {key: _resolve_option(cfg, v) for key, v in src.options.items()}
                bar = tqdm(read_source(src.name, path, limit=src.limit, **options), desc=f"chunk: {src.name}",
                           unit="doc", disable=not progress, total=src.limit, mininterval=1.0)
                for doc in bar:
                    d += 1
                    for c in chunk_document(doc, kb.chunking):
                        first = owner.setdefault(_id_key(c.chunk_id), k)
                        if first != k:
                            other = kb.sources[first]
                            raise KBError(f"chunk id {c.chunk_id!r} of source {src.name!r} ({path}) is also made by "
                                          f"source {other.name!r} ({cfg.resolve_path(other.path)}): document ids "
                                          f"must be unique across sources (give each its own ids, or options: "
                                          f"{{source: NAME}})")
                        line = record_line(c)
                        raw.write(line)
                        offsets.append(offsets[-1] + len(line))
                        if deduper is not None:
                            deduper.add(c)
                n_docs += d
                sources.append({"name": src.name, "path": str(path), "sha256": sha256_tree(path), "limit": src.limit,
                                "options": src.options, "documents": d, "chunks": len(offsets) - 1 - n_before})
        del owner
        n_raw = len(offsets) - 1
        if deduper is not None:
            keep, removed = deduper.finish()
        else:
            keep, removed = None, {"exact": 0, "near": 0}
        n_kept = n_raw if keep is None else int(keep.sum())
        if not n_kept:
            raise KBError("the sources produced no chunks")
        # written in a side folder and moved in last: a failed chunk stage leaves the store's chunks as they were
        with open(scratch, "rb") as raw, ChunkWriter(out / NEW_DIR) as w:
            bar = tqdm(total=n_raw, desc="chunk: write", unit="chunk", disable=not progress, mininterval=1.0)
            for i in range(n_raw):
                line = raw.read(offsets[i + 1] - offsets[i])
                if keep is None or keep[i]:
                    w.add_line(line)
                bar.update(1)
            bar.close()
    finally:
        scratch.unlink(missing_ok=True)
    return {"sources": sources, "sha256": w.sha256,
            "counts": {"documents": n_docs, "chunks_raw": n_raw, "chunks": n_kept, "removed_exact": removed["exact"],
                       "removed_near": removed["near"]}}


def commit_chunks(out: Path, man: dict[str, Any], written: dict[str, Any], chunking: dict) -> None:
    """Put the written chunks in place and record them (later stages were built from other chunks: dropped)."""
    move_chunk_files(out / NEW_DIR, out)
    for stage, prefix in (("bm25", "bm25"), ("dense", "dense.faiss"), ("dense", "embeddings.npy")):
        man.pop(stage, None)
        forget_files(man, prefix)
    man.setdefault("files", {})[CHUNKS_FILE] = {"size": (out / CHUNKS_FILE).stat().st_size, "sha256": written["sha256"]}
    record_files(out, man, [out / OFFSETS_FILE, out / BLOCKS_FILE])
    man["sources"] = written["sources"]
    man["chunking"] = json.loads(json.dumps(chunking))
    man["counts"] = written["counts"]
