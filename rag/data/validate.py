"""Row-level validation shared by every loader."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import DataError, LoadReport
from .question import DOMAINS, Question

RowResult = Question | DataError


def make_question(path: str | Path, row: int, qid: Any, question: Any, choices: Any, answer: Any,
                  **fields: Any) -> Question:
    """Validate one row's fields and build a Question, or raise DataError naming the field."""
    qid_s = None if qid is None else str(qid).strip()

    def err(field: str, msg: str) -> DataError:
        return DataError(path, msg, row=row, qid=qid_s, field_name=field)

    if not qid_s:
        raise err("id", "missing id")
    if not isinstance(question, str) or not question.strip():
        raise err("question", "missing or empty question")
    if not isinstance(choices, (list, tuple)):
        raise err("choices", f"choices must be a list, got {type(choices).__name__}")
    for i, c in enumerate(choices, 1):
        if c is None:
            raise err("choices", f"choice {i} is null")
        if not isinstance(c, (str, int, float)) or isinstance(c, bool):
            raise err("choices", f"choice {i} must be text, got {type(c).__name__}")
    choices = [c if isinstance(c, str) else str(c) for c in choices]
    if len(choices) < 2:
        raise err("choices", f"needs at least 2 choices, got {len(choices)}")
    for i, c in enumerate(choices, 1):
        if not c.strip():
            raise err("choices", f"choice {i} is empty")
    ans = _parse_answer(answer)
    if ans is _BAD:
        raise err("answer", f"answer {_short(answer)} is not an integer")
    if ans is not None and not 1 <= ans <= len(choices):
        raise err("answer", f"answer {ans} is outside 1..{len(choices)}")
    domain = fields.get("domain")
    if domain is not None and not (isinstance(domain, str) and (domain in DOMAINS or not domain.strip())):
        raise err("domain", f"domain {_short(domain)} is not one of {', '.join(DOMAINS)} (as in label files)")
    return Question(id=qid_s, question=question, choices=list(choices), answer=ans, **fields)


_BAD = object()


def _short(value: Any, n: int = 60) -> str:
    r = repr(value)
    return r if len(r) <= n else r[: n - 3] + "...'"


def _parse_answer(answer: Any):
    if answer is None:
        return None
    if isinstance(answer, bool):
        return _BAD
    if isinstance(answer, int):
        return answer
    if isinstance(answer, float):
        return int(answer) if answer.is_integer() else _BAD
    s = str(answer).strip()
    if not s:
        return None
    try:
        return int(float(s)) if s.replace(".", "", 1).isdigit() and float(s).is_integer() else int(s)
    except ValueError:
        return _BAD


def collect(path: str | Path, results: Iterable[tuple[int, RowResult]], strict: bool,
            report: LoadReport | None = None) -> tuple[list[Question], LoadReport]:
    """Gather row results: strict raises the first error; lenient records it. Duplicate ids are errors."""
    report = report or LoadReport(str(path))
    out: list[Question] = []
    seen: dict[str, int] = {}
    for row, res in _guard(path, results, strict, report):
        report.n_rows += 1
        if isinstance(res, Question) and res.id in seen:
            res = DataError(path, f"duplicate id (first seen at row {seen[res.id]})", row=row, qid=res.id,
                            field_name="id")
        if isinstance(res, DataError):
            if strict:
                raise res
            report.add(res)
            continue
        seen[res.id] = row
        out.append(res)
    report.n_loaded += len(out)
    return out, report


def _guard(path, results, strict: bool, report: LoadReport) -> Iterator[tuple[int, RowResult]]:
    """Iterate results; a structural error raised by the reader itself ends the file (recorded if lenient)."""
    it = iter(results)
    while True:
        try:
            yield next(it)
        except StopIteration:
            return
        except DataError as e:
            if strict:
                raise
            report.add(e)
            return


def row_result(row: int, build: Callable[..., Question], *args: Any, **kwargs: Any) -> tuple[int, RowResult]:
    """Run ``build(*args, **kwargs)`` (which may raise DataError) and return the row's result."""
    try:
        return row, build(*args, **kwargs)
    except DataError as e:
        return row, e
