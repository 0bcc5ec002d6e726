"""``python -m eval.compare RUN_DIR [RUN_DIR ...] [--out compare.md]``: one table across runs (overall and per
domain, with 95% intervals), read from each run's ``metrics.json`` (written by eval.run / eval.ablate)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from common.cli import command, fail

from .report import fmt_ci


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.compare", description=__doc__)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=None, help="also write the table as markdown")
    args = ap.parse_args(argv)
    metrics: list[tuple[str, dict]] = []
    for r in args.runs:
        p = r / "metrics.json"
        if not p.exists():
            fail(f"{p} not found (run eval.run on {r} first)")
        metrics.append((str(r), json.loads(p.read_text())))
    domains = sorted({d for _, m in metrics for d in m.get("by_domain", {})})
    t = Table(title="runs compared (accuracy [95% CI])", title_justify="left")
    for c in ("run", "n", "overall", *domains):
        t.add_column(c)
    md = ["| run | n | overall | " + " | ".join(domains) + " |", "|---" * (3 + len(domains)) + "|"]
    for name, m in metrics:
        cells = [str(m.get("n", 0)), fmt_ci(m), *(fmt_ci(m["by_domain"].get(d, {})) for d in domains)]
        t.add_row(name, *cells)
        md.append(f"| {name} | " + " | ".join(cells) + " |")
    Console().print(t)
    if args.out:
        args.out.write_text("\n".join(md) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
