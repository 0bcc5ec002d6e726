"""Sentence-aware chunking with overlap, title prefixes and stable ids."""
from __future__ import annotations

import re
from collections.abc import Callable

from common.config import ChunkingConfig

from .documents import Chunk, Document

# Sentence ends: ., !, ?, 。, … followed by space or a closing quote/bracket; and line breaks.
_SENT_END = re.compile(r"(?<=[.!?。…])[\"'”’)\]]*\s+|\n+")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT_END.split(text) if s and s.strip()]


def length_fn(cfg: ChunkingConfig) -> Callable[[str], int]:
    """Characters, or whitespace-separated words (어절) when ``unit: tokens``."""
    if cfg.unit == "chars":
        return len
    return lambda s: len(s.split())


def _hard_split(sentence: str, size: int, unit: str) -> list[str]:
    if unit == "chars":
        return [sentence[i:i + size] for i in range(0, len(sentence), size)]
    words = sentence.split()
    return [" ".join(words[i:i + size]) for i in range(0, len(words), size)]


def pack(sentences: list[str], size: int, overlap: int, measure: Callable[[str], int], unit: str) -> list[str]:
    """Greedily pack sentences up to ``size``; each new chunk starts with the previous chunk's trailing
    sentences totalling at most ``overlap``."""
    pieces: list[str] = []
    for s in sentences:
        pieces.extend(_hard_split(s, size, unit) if measure(s) > size else [s])
    chunks: list[str] = []
    cur: list[str] = []
    cur_len = 0
    for s in pieces:
        n = measure(s)
        if cur and cur_len + n > size:
            chunks.append(" ".join(cur))
            keep: list[str] = []
            kept = 0
            for prev in reversed(cur):
                if kept + measure(prev) > overlap:
                    break
                keep.insert(0, prev)
                kept += measure(prev)
            if kept + n > size:
                keep, kept = [], 0
            cur, cur_len = keep, kept
        cur.append(s)
        cur_len += n
    if cur:
        chunks.append(" ".join(cur))
    return chunks


def chunk_document(doc: Document, cfg: ChunkingConfig) -> list[Chunk]:
    measure = length_fn(cfg)
    bodies = pack(split_sentences(doc.text), cfg.size, cfg.overlap, measure, cfg.unit)
    if len(bodies) > 1 and len(bodies[-1]) < cfg.min_size:
        last = bodies.pop()
        bodies[-1] += " " + last
    out = []
    for n, body in enumerate(b for b in bodies if len(b) >= min(cfg.min_size, len(doc.text.strip()))):
        text = f"{doc.title}\n{body}" if cfg.prefix_title and doc.title else body
        out.append(Chunk(f"{doc.source}:{doc.doc_id}:{n}", doc.doc_id, doc.source, doc.title, text, n,
                         dict(doc.metadata)))
    return out

