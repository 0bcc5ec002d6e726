"""Conventions shared by every CLI: ``--config PATH`` and repeated ``-o section.key=value``."""
from __future__ import annotations

import argparse
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
