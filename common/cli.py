"""Conventions shared by every CLI: ``--config PATH`` and repeated ``-o section.key=value``, and one error boundary
per command (``command``)."""
from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

from .config import ConfigError, RunConfig, load_config, save_config


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, help="YAML run config (default: built-in defaults)")
    parser.add_argument("-o", "--override", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config value; repeatable, e.g. -o retrieval.top_k=3")


def config_from_args(args: argparse.Namespace, extra: list[str] | None = None) -> RunConfig:
    """Load the config named by --config/-o; a ConfigError ends the program with its message."""
    try:
        return load_config(args.config, list(extra or []) + list(args.override))
    except ConfigError as e:
        fail(str(e))


def positive_int(text: str) -> int:
    """argparse type for counts (``--limit``, ``-k``, ``--checkpoint-every``): an integer ≥ 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _bounded(text: str, ok, requirement: str) -> float:
    x = _number(text)
    if not ok(x):
        raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
    return x


def positive_float(text: str) -> float:
    """argparse type for scales such as a temperature: a finite number > 0."""
    return _bounded(text, lambda x: x > 0 and x != float("inf"), "a finite number above 0")


def non_negative_float(text: str) -> float:
    """argparse type for a weight that 0 turns off: a finite number >= 0."""
    return _bounded(text, lambda x: x >= 0 and x != float("inf"), "a finite number of at least 0")


def unit_float(text: str) -> float:
    """argparse type for a probability or fraction: a number in [0, 1]."""
    return _bounded(text, lambda x: 0.0 <= x <= 1.0, "between 0 and 1")


def prepare_out_dir(out: str | Path, cfg: RunConfig) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out)
    return out


def fail(message: str, code: int = 2):
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


#: set to 1 to see the traceback behind a command's one-line error
DEBUG_ENV = "CSAT_DEBUG"


def describe_error(e: BaseException) -> str:
    """One line for an error: the project's own messages as they are; the ordinary failures of files and libraries
    with the file and what went wrong."""
    if isinstance(e, UnicodeDecodeError):
        return (f"not UTF-8 text: byte 0x{e.object[e.start]:02x} at position {e.start} cannot be decoded ({e.reason}); "
                f"save the file as UTF-8")
    if isinstance(e, OSError) and e.filename is not None:
        what = {IsADirectoryError: "is a directory, not a file", NotADirectoryError: "is not a directory",
                FileNotFoundError: "no such file or directory", PermissionError: "permission denied"}
        return f"{e.filename}: {what.get(type(e), e.strerror or str(e))}"
    if isinstance(e, LookupError) and not isinstance(e, (KeyError, IndexError)):
        return str(e)  # e.g. an unknown text encoding
    text = str(e).strip().strip('"') or type(e).__name__
    if isinstance(e, (KeyError, IndexError, TypeError, AttributeError, ZeroDivisionError)):
        text = f"{type(e).__name__}: {text}"
    return text if len(text) <= 2000 else text[:2000] + " …"


def command(main):
    """The error boundary of a ``python -m`` entry point: an error raised anywhere below ``main`` ends the program
    with one line on stderr (``error: …``, naming the file, row or key where the message does) and exit code 2,
    instead of a traceback; ``CSAT_DEBUG=1`` lets the traceback through. Ctrl-C exits 130."""
    @functools.wraps(main)
    def run(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except SystemExit:
            raise
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise SystemExit(130) from None
        except Exception as e:
            if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
                raise
            fail(f"{describe_error(e)}  (set {DEBUG_ENV}=1 for the traceback)")

    return run
