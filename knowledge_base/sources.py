"""Corpus readers, chosen by name (``kb.sources[].name``). Each yields ``Document``s.

| name          | input                                                                   |
|---------------|-------------------------------------------------------------------------|
| wiki          | Korean Wikipedia JSONL(.gz) ``{id, title, text, ...}``                  |
| kobest_boolq  | KoBEST BoolQ folder or TSV; the ``Text`` paragraphs, de-duplicated      |
| statutes      | statutes JSONL(.gz) ``{law, article_no, article_title, text}``; options ``laws: [...]`` |
| korquad       | KorQuAD/SQuAD JSON; one document per paragraph, id ``<article>-<paragraph>`` |
| exam_bank     | past questions with their answers as documents: KMMLU-format CSVs (a file or a folder; options ``split``, ``exclude``) |
| jsonl         | user JSONL; options ``text_field`` (text), ``title_field`` (title), ``id_field`` (id) |
| txt           | a .txt file (one document, or one per blank-line block with ``split: paragraphs``) or a folder of them |
| csv           | user CSV with the same field options as jsonl                           |
"""
from __future__ import annotations

import csv
import gzip
import inspect
import io
import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from common.components import CHECKS
from common.limits import MAX_INPUT_ENV, MAX_RECORD_ENV, describe, max_input_bytes, max_record_chars
from common.registry import Registry

from .documents import Document

SourceReader = Callable[..., Iterator[Document]]
SOURCES: Registry[SourceReader] = Registry("knowledge-base source", field="kb.sources[].name")


class SourceError(ValueError):
    pass


def open_text(path: Path):
    """A source file opened as UTF-8 text (gunzipped when named ``.gz``); read it with ``lines``."""
    if not path.exists():
        raise SourceError(f"{path}: file not found")
    if not path.is_file():
        raise SourceError(f"{path}: not a regular file (a directory, device or pipe); give a source file")
    if path.suffix == ".gz":
        with open(path, "rb") as f:
            if f.read(2) != b"\x1f\x8b":
                raise SourceError(f"{path}: named .gz but not gzip-compressed (gzip it, or drop the .gz suffix)")
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def lines(f, path: Path) -> Iterator[str]:
    """The lines of an open source file, each at most ``common.limits.max_record_chars`` long: a longer line (a
    file without line breaks, a runaway record) is refused with the limit and how to raise it, not read whole."""
    limit = max_record_chars()
    for i in itertools.count(1):
        line = f.readline(limit + 1)
        if not line:
            return
        if len(line) > limit:
            raise SourceError(f"{path}, line {i}: longer than the {describe(limit)} record limit (raise it with "
                              f"${MAX_RECORD_ENV})")
        yield line


def _csv_rows(f, path: Path, **options) -> tuple[list[str], Iterator[dict]]:
    """The header and ``csv.DictReader`` rows over ``lines``; a quoted field that runs past the record limit or a
    malformed row is refused with the file and line."""
    csv.field_size_limit(max_record_chars())  # process-wide in csv: set for each reader
    reader = csv.DictReader(lines(f, path), **options)

    def refuse(e: csv.Error):
        return SourceError(f"{path}, line {reader.line_num}: malformed CSV ({e}; a field is limited by "
                           f"${MAX_RECORD_ENV})")

    try:
        header = list(reader.fieldnames or [])
    except csv.Error as e:
        raise refuse(e) from None

    def rows():
        try:
            yield from reader
        except csv.Error as e:
            raise refuse(e) from None

    return header, rows()


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    with open_text(path) as f:
        for i, line in enumerate(lines(f, path), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise SourceError(f"{path}, line {i}: invalid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise SourceError(f"{path}, line {i}: expected a JSON object")
            yield i, obj


@SOURCES.register("wiki")
def read_wiki(path: Path, max_chars: int | None = None, core_only: bool = False,
              exclude_titles: list[str] | None = None) -> Iterator[Document]:
    """Options: ``max_chars`` keeps each article's first N characters (its lead), ``core_only`` keeps the
    articles marked ``core`` (central to a social-studies topic), ``exclude_titles`` skips articles by title
    (e.g. articles another source already holds: a retrieval benchmark's distractors must not contain the gold
    paragraphs). ``limit`` counts the articles kept."""
    skip = set(exclude_titles or ())
    for i, obj in _jsonl(path):
        if not obj.get("text"):
            raise SourceError(f"{path}, line {i}, id {obj.get('id')!r}: missing field 'text'")
        if core_only and not obj.get("core"):
            continue
        if skip and (obj.get("title") or "") in skip:
            continue
        text = obj["text"] if max_chars is None else obj["text"][:max_chars]
        meta = {k: obj[k] for k in ("url", "domain", "core") if k in obj}
        yield Document(str(obj.get("id", i)), obj.get("title") or "", text, "wiki", meta)


@SOURCES.register("kobest_boolq")
def read_kobest_boolq(path: Path) -> Iterator[Document]:
    files = sorted(path.glob("*.tsv")) if path.is_dir() else [path]
    if not files:
        raise SourceError(f"{path}: no .tsv files")
    seen: set[str] = set()
    for f in files:
        with open_text(f) as fh:
            header, rows = _csv_rows(fh, f, delimiter="\t", quoting=csv.QUOTE_NONE)
            if "Text" not in header:
                raise SourceError(f"{f}: no 'Text' column (columns: {header})")
            for row in rows:
                text = (row.get("Text") or "").strip()
                if text and text not in seen:
                    seen.add(text)
                    yield Document(f"{f.stem}-{row.get('ID')}", "", text, "kobest_boolq")


@SOURCES.register("statutes")
def read_statutes(path: Path, laws: list[str] | None = None) -> Iterator[Document]:
    wanted = set(laws or [])
    for i, obj in _jsonl(path):
        law = obj.get("law") or ""
        if wanted and law not in wanted:
            continue
        if not obj.get("text"):
            raise SourceError(f"{path}, line {i}: missing field 'text'")
        title = f"{law} {obj.get('article_title') or ''}".strip()
        doc_id = f"{obj.get('law_id', law)}-{obj.get('article_no', i)}"
        yield Document(doc_id, title, obj["text"], "statutes",
                       {"law": law, "article_no": obj.get("article_no"), "enforced": obj.get("enforced")})


def normalise_question(text: str) -> str:
    """What two copies of one question share: no spaces, punctuation or case (the exam-bank leakage key)."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _kmmlu_rows(path: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(question id as ``rag.data`` names it: ``kmmlu/<file stem>/<row>``, file stem, row) of KMMLU CSVs."""
    with open_text(path) as f:
        header, rows = _csv_rows(f, path)
        missing = [c for c in ("question", "answer", "A", "B", "C", "D") if c not in header]
        if missing:
            raise SourceError(f"{path}: not a KMMLU-format CSV (missing columns {missing})")
        for i, row in enumerate(rows, start=1):
            yield f"kmmlu/{path.stem}/{i}", path.stem, row


@SOURCES.register("exam_bank")
def read_exam_bank(path: Path, split: str | None = None, exclude: list[str] | None = None) -> Iterator[Document]:
    """Past questions as documents: "question — answer text", one per question, from KMMLU-format CSVs
    (``path`` a file or a folder of ``<Subject>-<split>.csv``; ``split`` e.g. ``train`` or ``dev``). A bank
    must never hold a question that is being evaluated: ``exclude`` names question files, folders or globs
    (``data:exams/kmmlu/*-test.csv``; same format) whose
    questions are left out by id and by normalised text, and every document keeps its question's id and
    normalised text (``metadata``) so that ``eval.evidence`` / ``eval.run`` refuse an evaluation set that
    overlaps the bank."""
    files = sorted(path.glob(f"*-{split}.csv" if split else "*.csv")) if path.is_dir() else [path]
    if not files:
        raise SourceError(f"{path}: no KMMLU-format CSV files" + (f" for split {split!r}" if split else ""))
    banned_ids, banned_text = set(), set()
    for ex in exclude or []:
        ep = Path(ex)
        matches = sorted(ep.glob("*.csv")) if ep.is_dir() else sorted(ep.parent.glob(ep.name)) if "*" in ep.name \
            else [ep]
        if not matches:
            raise SourceError(f"exam_bank option exclude: {ex} matches no file")
        for f in matches:
            for qid, _, row in _kmmlu_rows(f):
                banned_ids.add(qid)
                banned_text.add(normalise_question(row.get("question") or ""))
    for f in files:
        subject = f.stem.rsplit("-", 1)[0]
        for qid, stem, row in _kmmlu_rows(f):
            q = (row.get("question") or "").strip()
            norm = normalise_question(q)
            if not q or qid in banned_ids or norm in banned_text:
                continue
            try:
                answer = row["ABCDE"[int(row["answer"]) - 1]]
            except (ValueError, KeyError, IndexError):
                raise SourceError(f"{f}, row {qid.rsplit('/', 1)[1]}: field 'answer' is {row.get('answer')!r}, "
                                  f"not a choice number 1-4") from None
            yield Document(qid.replace("/", "-"), f"{subject} 기출", f"{q} — {answer}", "exam_bank",
                           {"question_id": qid, "question_norm": norm, "subject": subject})


@SOURCES.register("korquad")
def read_korquad(path: Path) -> Iterator[Document]:
    with open_text(path) as f:
        limit = max_input_bytes()
        text = f.read(limit + 1)
    if len(text) > limit:
        raise SourceError(f"{path}: longer than the {describe(limit)} input limit (raise it with ${MAX_INPUT_ENV})")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SourceError(f"{path}: invalid JSON ({e})") from None
    if not isinstance(data, dict) or "data" not in data:
        raise SourceError(f"{path}: not a KorQuAD/SQuAD JSON (no 'data')")
    for a, article in enumerate(data["data"]):
        for p, par in enumerate(article.get("paragraphs", [])):
            # KorQuAD titles are URL slugs ("테드_번디"): written as the article name, as in the wiki source
            yield Document(f"{a}-{p}", article.get("title", "").replace("_", " "), par["context"], "korquad",
                           {"qa_ids": [qa["id"] for qa in par.get("qas", [])]})


def _fields(obj: dict, i: int, path: Path, text_field: str, title_field: str, id_field: str, source: str):
    text = obj.get(text_field)
    if not isinstance(text, str) or not text.strip():
        raise SourceError(f"{path}, row {i}: missing or empty field {text_field!r}")
    meta = {k: v for k, v in obj.items() if k not in {text_field, title_field, id_field}}
    # a row without an id is named by its file and row, so that two files' rows never share an id
    return Document(str(obj.get(id_field) or f"{path.stem}-{i}"), str(obj.get(title_field) or ""), text, source, meta)


@SOURCES.register("jsonl")
def read_user_jsonl(path: Path, text_field: str = "text", title_field: str = "title", id_field: str = "id",
                    source: str = "user") -> Iterator[Document]:
    for i, obj in _jsonl(path):
        yield _fields(obj, i, path, text_field, title_field, id_field, source)


@SOURCES.register("csv")
def read_user_csv(path: Path, text_field: str = "text", title_field: str = "title", id_field: str = "id",
                  source: str = "user") -> Iterator[Document]:
    with open_text(path) as f:
        for i, row in enumerate(_csv_rows(f, path)[1], 1):
            yield _fields(row, i, path, text_field, title_field, id_field, source)


@SOURCES.register("txt")
def read_txt(path: Path, split: str = "file", source: str = "user") -> Iterator[Document]:
    files = sorted(path.rglob("*.txt")) if path.is_dir() else [path]
    for f in files:
        try:
            with open_text(f) as fh:
                limit = max_record_chars()
                text = fh.read(limit + 1)
            if len(text) > limit:
                raise SourceError(f"{f}: longer than the {describe(limit)} record limit for one txt document (raise "
                                  f"it with ${MAX_RECORD_ENV}, or split the file)")
        except UnicodeDecodeError as e:
            raise SourceError(f"{f}: not valid UTF-8 (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
                              f"convert it, e.g. `iconv -f cp949 -t utf-8 {f.name}`") from None
        parts = [p for p in text.split("\n\n") if p.strip()] if split == "paragraphs" else [text]
        for k, part in enumerate(parts):
            yield Document(f"{f.stem}-{k}" if len(parts) > 1 else f.stem, f.stem, part.strip(), source)


def source_options(name: str) -> list[str]:
    """The options a source reader accepts (its keyword parameters)."""
    params = inspect.signature(SOURCES.get(name)).parameters
    return [p for p in list(params)[1:] if params[p].kind not in (inspect.Parameter.VAR_KEYWORD,
                                                                   inspect.Parameter.VAR_POSITIONAL)]


def check_options(name: str, options: dict[str, Any]) -> None:
    """Refuse an option the reader does not know (a typo such as ``max_char`` must not be ignored)."""
    allowed = source_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise SourceError(f"source {name!r}: unknown option(s) {', '.join(unknown)}; "
                          f"{name!r} accepts {', '.join(allowed) or 'no options'}")


def read_source(name: str, path: Path, limit: int | None = None, **options: Any) -> Iterator[Document]:
    reader = SOURCES.get(name)
    check_options(name, options)
    try:
        for n, doc in enumerate(reader(path, **options)):
            if limit is not None and n >= limit:
                return
            yield doc
    except UnicodeDecodeError as e:
        raise SourceError(f"{path}: source {name!r} is not valid UTF-8 (byte 0x{e.object[e.start]:02x} at offset "
                          f"{e.start} of the file being read); convert it, e.g. `iconv -f cp949 -t utf-8`") from None


def _source_option_errors(cfg) -> list[str]:
    """Options of ``kb.sources[]`` the named reader does not accept (a typo is an error, not ignored)."""
    errors = []
    for i, src in enumerate(cfg.kb.sources or []):
        try:
            check_options(src.name, src.options)
        except ValueError as e:
            errors.append(f"kb.sources[{i}].options: {e}")
    return errors


CHECKS.append(_source_option_errors)
