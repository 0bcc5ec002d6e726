"""The project's one set of hashing helpers: file and folder digests (manifests, provenance, downloads) and
short text/config fingerprints (cache keys, config stamps)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def sha256_file(path: str | Path, block: int = 1 << 22) -> str:
    """Hex sha256 of one file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def sha256_tree(path: str | Path) -> str:
    """``sha256_file`` of a file; of a folder, a digest over its files' relative paths and digests (sorted),
    so a renamed or changed file changes it."""
    p = Path(path)
    if p.is_file():
        return sha256_file(p)
    h = hashlib.sha256()
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        h.update(str(f.relative_to(p)).encode())
        h.update(sha256_file(f).encode())
    return h.hexdigest()


def short_hash(value: Any, n: int = 12) -> str:
    """The first ``n`` hex digits of the sha256 of a string, or of a JSON value (keys sorted)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]
