"""Seeded, domain-stratified dev split of the competition train set (the ``competition-dev`` suite).

Fine-tuning excludes these ids automatically, so a model is never evaluated on questions it trained on."""
from __future__ import annotations

import random

from common.config import RunConfig

from .loaders import load_questions
from .question import Question


def stratified_split(questions: list[Question], fraction: float = 0.15, seed: int = 42
                     ) -> tuple[list[Question], list[Question]]:
    """(train, dev): ``fraction`` of each domain goes to dev, chosen by a seeded shuffle of sorted ids."""
    by: dict[str, list[Question]] = {}
    for q in questions:
        by.setdefault(q.domain or "unknown", []).append(q)
    dev_ids: set[str] = set()
    for dom in sorted(by):
        ids = sorted(q.id for q in by[dom])
        random.Random(f"{seed}:{dom}").shuffle(ids)
        dev_ids.update(ids[: round(fraction * len(ids))])
    return [q for q in questions if q.id not in dev_ids], [q for q in questions if q.id in dev_ids]


def interleave_by_domain(questions: list[Question]) -> list[Question]:
    """Round-robin across domains (each in its given order), so that any prefix (``--limit N``) is balanced."""
    by: dict[str, list[Question]] = {}
    for q in questions:
        by.setdefault(q.domain or "unknown", []).append(q)
    out: list[Question] = []
    queues = [by[d] for d in sorted(by)]
    for i in range(max((len(v) for v in queues), default=0)):
        out.extend(v[i] for v in queues if i < len(v))
    return out


def competition_train(cfg: RunConfig) -> list[Question]:
    """The labelled competition train set (``data.train`` with ``data.train_labels``)."""
    return load_questions(cfg.resolve_path(cfg.data.train),
                          labels=cfg.resolve_path(cfg.data.train_labels) if cfg.data.train_labels else None)


def competition_dev(cfg: RunConfig) -> list[Question]:
    """The competition-dev questions (``eval.dev_fraction``, ``eval.seed``): one split for the eval suite and
    for fine-tuning's exclusion and dev scoring."""
    return stratified_split(competition_train(cfg), cfg.eval.dev_fraction, cfg.eval.seed)[1]
