"""Descriptive statistics of a question set (counts, histograms, length percentiles)."""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from .question import Question


def _pct(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values)
    return {f"p{p}": float(np.percentile(arr, p)) for p in (5, 25, 50, 75, 95)} | {"max": float(arr.max())}


def question_stats(questions: list[Question]) -> dict[str, Any]:
    return {
        "n": len(questions),
        "with_answer": sum(q.answer is not None for q in questions),
        "with_question_plus": sum(bool(q.question_plus) for q in questions),
        "by_source": dict(Counter(q.source or "(none)" for q in questions).most_common()),
        "by_subject": dict(Counter(q.subject or "(none)" for q in questions).most_common()),
        "by_domain": dict(Counter(q.domain or "(none)" for q in questions).most_common()),
        "n_choices": dict(sorted(Counter(q.n_choices for q in questions).items())),
        "answer_position": dict(sorted(Counter(q.answer for q in questions if q.answer is not None).items())),
        "paragraph_chars": _pct([len(q.paragraph) for q in questions]),
        "question_chars": _pct([len(q.question) for q in questions]),
        "choices_chars": _pct([sum(len(c) for c in q.choices) for q in questions]),
    }
