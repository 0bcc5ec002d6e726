"""``python -m rag.data stats PATH`` / ``python -m rag.data validate PATH``."""
from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.table import Table

from common.cli import command

from .errors import DataError
from .loaders import LOADERS, load_with_report
from .stats import question_stats


def _table(title: str, counts: dict, total: int) -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column("value")
    t.add_column("count", justify="right")
    t.add_column("share", justify="right")
    for k, v in counts.items():
        t.add_row(str(k), str(v), f"{v / max(total, 1):.1%}")
    return t


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rag.data", description="Inspect and validate question files.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, help_ in (("stats", "counts, histograms and length percentiles"),
                        ("validate", "check every row; exit 1 on any error")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("path", help="file or folder (competition/flat CSV, KICE/CLIcK JSON, KMMLU CSV, JSONL)")
        p.add_argument("--format", default="auto", choices=["auto", *LOADERS.names()])
        p.add_argument("--labels", default=None, help="id,source,subject,domain CSV to attach")
        p.add_argument("--split", default=None, help="KMMLU folder: only *-SPLIT.csv files")
        p.add_argument("--encoding", default="utf-8")
        if name == "stats":
            p.add_argument("--lenient", action="store_true", help="skip bad rows (reported) instead of failing")
            p.add_argument("--json", action="store_true", help="print the statistics as JSON")
    args = ap.parse_args(argv)
    console = Console(stderr=False)
    opts = {"split": args.split} if args.split else {}
    strict = args.cmd == "stats" and not args.lenient
    try:
        questions, report = load_with_report(args.path, args.format, strict=strict, labels=args.labels,
                                             encoding=args.encoding, **opts)
    except DataError as e:
        if args.cmd != "validate":
            raise  # a file that cannot be read is a refusal (exit 2); validate reports it as a finding (exit 1)
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.cmd == "validate":
        if report.skipped:
            for s in report.skipped:
                print(f"error: {s}", file=sys.stderr)
            print(f"INVALID: {len(report.skipped)} bad rows of {report.n_rows}", file=sys.stderr)
            return 1
        print(f"OK: {report.n_loaded} questions in {args.path}")
        return 0
    st = question_stats(questions)
    if report.skipped:
        print(report.summary(), file=sys.stderr)
    if args.json:
        print(json.dumps(st, ensure_ascii=False, indent=1))
        return 0
    console.print(f"[bold]{args.path}[/bold]: {st['n']} questions ({st['with_answer']} with answers, "
                  f"{st['with_question_plus']} with <보기>)")
    for key, title in (("by_source", "source"), ("by_subject", "subject"), ("by_domain", "domain"),
                       ("n_choices", "number of choices"), ("answer_position", "answer position")):
        if st[key]:
            console.print(_table(title, st[key], st["n"] if key != "answer_position" else st["with_answer"]))
    lt = Table(title="length (characters)", title_justify="left")
    lt.add_column("field")
    for p in ("p5", "p25", "p50", "p75", "p95", "max"):
        lt.add_column(p, justify="right")
    for key in ("paragraph_chars", "question_chars", "choices_chars"):
        if st[key]:
            lt.add_row(key.removesuffix("_chars"), *(f"{st[key][p]:.0f}" for p in ("p5", "p25", "p50", "p75", "p95", "max")))
    console.print(lt)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
