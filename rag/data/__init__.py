"""Question data layer: one ``Question`` model, loaders for every shared format, validation, writers."""
from .errors import DataError, LoadReport, SkippedRow
from .labels import Label, attach_labels, load_labels
from .loaders import LOADERS, detect_format, load_questions, load_with_report
from .question import Question
from .writers import from_dataset, to_dataset, write_jsonl, write_submission

__all__ = [
    "LOADERS",
    "DataError",
    "Label",
    "LoadReport",
    "Question",
    "SkippedRow",
    "attach_labels",
    "detect_format",
    "from_dataset",
    "load_labels",
    "load_questions",
    "load_with_report",
    "to_dataset",
    "write_jsonl",
    "write_submission",
]
