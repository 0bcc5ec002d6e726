"""Where shared data and caches live. Data is always read by path, never copied into the repo."""
from __future__ import annotations

import os
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



def names_local_path(value: str) -> bool:
    """Whether a model value names a local path (absolute, ``./``, ``../``, ``~`` or more than one ``/``) rather
    than a Hugging Face Hub id (``org/name``)."""
    return value.startswith(("/", ".", "~")) or value.count("/") > 1


def check_model_path(key: str, value: str) -> None:
    """A model named by a local path must be a directory that exists (checked before anything loads)."""
    if names_local_path(value) and not Path(value).expanduser().is_dir():
        raise ValueError(f"{key}: {value} is not a directory (give a local model directory, or a Hub id such as "
                         f"org/name)")
