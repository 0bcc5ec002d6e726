"""``python -m rag.router train|eval``

    python -m rag.router train --data ../shared/data/competition/train.csv \\
        --labels ../shared/data/competition/train_sources.csv [--data ../shared/data/exams/kice/2015_11_KICE.json ...] \\
        --out runs/router
    python -m rag.router eval --model runs/router --data ../shared/data/competition/test.csv \\
        --labels ../shared/data/competition/test_sources.csv        # last line: RESULT accuracy=…

Questions need a domain (korean/social): from ``--labels`` files (matched by id) or from the loader (KICE,
CLIcK, KMMLU set it). Unlabelled questions are counted and left out.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from common.cli import fail
from common.config import RouterConfig

from ..data import DataError, attach_labels, load_questions
from .base import KOREAN, SOCIAL, make_router
from .classifier import ClassifierRouter, train_classifier


def _load(paths: list[str], labels: list[str], fmt: str):
    qs = []
    for p in paths:
        try:
            part = load_questions(p, format=fmt)
        except DataError as e:
            fail(str(e), 1)
        for lab in labels:
            attach_labels(part, lab)
        qs.extend(part)
    unlabelled = [q for q in qs if q.domain not in (KOREAN, SOCIAL)]
    if unlabelled:
        print(f"note: {len(unlabelled)} questions have no domain label and are left out "
              f"(e.g. {', '.join(q.id for q in unlabelled[:3])})", file=sys.stderr)
    return [q for q in qs if q.domain in (KOREAN, SOCIAL)]


def cmd_train(args) -> int:
    qs = _load(args.data, args.labels, args.format)
    if len({q.domain for q in qs}) < 2:
        fail("training needs both korean and social questions", 1)
    t = time.time()
    model = train_classifier(qs, C=args.C)
    model.meta["data"] = args.data
    model.save(args.out)
    router = ClassifierRouter(RouterConfig(name="classifier", model=str(args.out)))
    acc = sum(r.label == q.domain for r, q in zip(router.route(qs), qs)) / len(qs)
    print(f"trained on {len(qs)} questions {dict(Counter(q.domain for q in qs))} in {time.time() - t:.1f}s; "
          f"training accuracy {acc:.4f}; saved to {args.out} (router.json + router.npz, no pickle)")
    return 0


def cmd_eval(args) -> int:
    qs = _load(args.data, args.labels, args.format)
    cfg = RouterConfig(name=args.name, model=str(args.model) if args.model else None, threshold=args.threshold)
    try:
        router = make_router(cfg)
    except (ValueError, FileNotFoundError) as e:
        fail(str(e), 1)
    t = time.time()
    routes = router.route(qs)
    secs = time.time() - t
    ok = [r.label == q.domain for r, q in zip(routes, qs)]
    acc = sum(ok) / max(len(qs), 1)
    console = Console()
    cm = Table(title=f"router {args.name}: {len(qs)} questions, accuracy {acc:.4f} ({secs:.1f}s)", title_justify="left")
    cm.add_column("gold \\ routed")
    cm.add_column(KOREAN, justify="right")
    cm.add_column(SOCIAL, justify="right")
    conf = Counter((q.domain, r.label) for r, q in zip(routes, qs))
    for g in (KOREAN, SOCIAL):
        cm.add_row(g, str(conf[(g, KOREAN)]), str(conf[(g, SOCIAL)]))
    console.print(cm)
    by_src = Table(title="by source/subject", title_justify="left")
    for c in ("source", "subject", "n", "accuracy"):
        by_src.add_column(c)
    groups: dict[tuple, list[bool]] = {}
    for q, o in zip(qs, ok):
        groups.setdefault((q.source or "-", q.subject or "-"), []).append(o)
    for (src, sub), v in sorted(groups.items()):
        by_src.add_row(src, sub, str(len(v)), f"{sum(v) / len(v):.4f}")
    console.print(by_src)
    wrong = [(q.id, q.domain, r.label, round(r.p_social, 3)) for q, r, o in zip(qs, routes, ok) if not o]
    print(f"misrouted ({len(wrong)}): " + ", ".join(f"{i} ({g}→{lab}, p_social={p})" for i, g, lab, p in wrong[:40])
          + (" …" if len(wrong) > 40 else ""))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "router_eval.json").write_text(json.dumps(
            {"accuracy": acc, "n": len(qs), "confusion": {f"{g}->{p}": n for (g, p), n in conf.items()},
             "misrouted": wrong}, ensure_ascii=False, indent=1))
    print(f"RESULT accuracy={acc:.4f} n={len(qs)} misrouted={len(wrong)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rag.router", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("train", "eval"):
        p = sub.add_parser(name)
        p.add_argument("--data", action="append", required=True, help="question file/folder (repeatable)")
        p.add_argument("--labels", action="append", default=[], help="id,source,subject,domain CSV (repeatable)")
        p.add_argument("--format", default="auto")
        if name == "train":
            p.add_argument("--out", type=Path, required=True)
            p.add_argument("--C", type=float, default=4.0, help="inverse regularisation strength")
        else:
            p.add_argument("--model", type=Path, default=None, help="trained classifier dir")
            p.add_argument("--name", default="classifier", help="router name (classifier, keywords, always-*)")
            p.add_argument("--threshold", type=float, default=0.5)
            p.add_argument("--out", type=Path, default=None, help="write router_eval.json here")
    args = ap.parse_args(argv)
    return cmd_train(args) if args.cmd == "train" else cmd_eval(args)


if __name__ == "__main__":
    raise SystemExit(main())
