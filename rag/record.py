"""The prediction record: one ``Prediction`` per answered question, with the one writer and the one reader of
``details.jsonl`` (predict, metrics, ablation, the demo and ensembles all use these).

The reader forgives exactly one thing: a torn *last* line (a run killed mid-write), which it drops with a
warning so that ``--resume`` recomputes that question. Any other bad line is an error naming the file, line
and field."""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DETAILS = "details.jsonl"


class RecordError(ValueError):
    """A details.jsonl line is not a prediction record."""


@dataclass
class Prediction:
    id: str
    n_choices: int
    probs: list[float]  # over the choices in their original order
    prediction: int  # 1-based
    route: str  # korean | social
    source: str | None = None
    subject: str | None = None
    domain: str | None = None  # the gold domain when labelled
    route_confidence: float = 1.0
    p_social: float = 0.0
    route_uncertain: bool = False
    retrieved: list[dict[str, Any]] = field(default_factory=list)  # RetrievedDoc.to_dict()
    context_used: int = 0
    context_gated_out: int = 0
    context_dropped_for_budget: int = 0
    passage_trimmed_chars: int = 0
    over_budget: bool = False
    prompt_tokens: int = 0
    gold: int | None = None
    correct: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "record") -> Prediction:
        if not isinstance(d, dict):
            raise RecordError(f"{where}: not a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise RecordError(f"{where}: unknown field(s) {unknown} (is this a rag.predict details.jsonl?)")
        missing = [f.name for f in fields(cls)
                   if f.default is MISSING and f.default_factory is MISSING and f.name not in d]
        if missing:
            raise RecordError(f"{where}: missing field(s) {missing}")
        _check_values(d, where)
        return cls(**d)


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_values(d: dict[str, Any], where: str) -> None:
    """The fields every figure is computed from have the types and ranges a run writes: a string ``gold``, a
    non-numeric probability or a prediction outside the choices is an error naming the line and field, not a
    silently wrong accuracy."""
    import math

    n = d["n_choices"]
    if not _is_int(n) or n < 2:
        raise RecordError(f"{where}: field 'n_choices' is {n!r}, not a count of 2 or more")
    probs = d["probs"]
    if (not isinstance(probs, list) or len(probs) != n
            or not all(isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p) and p >= 0
                       for p in probs)):
        raise RecordError(f"{where}: field 'probs' must be {n} finite non-negative numbers, got {str(probs)[:80]}")
    for name in ("prediction", "gold"):
        v = d.get(name)
        if v is None and name == "gold":
            continue
        if not _is_int(v) or not 1 <= v <= n:
            raise RecordError(f"{where}: field {name!r} is {v!r}, not a choice number in 1..{n}")
    if d.get("correct") is not None and not isinstance(d["correct"], bool):
        raise RecordError(f"{where}: field 'correct' is {d['correct']!r}, not true/false/null")


def write_details(path: Path, records: Iterable[Prediction], append: bool = False) -> None:
    """Write (or append) records, one JSON object per line, flushed and synced to disk."""
    with open(path, "a" if append else "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records)
        f.flush()
        os.fsync(f.fileno())


def read_details(path: Path) -> list[Prediction]:
    """The records of a details.jsonl ([] when it does not exist); a torn last line is dropped."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_bytes().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    out = []
    for i, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            d = json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            if i == len(lines):  # a kill mid-write can cut a line anywhere, even inside a UTF-8 character
                log.warning("%s, line %d: torn last line (an interrupted run) dropped", path, i)
                break
            what = "not UTF-8" if isinstance(e, UnicodeDecodeError) else "not valid JSON"
            raise RecordError(f"{path}, line {i}: {what}") from None
        if not isinstance(d, dict):
            raise RecordError(f"{path}, line {i}: expected a JSON object, got {type(d).__name__}")
        out.append(Prediction.from_dict(d, f"{path}, line {i}"))
    return out


def read_run(run_dir: Path) -> list[Prediction]:
    """The records of a rag.predict / eval.run output directory."""
    path = Path(run_dir) / DETAILS
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {run_dir} a rag.predict output directory?")
    records = read_details(path)
    if not records:
        raise RecordError(f"{path} holds no predictions: nothing to score")
    return records
