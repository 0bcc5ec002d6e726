"""Question families for training and judging the router (``base.py`` holds the registry and the real families,
``synthetic.py`` and ``synthetic_wiki.py`` the look-alikes built from other data). Importing this package registers
every family."""
from __future__ import annotations

from pathlib import Path

from rag.data.loaders import hash_bucket
from rag.data.question import Question
from rag.router.params import RouterParams

from . import synthetic, synthetic_wiki  # noqa: F401  (register the synthetic families)
from .base import (
    FAMILIES,
    HELD_OUT_KICE_YEARS,
    Family,
    cap,
    cap_per_family,
    family_of,
    family_weights,
    stable_fraction,
)

__all__ = ["FAMILIES", "HELD_OUT_KICE_YEARS", "Family", "cap", "cap_per_family", "default_training", "family_of",
           "family_weights", "load_families", "stable_fraction"]


def load_families(root: Path, names: list[str] | None = None) -> dict[str, list[Question]]:
    """Each family of ``names`` (default: all registered) loaded from the data root."""
    return {n: FAMILIES.get(n).load(root) for n in (names or FAMILIES.names())}


def default_training(root: Path, train_cap: int | None = None) -> list[Question]:
    """What the shipped router trains on: every training family, at most ``train_cap`` rows each (default
    ``RouterParams().train_cap``; a deterministic sample by id), without KICE 2020–2024 (the competition test's
    KCSAT items) and with only the ``@0/2`` half of CLIcK (``hash_bucket``; evaluate on ``exams/click@1/2``)."""
    if train_cap is None:
        train_cap = RouterParams().train_cap
    out: list[Question] = []
    for name, qs in load_families(root, [n for n in FAMILIES.names() if not FAMILIES.get(n).eval_only]).items():
        if name == "kice":
            qs = [q for q in qs if q.metadata.get("year") not in HELD_OUT_KICE_YEARS]
        if name.startswith("click-"):
            qs = [q for q in qs if hash_bucket(q.id, 2) == 0]
        out.extend(cap(qs, train_cap))
    return out
