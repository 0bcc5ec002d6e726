"""The questions of a run, loaded in one place for every command (``rag.predict``, ``eval.run``, ``eval.ablate``,
``eval.evidence``): a file (``--data``, default ``data.test``, with its labels) or a named suite (``--suite``,
``rag.data.suites``), cut to ``--limit``, refused when empty or when the run's knowledge base holds any of them in
its exam bank (``rag.evidence.refuse_leakage``). With them comes their identity for the run's stamp: the
resolved path and sha256 of the file and of its labels, or the suite's name."""
from __future__ import annotations

from pathlib import Path

from common.config import RunConfig
from common.hashing import sha256_tree

from .data import DataError, Question, load_questions
from .data.loaders import parse_bucket_spec
from .data.suites import load_suite


def questions_for_run(cfg: RunConfig, data: str | None = None, labels: str | None = None, suite: str | None = None,
                      limit: int | None = None, kbs=()) -> tuple[list[Question], dict]:
    """``(questions, identity)``; ``kbs``: the knowledge bases the run retrieves from (``Assembly.knowledge_base``
    of each config; None entries are skipped), each checked for leakage. ``data`` and ``suite`` are exclusive; with
    neither, ``data.test`` and ``data.test_labels``."""
    if data is not None and suite is not None:
        raise ValueError("--data and --suite both say which questions to answer: give one")
    if suite is not None:
        qs, where, identity = load_suite(suite, cfg), f"suite {suite}", {"suite": suite}
    else:
        path = data or str(cfg.resolve_path(cfg.data.test))
        lab = labels if labels is not None else (str(cfg.resolve_path(cfg.data.test_labels))
                                                 if data is None and cfg.data.test_labels else None)
        qs = load_questions(path, format=cfg.data.format, strict=cfg.data.strict, labels=lab)
        file_part = parse_bucket_spec(path)[0]
        base = Path(file_part).expanduser()
        where = path
        identity = {"path": f"{base.resolve()}{path[len(file_part):]}", "sha256": sha256_tree(base)}
        if lab:  # the labels decide the domains the run reports: part of what it was produced from
            identity["labels"] = {"path": str(Path(lab).expanduser().resolve()), "sha256": sha256_tree(Path(lab))}
    qs = qs[:limit] if limit else qs
    if not qs:
        raise DataError(where, "no questions to answer" + (" (every row was skipped)" if not cfg.data.strict else ""))
    check_leakage(qs, kbs)
    return qs, identity


def check_leakage(questions: list[Question], kbs) -> None:
    """Refuse questions that any of ``kbs`` (None entries skipped) holds in its exam bank."""
    from .evidence import refuse_leakage

    for kb in {id(k): k for k in kbs if k is not None}.values():
        refuse_leakage(kb, questions)


def describe(identity: dict) -> tuple[str, str]:
    """``(source, sha256)`` of an identity for a report's provenance."""
    if "suite" in identity:
        return f"suite:{identity['suite']}", "(suite; ids in question_ids.txt)"
    return identity["path"], identity["sha256"]
