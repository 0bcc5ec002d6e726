"""``*_sources.csv`` label files (``id, source, subject, domain``) attached to questions by id."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import DataError
from .question import DOMAINS, Question
from .readers import iter_csv


@dataclass(frozen=True)
class Label:
    source: str | None
    subject: str | None
    domain: str | None


def load_labels(path: str | Path, encoding: str = "utf-8") -> dict[str, Label]:
    path = Path(path)
    header, rows = iter_csv(path, encoding)
    if "id" not in header:
        raise DataError(path, f"label file needs an 'id' column (columns: {', '.join(header)})")
    out: dict[str, Label] = {}
    for i, r in rows:
        if isinstance(r, DataError):
            raise r
        qid = (r.get("id") or "").strip()
        if not qid:
            raise DataError(path, "missing id", row=i, field_name="id")
        if qid in out:
            raise DataError(path, "duplicate id in label file", row=i, qid=qid, field_name="id")
        domain = (r.get("domain") or "").strip() or None
        if domain is not None and domain not in DOMAINS:
            raise DataError(path, f"domain {domain!r} is not one of {DOMAINS}", row=i, qid=qid, field_name="domain")
        out[qid] = Label((r.get("source") or "").strip() or None, (r.get("subject") or "").strip() or None, domain)
    return out


@dataclass
class LabelMatch:
    """How a label file met the questions: labelled count, questions without a label, label ids with no question."""

    matched: int
    unlabelled: list[str]
    unknown: list[str]


def attach_labels(questions: list[Question], labels: str | Path | dict[str, Label]) -> LabelMatch:
    """Set source/subject/domain from the label file (in place); returns how the ids matched.

    Unlabelled questions keep their fields (None) — the shared test labels cover 865 of 869 rows."""
    table = load_labels(labels) if not isinstance(labels, dict) else labels
    unlabelled = []
    for i, q in enumerate(questions):
        lab = table.get(q.id)
        if lab is None:
            unlabelled.append(q.id)
            continue
        questions[i] = q.model_copy(update={"source": lab.source or q.source, "subject": lab.subject or q.subject,
                                            "domain": lab.domain or q.domain})
    ids = {q.id for q in questions}
    return LabelMatch(len(questions) - len(unlabelled), unlabelled, [k for k in table if k not in ids])
