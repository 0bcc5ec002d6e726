"""Writers: competition submission (``id,answer``), JSONL of questions, and ``datasets`` conversion."""
from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from .question import Question


def write_submission(answers: Mapping[str, int] | Iterable[tuple[str, int]], path: str | Path) -> Path:
    """Write the competition submission CSV ``id,answer`` (answers 1-based)."""
    items = answers.items() if isinstance(answers, Mapping) else answers
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "answer"])
        for qid, ans in items:
            w.writerow([qid, int(ans)])
    return path


def write_jsonl(questions: Iterable[Question], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(q.to_record(), ensure_ascii=False) + "\n" for q in questions)
    return path


def to_dataset(questions: Iterable[Question]):
    """A ``datasets.Dataset`` with one row per question (``metadata`` stored as a JSON string)."""
    from datasets import Dataset

    rows = []
    for q in questions:
        rec = q.to_record()
        rec["metadata"] = json.dumps(rec["metadata"], ensure_ascii=False)
        rows.append(rec)
    return Dataset.from_list(rows)


def from_dataset(ds) -> list[Question]:
    out = []
    for rec in ds:
        rec = dict(rec)
        meta = rec.get("metadata")
        rec["metadata"] = json.loads(meta) if isinstance(meta, str) and meta else (meta or {})
        out.append(Question.model_validate(rec))
    return out
