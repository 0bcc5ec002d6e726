"""Where shared data and caches live. Data is always read by path, never copied into the repo."""
from __future__ import annotations

import os
import re
from pathlib import Path

DATA_ROOT_ENV = "CSAT_DATA_ROOT"
CACHE_ENV = "CSAT_CACHE_DIR"
REPO_ROOT = Path(__file__).resolve().parent.parent


def default_data_root() -> Path:
    """``$CSAT_DATA_ROOT`` if set, else ``../shared/data`` beside the project root."""
    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return Path(env).expanduser()
    return (REPO_ROOT.parent / "shared" / "data").resolve()


def cache_dir() -> Path:
    """User cache for fetched models and derived artefacts (``$CSAT_CACHE_DIR`` or XDG cache)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "csat-rag"


#: a Hugging Face Hub id: ``name`` or ``org/name``
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


def check_model_ref(ref: str, field: str) -> None:
    """A model reference is an existing local path or a Hub id (``name`` or ``org/name``); anything else —
    typically a path that does not exist — is refused before any library tries it as a repo id."""
    if Path(ref).expanduser().exists():
        return
    if ref.startswith((".", "/", "~")) or "\\" in ref or not _HUB_ID.fullmatch(ref) or ".." in ref:
        raise FileNotFoundError(f"{field}: {ref!r} is neither an existing local path nor a Hub id (org/name)")
