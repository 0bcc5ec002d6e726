"""Question loaders, one per format, chosen by name from a registry (or detected with ``auto``).

    questions = load_questions("../shared/data/competition/train.csv",
                               labels="../shared/data/competition/train_sources.csv")
    questions, report = load_with_report(path, strict=False)   # lenient: skip bad rows, report them

Every loader yields ``(row_number, Question | DataError)``; strict mode raises the first error,
lenient mode skips the row and records it in the report. Nothing is dropped silently.
"""
from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from common.registry import Registry

from .errors import DataError, LoadReport
from .labels import attach_labels
from .question import Question
from .readers import csv_header, iter_csv, read_json, read_text
from .validate import RowResult, collect, make_question, row_result

Reader = Callable[..., Iterator[tuple[int, RowResult]]]
LOADERS: Registry[Reader] = Registry("question format", field=("data.format", "finetune.datasets[].name"),
                                    extra=("auto",))

CLICK_SOCIAL = {"History", "Law", "Politics", "Economy", "Society", "Geography", "Popular", "Tradition"}


def _opt(s: Any) -> str | None:
    if s is None:
        return None
    if isinstance(s, (list, tuple)):
        s = "\n".join(str(x) for x in s)
    s = str(s)
    return s if s.strip() else None


def _csv_rows(path: Path, encoding: str, required: tuple[str, ...], build: Callable[..., Question]
              ) -> Iterator[tuple[int, RowResult]]:
    """Check the header for ``required`` columns, then build each row (malformed rows pass through)."""
    header, rows = iter_csv(path, encoding)
    for col in required:
        if col not in header:
            raise DataError(path, f"missing column {col!r} (columns: {', '.join(header)})")
    for i, r in rows:
        yield (i, r) if isinstance(r, DataError) else row_result(i, build, path, i, r)


# --------------------------------------------------------------------------- competition (nested)
@LOADERS.register("competition")
def read_competition(path: Path, encoding: str = "utf-8", **_: Any) -> Iterator[tuple[int, RowResult]]:
    """Competition CSV: ``id, paragraph, problems, question_plus[, hint]``; ``problems`` is a Python literal."""
    return _csv_rows(path, encoding, ("id", "problems"), _competition_row)


#: the keys a competition row's ``problems`` dict may hold
PROBLEM_KEYS = frozenset({"question", "choices", "answer", "question_plus"})


def _competition_row(path: Path, i: int, r: dict[str, str]) -> Question:
    qid = (r.get("id") or "").strip() or None
    try:
        prob = ast.literal_eval(r["problems"] or "")
    except (ValueError, SyntaxError, MemoryError, RecursionError) as e:
        raise DataError(path, f"cannot parse problems as a Python literal ({type(e).__name__}: {e})",
                        row=i, qid=qid, field_name="problems") from None
    if not isinstance(prob, dict):
        raise DataError(path, f"problems must be a dict, got {type(prob).__name__}", row=i, qid=qid,
                        field_name="problems")
    unknown = sorted(map(str, set(prob) - PROBLEM_KEYS))
    if unknown:  # 'answers' for 'answer' would drop the label without a word
        raise DataError(path, f"unknown key(s) {', '.join(map(repr, unknown))} in problems; the keys are "
                              f"{', '.join(sorted(PROBLEM_KEYS))}", row=i, qid=qid, field_name="problems")
    meta = {k: v for k, v in r.items() if k not in {"id", "paragraph", "problems", "question_plus", "hint"} and v}
    return make_question(
        path, i, qid, prob.get("question"), prob.get("choices"), prob.get("answer"),
        paragraph=r.get("paragraph") or "",
        question_plus=_opt(r.get("question_plus")) or _opt(prob.get("question_plus")),
        hint=_opt(r.get("hint")), metadata=meta)


# --------------------------------------------------------------------------- flat CSV
@LOADERS.register("flat")
def read_flat(path: Path, encoding: str = "utf-8", **_: Any) -> Iterator[tuple[int, RowResult]]:
    """Flat CSV: ``id, question, choices, answer`` (+ paragraph, question_plus, hint, source, subject, domain).
    ``choices`` is a JSON or Python list literal."""
    return _csv_rows(path, encoding, ("question", "choices"), _flat_row)


def _flat_row(path: Path, i: int, r: dict[str, str]) -> Question:
    qid = r.get("id") or f"{path.stem}-{i}"
    raw = r.get("choices") or ""
    try:
        choices = json.loads(raw)
    except json.JSONDecodeError:
        try:
            choices = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            raise DataError(path, "cannot parse choices as a JSON or Python list", row=i, qid=qid,
                            field_name="choices") from None
    known = {"id", "question", "choices", "answer", "paragraph", "question_plus", "hint", "source", "subject",
             "domain"}
    return make_question(
        path, i, qid, r.get("question"), choices, r.get("answer"), paragraph=r.get("paragraph") or "",
        question_plus=_opt(r.get("question_plus")), hint=_opt(r.get("hint")), source=_opt(r.get("source")),
        subject=_opt(r.get("subject")), domain=_opt(r.get("domain")),
        metadata={k: v for k, v in r.items() if k not in known and v})


# --------------------------------------------------------------------------- KICE JSON
@LOADERS.register("kice")
def read_kice(path: Path, encoding: str = "utf-8", **_: Any) -> Iterator[tuple[int, RowResult]]:
    """KICE 수능 국어 JSON: passages ``{id, paragraph, type?, problems: [...]}``; a folder reads every file.
    Question ids are ``<passage id>#<k>`` (k = 1-based problem number within the passage)."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    row = 0
    for f in files:
        data = read_json(f, encoding)
        if not isinstance(data, list):
            raise DataError(f, "KICE file must hold a list of passages")
        year = m.group(1) if (m := re.match(r"(\d{4})", f.name)) else None
        for p_idx, passage in enumerate(data, 1):
            pid = passage.get("id") if isinstance(passage, dict) else None
            probs = passage.get("problems") if isinstance(passage, dict) else None
            if pid is None or not str(pid).strip():
                row += 1
                yield row, DataError(f, f"passage {p_idx} has no id (its questions would be ids 'None#k')",
                                     row=p_idx, field_name="id")
                continue
            if not isinstance(probs, list):
                row += 1
                yield row, DataError(f, "passage has no 'problems' list", row=p_idx, qid=pid, field_name="problems")
                continue
            for k, prob in enumerate(probs, 1):
                row += 1
                qid = f"{pid}#{k}"
                yield row_result(row, _kice_problem, f, row, qid, passage, prob, year)


def _kice_problem(f: Path, row: int, qid: str, passage: dict, prob: Any, year: str | None) -> Question:
    if not isinstance(prob, dict):
        raise DataError(f, "problem must be an object", row=row, qid=qid)
    meta = {"passage_id": passage.get("id"), "score": prob.get("score"), "year": year}
    if passage.get("type") is not None:
        meta["type"] = passage.get("type")
    no_par = bool(prob.get("no_paragraph"))
    if no_par:
        meta["no_paragraph"] = True
    return make_question(
        f, row, qid, prob.get("question"), prob.get("choices"), prob.get("answer"),
        paragraph="" if no_par else (passage.get("paragraph") or ""),
        question_plus=_opt(prob.get("question_plus")), source="KICE", subject="korean", domain="korean",
        metadata={k: v for k, v in meta.items() if v is not None})


# --------------------------------------------------------------------------- CLIcK JSON
@LOADERS.register("click")
def read_click(path: Path, encoding: str = "utf-8", **_: Any) -> Iterator[tuple[int, RowResult]]:
    """CLIcK: ``{id, paragraph, question, choices, answer}`` with the answer given as the choice STRING.
    A folder reads ``*/<Category>/*.json``; the subject is the category folder ('Korean ' dropped), the
    domain is ``social`` under Culture/ and ``korean`` under Language/. Ids are ``<file stem>/<id>``
    (the raw ids repeat across files)."""
    files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
    row = 0
    for f in files:
        data = read_json(f, encoding)
        if not isinstance(data, list):
            raise DataError(f, "CLIcK file must hold a list of items")
        subject = f.parent.name.removeprefix("Korean ").strip()
        group = f.parent.parent.name
        domain = "korean" if group == "Language" else "social" if group == "Culture" else \
            ("social" if subject in CLICK_SOCIAL else "korean")
        for item in data:
            row += 1
            raw_id = item.get("id") if isinstance(item, dict) else None
            if isinstance(item, dict) and (raw_id is None or not str(raw_id).strip()):
                yield row, DataError(f, "item has no id", row=row, field_name="id")
                continue
            qid = f"{f.stem}/{raw_id}"
            yield row_result(row, _click_item, f, row, qid, item, subject, domain)


def _click_item(f: Path, row: int, qid: str, item: Any, subject: str, domain: str) -> Question:
    if not isinstance(item, dict):
        raise DataError(f, "item must be an object", row=row, qid=qid)
    choices, ans = item.get("choices"), item.get("answer")
    if isinstance(choices, list) and isinstance(ans, str):
        hits = [i for i, c in enumerate(choices, 1) if str(c).strip() == ans.strip()]
        if not hits:
            raise DataError(f, f"answer {ans!r} is not one of the choices", row=row, qid=qid, field_name="answer")
        if len(hits) > 1:
            raise DataError(f, f"answer {ans!r} matches choices {hits}", row=row, qid=qid, field_name="answer")
        ans = hits[0]
    return make_question(f, row, qid, item.get("question"), choices, ans, paragraph=item.get("paragraph") or "",
                         source="CLIcK", subject=subject, domain=domain,
                         metadata={"file": f.stem, "group": f.parent.parent.name})


# --------------------------------------------------------------------------- KMMLU CSV
@LOADERS.register("kmmlu")
def read_kmmlu(path: Path, encoding: str = "utf-8", split: str | None = None, **_: Any
               ) -> Iterator[tuple[int, RowResult]]:
    """KMMLU CSV ``question, answer (1-4), A, B, C, D, Category, Human Accuracy``; subject and split from the
    file name ``<Subject>-<split>.csv``. A folder reads every ``*-<split>.csv`` (all files if split is None)."""
    files = sorted(path.glob(f"*-{split}.csv" if split else "*.csv")) if path.is_dir() else [path]
    if not files:
        raise DataError(path, f"no KMMLU files matching split {split!r}")
    for f in files:
        stem = f.stem
        subject, _, fsplit = stem.rpartition("-") if stem.rsplit("-", 1)[-1] in {"train", "dev", "test"} \
            else (stem, "", "")
        header, rows = iter_csv(f, encoding)
        missing = [c for c in ("question", "answer", "A", "B", "C", "D") if c not in header]
        if missing:
            raise DataError(f, f"missing KMMLU columns {missing} (columns: {', '.join(header)})")
        for i, r in rows:
            qid = f"kmmlu/{stem}/{i}"
            if isinstance(r, DataError):
                yield i, r
                continue
            letters = [c for c in "ABCDE" if c in header and (c != "E" or r.get("E"))]
            meta = {"split": fsplit or None, "category": r.get("Category"), "human_accuracy": r.get("Human Accuracy")}
            yield row_result(i, make_question, f, i, qid, r.get("question"), [r.get(c) or "" for c in letters],
                             r.get("answer"), source="KMMLU", subject=subject, domain="social",
                             metadata={k: v for k, v in meta.items() if v})


# --------------------------------------------------------------------------- JSONL of Question
@LOADERS.register("jsonl")
def read_jsonl(path: Path, encoding: str = "utf-8", **_: Any) -> Iterator[tuple[int, RowResult]]:
    """One ``Question`` JSON object per line (what ``write_jsonl`` writes)."""
    for i, line in enumerate(read_text(path, encoding).splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield i, DataError(path, f"invalid JSON: {e.msg}", row=i)
            continue
        if not isinstance(obj, dict):
            yield i, DataError(path, "line must be a JSON object", row=i)
            continue

        yield row_result(i, _jsonl_row, path, i, obj)


def _jsonl_row(path: Path, i: int, obj: dict) -> Question:
    from pydantic import ValidationError

    q = make_question(path, i, obj.get("id"), obj.get("question"), obj.get("choices"), obj.get("answer"))
    try:
        return Question.model_validate({**obj, "id": q.id, "answer": q.answer, "choices": q.choices})
    except ValidationError as e:
        first = e.errors()[0]
        raise DataError(path, first["msg"], row=i, qid=q.id, field_name=".".join(map(str, first["loc"]))) from None


# --------------------------------------------------------------------------- translated SAT (augment)
@LOADERS.register("sat_ko")
def read_sat_ko(path: Path, encoding: str = "utf-8", **_: Any) -> Iterator[tuple[int, RowResult]]:
    """Machine-translated SAT U.S. history (``prompt_ko, A_ko..E_ko, answer`` letter)."""
    _, rows = iter_csv(path, encoding)
    for i, r in rows:
        if isinstance(r, DataError):
            yield i, r
            continue
        letter = (r.get("answer") or "").strip().upper()
        letters = [c for c in "ABCDE" if (r.get(f"{c}_ko") or "").strip()]
        ans: Any = letters.index(letter) + 1 if letter in letters else (letter or None)
        qid = r.get("id") or f"sat_ko/{i}"
        yield row_result(i, make_question, path, i, qid, r.get("prompt_ko"), [r[f"{c}_ko"] for c in letters], ans,
                         source="SAT-ko", subject="us_history", domain="social")


# --------------------------------------------------------------------------- detection and entry points
def detect_format(path: Path) -> str:
    """Guess the loader name from the path and the file's structure."""
    if path.is_dir():
        if any(path.glob("*_KICE.json")):
            return "kice"
        if any(path.glob("*/*.json")) or any(path.glob("*/*/*.json")):
            return "click"
        if any(path.glob("*-test.csv")) or any(path.glob("*-train.csv")):
            return "kmmlu"
        raise DataError(path, "cannot detect the question format of this folder; pass --format")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return "jsonl"
    if suffix == ".json":
        data = read_json(path)
        first = data[0] if isinstance(data, list) and data else None
        if isinstance(first, dict) and "problems" in first:
            return "kice"
        if isinstance(first, dict) and "choices" in first:
            return "click"
        raise DataError(path, "JSON is neither KICE (passages with problems) nor CLIcK (items); pass --format")
    if suffix in (".csv", ".tsv"):
        header = set(csv_header(path))
        if "problems" in header:
            return "competition"
        if "prompt_ko" in header:
            return "sat_ko"
        if {"A", "B", "C", "D"} <= header:
            return "kmmlu"
        if "choices" in header:
            return "flat"
        raise DataError(path, f"cannot detect the CSV format from columns {sorted(header)}; pass --format")
    raise DataError(path, f"unknown file type {suffix!r}; pass --format ({', '.join(LOADERS.names())})")


def load_with_report(path: str | Path, format: str = "auto", strict: bool = True,
                     labels: str | Path | None = None, encoding: str = "utf-8", **options: Any
                     ) -> tuple[list[Question], LoadReport]:
    """Load questions and the report of what was read and skipped (lenient mode)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(path, "file not found")
    if not (path.is_file() or path.is_dir()):
        raise DataError(path, "not a regular file or a folder (a device or pipe); give a question file or folder")
    name = detect_format(path) if format == "auto" else format
    reader = LOADERS.get(name)
    report = LoadReport(str(path))
    if strict:
        questions, report = collect(path, reader(path, encoding=encoding, **options), True, report)
    else:
        try:
            questions, report = collect(path, reader(path, encoding=encoding, **options), False, report)
        except DataError as e:  # a file-level problem (missing column, not UTF-8): nothing loads
            report.add(e)
            questions = []
    if not report.n_rows and not report.skipped:
        _problem(DataError(path, "holds no questions (a header or an empty list, no rows)"), strict, report)
    if labels is not None:
        match = attach_labels(questions, labels)
        skipped = {s.qid for s in report.skipped}
        unknown = [k for k in match.unknown if k not in skipped]
        if questions and not match.matched:
            _problem(DataError(labels, f"no label id matches a question id of {path} (labels e.g. "
                                       f"{', '.join(unknown[:3])}; questions e.g. "
                                       f"{', '.join(q.id for q in questions[:3])}): a label file for other data?"),
                     strict, report)
        elif unknown:
            _problem(DataError(labels, f"{len(unknown)} label id(s) match no question of {path}, e.g. "
                                       f"{', '.join(unknown[:5])}"), strict, report)
        report.unlabelled = match.unlabelled
    return questions, report


def _problem(err: DataError, strict: bool, report: LoadReport) -> None:
    if strict:
        raise err
    report.add(err)


def hash_bucket(qid: str, n: int) -> int:
    """A stable bucket in ``0..n-1`` for an id (sha1, not Python's salted hash)."""
    import hashlib

    return int(hashlib.sha1(qid.encode()).hexdigest(), 16) % n


def parse_bucket_spec(spec: str) -> tuple[str, tuple[int, int] | None]:
    """``PATH@K/N`` → (PATH, (K, N)): keep the questions whose id falls in hash bucket K of N. A path that
    exists as written is a path, even if it ends in ``@K/N``."""
    m = re.fullmatch(r"(.+)@(\d+)/(\d+)", str(spec))
    if not m or Path(spec).expanduser().exists():
        return str(spec), None
    k, n = int(m.group(2)), int(m.group(3))
    if not 0 <= k < n:
        raise ValueError(f"{spec}: bucket K must be in 0..N-1")
    return m.group(1), (k, n)


def load_questions(path: str | Path, format: str = "auto", strict: bool = True,
                   labels: str | Path | None = None, encoding: str = "utf-8", **options: Any) -> list[Question]:
    """Load questions; in lenient mode the report of skipped rows is printed to stderr.

    ``PATH@K/N`` keeps only hash bucket K of N (by id), e.g. ``exams/click@0/2`` and ``exams/click@1/2`` are
    two disjoint, stable halves."""
    path, bucket = parse_bucket_spec(str(path))
    questions, report = load_with_report(path, format, strict, labels, encoding, **options)
    if bucket is not None:
        questions = [q for q in questions if hash_bucket(q.id, bucket[1]) == bucket[0]]
    if report.skipped:
        print(report.summary(), file=sys.stderr)
    if (note := report.label_note()) is not None:
        print(note, file=sys.stderr)
    return questions
