"""Data errors that name the file, row, id and field, and the lenient-mode report."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class DataError(ValueError):
    def __init__(self, path: str | Path, message: str, row: int | None = None,
                 qid: str | None = None, field_name: str | None = None):
        self.path = str(path)
        self.row = row
        self.qid = qid
        self.field = field_name
        self.reason = message
        where = [self.path]
        if row is not None:
            where.append(f"row {row}")
        if qid is not None:
            where.append(f"id {qid!r}")
        if field_name is not None:
            where.append(f"field {field_name!r}")
        super().__init__(f"{', '.join(where)}: {message}")


@dataclass
class SkippedRow:
    path: str
    row: int | None
    qid: str | None
    field: str | None
    reason: str

    def __str__(self) -> str:
        return str(DataError(self.path, self.reason, self.row, self.qid, self.field))


@dataclass
class LoadReport:
    """What a loader read and, in lenient mode, every row it skipped and why."""

    path: str
    n_rows: int = 0
    n_loaded: int = 0
    skipped: list[SkippedRow] = field(default_factory=list)
    unlabelled: list[str] = field(default_factory=list)  # question ids a label file had no row for

    @property
    def ok(self) -> bool:
        return not self.skipped

    def add(self, err: DataError) -> None:
        self.skipped.append(SkippedRow(err.path, err.row, err.qid, err.field, err.reason))

    def merge(self, other: LoadReport) -> None:
        self.n_rows += other.n_rows
        self.n_loaded += other.n_loaded
        self.skipped.extend(other.skipped)

    def summary(self) -> str:
        head = f"{self.path}: {self.n_loaded} of {self.n_rows} rows loaded, {len(self.skipped)} skipped"
        return "\n".join([head, *(f"  skipped: {s}" for s in self.skipped)])

    def label_note(self) -> str | None:
        if not self.unlabelled:
            return None
        return (f"note: {len(self.unlabelled)} question(s) of {self.path} have no row in the label file "
                f"(e.g. {', '.join(self.unlabelled[:3])}); their source/subject/domain stay unset")
