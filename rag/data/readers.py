"""Low-level readers: text with a clear non-UTF-8 error, CSV records, JSON."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import limits
from common.limits import MAX_INPUT_ENV

from .errors import DataError

_GUESSES = ("cp949", "euc-kr", "utf-16", "latin-1")


def max_input_bytes() -> int:
    """The largest question or label file read (``common.limits``; raised with $CSAT_MAX_INPUT_MB)."""
    try:
        return limits.max_input_bytes()
    except limits.LimitError as e:
        raise DataError(MAX_INPUT_ENV, str(e)) from None


def check_input_file(path: Path) -> None:
    """A question or label file must be a regular file no larger than ``max_input_bytes``."""
    if not path.exists():
        raise DataError(path, "file not found")
    if not path.is_file():
        raise DataError(path, "not a regular file (a directory, device or pipe); give a question or label file")
    size, limit = path.stat().st_size, max_input_bytes()
    if size > limit:
        raise DataError(path, f"{limits.describe(size)}, over the {limits.describe(limit)} input limit (raise it "
                              f"with ${MAX_INPUT_ENV})")


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """Read a text file; a decoding failure names the file, the byte offset and a likely encoding."""
    path = Path(path)
    check_input_file(path)
    data = path.read_bytes()
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return data.decode(enc)
    except UnicodeDecodeError as e:
        guess = next((g for g in _GUESSES if _decodes(data, g)), None)
        hint = (f"; it decodes as {guess}: convert it with `iconv -f {guess} -t utf-8` "
                f"or pass encoding='{guess}'") if guess else ""
        raise DataError(path, f"not valid {encoding} (byte 0x{data[e.start]:02x} at offset {e.start}){hint}") \
            from None


def _decodes(data: bytes, enc: str) -> bool:
    try:
        text = data.decode(enc)
    except (UnicodeDecodeError, LookupError):
        return False
    # latin-1 decodes anything; only suggest it when nothing better fits
    return enc != "utf-16" or "\x00" not in text


def iter_csv(path: str | Path, encoding: str = "utf-8") -> tuple[list[str], Iterator[tuple[int, Any]]]:
    """Header and (1-based record number, row dict) pairs; a malformed row comes as a DataError."""
    text = read_text(path, encoding)
    # strict: a quote that does not close where a field ends (an unbalanced quote swallowing the next rows)
    # is an error at its line, not a silently merged row
    csv.field_size_limit(max_input_bytes())  # the whole file is within it (csv's limit is process-wide: set it here)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, [])
    except csv.Error as e:
        raise DataError(path, f"malformed CSV header: {e}") from None
    if not header:
        raise DataError(path, "empty CSV: no header row")
    header = [h.strip() for h in header]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataError(path, f"duplicate column(s) {', '.join(map(repr, dupes))} in the header")

    def rows() -> Iterator[tuple[int, Any]]:
        i = 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise DataError(path, f"malformed CSV at line {reader.line_num}: {e} (an unbalanced quote?); "
                                      f"rows from there on cannot be read reliably", row=i + 1) from None
            if not fields:  # a blank line
                continue
            i += 1
            if len(fields) != len(header):
                qid = fields[header.index("id")] if "id" in header and header.index("id") < len(fields) else None
                yield i, DataError(path, f"row has {len(fields)} fields, header has {len(header)}", row=i, qid=qid)
                continue
            yield i, dict(zip(header, fields))

    return header, rows()


def read_json(path: str | Path, encoding: str = "utf-8") -> Any:
    text = read_text(path, encoding)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(path, f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None


def csv_header(path: str | Path, encoding: str = "utf-8") -> list[str]:
    with open(path, encoding="utf-8-sig" if encoding == "utf-8" else encoding, errors="replace") as f:
        line = f.readline()
    return next(csv.reader([line]), [])
