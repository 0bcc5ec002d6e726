"""Limits on what one input may make us read, each raised by an environment variable: a device such as
/dev/zero, a file without line breaks or a runaway export must be refused with the limit and how to raise it,
never read until the machine's memory is gone.

* ``$CSAT_MAX_INPUT_MB`` (default 1024): a question, label or other file read whole;
* ``$CSAT_MAX_RECORD_MB`` (default 64): one line (one record) of a knowledge-base source, or one ``txt``
  document; sources are streamed, so their total size is not limited.
"""
from __future__ import annotations

import os

MAX_INPUT_ENV, MAX_INPUT_MB = "CSAT_MAX_INPUT_MB", 1024
MAX_RECORD_ENV, MAX_RECORD_MB = "CSAT_MAX_RECORD_MB", 64


class LimitError(ValueError):
    """An environment variable that should hold a limit holds something else."""


def _mib(env: str, default: float) -> float:
    raw = os.environ.get(env, "")
    try:
        mb = float(raw) if raw else default
    except ValueError:
        raise LimitError(f"${env} is {raw!r}, not a number of MiB") from None
    if not mb > 0:
        raise LimitError(f"${env} is {raw!r}: give a positive number of MiB")
    return mb


def max_input_bytes() -> int:
    return int(_mib(MAX_INPUT_ENV, MAX_INPUT_MB) * 2**20)


def max_record_chars() -> int:
    """The longest line / record, in characters (a MiB of the limit counted as 2**20 characters)."""
    return int(_mib(MAX_RECORD_ENV, MAX_RECORD_MB) * 2**20)


def describe(limit: int) -> str:
    return f"{limit / 2**20:,.1f} MiB"
