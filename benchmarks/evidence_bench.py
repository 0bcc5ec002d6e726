"""Evidence benchmark: how well the retrieval-only answerer (``rag.evidence``, no LLM) answers 사회 questions
from the full knowledge base — i.e. whether the KB holds evidence that separates the right choice.

Knowledge base: ``configs/kb_wiki.yaml`` (34,298 Korean Wikipedia articles + KoBEST BoolQ + statutes),
built with the project's CLI (``python -m knowledge_base.build --config configs/kb_wiki.yaml --out DIR
--stages chunk,bm25``) when DIR has none, else reused (BM25 only: the dense stage over ~150k chunks takes
hours on 2 CPU cores).

Suites (each a seeded sample, ``--seed``): ``comp-social`` (competition train rows labelled 사회: KMMLU 한국사 +
MMMLU), ``kmmlu-social`` (KMMLU test, social subjects), ``click-social`` (CLIcK Culture). Settings — chunks
per choice (top_k), idf weighting of a choice's own terms, passage head in the query, the signal that ranks
the choices (support share, retrieval score standardised per question, or both) — are chosen on a
*tuning* sample of 200 questions per suite, drawn from the same suites with ids disjoint from the 400
reported per suite (one shuffled order: tuning = positions 400–599, reported = 0–399); ties go to the first
variant listed. The table also gives two ceilings on the reported questions: how often the gold choice has
any support at all, and how often it has the largest support (ties counted as hits) — the most a
support-ranking answerer could reach.

``--compare-kb DIR ...`` answers the same reported questions, with the chosen settings, from other knowledge
bases (e.g. without statutes, or with the KMMLU exam bank of ``configs/kb_wiki_bank.yaml``): each source's
contribution. A suite whose questions are in a KB's exam bank is refused there (``refuse_leakage``).

    python benchmarks/evidence_bench.py [--kb runs/kb_wiki] [--n 400] [--tune 200] [--seed 13] [--compare-kb DIR ...]

Last line: RESULT comp_social=… kmmlu_social=… click_social=… (retrieval-only accuracy on the reported sets)
"""
from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np
from rich.console import Console
from rich.table import Table

from common.config import load_config


def suites(cfg) -> dict:
    from rag.data import load_questions
    from rag.data.suites import load_suite

    root = cfg.data.root
    comp = [q for q in load_questions(root / "competition/train.csv", labels=root / "competition/train_sources.csv")
            if q.domain == "social"]
    return {"comp-social": comp, "kmmlu-social": load_suite("kmmlu-social", cfg),
            "click-social": load_suite("click-social", cfg)}


def evaluate(retriever, questions, top_k: int, idf: bool, passage_chars: int, signal: str):
    from rag.evidence import EvidenceAnswerer

    ans = EvidenceAnswerer(retriever, top_k=top_k, idf=idf, passage_chars=passage_chars, signal=signal)
    results = []
    for b in range(0, len(questions), 100):
        part = questions[b:b + 100]
        results += ans.score(part, ans.retrieve(part))
    acc = float(np.mean([int(np.argmax(r.probs)) + 1 == q.answer for q, r in zip(questions, results)]))
    has = float(np.mean([r.support[q.answer - 1] > 0 for q, r in zip(questions, results)]))
    top = float(np.mean([r.support[q.answer - 1] >= max(r.support) - 1e-12 and r.support[q.answer - 1] > 0
                         for q, r in zip(questions, results)]))
    return acc, has, top


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kb", type=Path, default=Path("runs/kb_wiki"))
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--tune", type=int, default=200)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--compare-kb", type=Path, nargs="*", default=[], help="other built KBs to answer from")
    args = ap.parse_args()
    console = Console()
    t0 = time.time()
    cfg = load_config(ROOT / "configs/kb_wiki.yaml")
    if not (args.kb / "manifest.json").exists():
        console.print(f"building {args.kb} with the project's CLI (chunk, bm25) …")
        subprocess.run([sys.executable, "-m", "knowledge_base.build", "--config", str(ROOT / "configs/kb_wiki.yaml"),
                        "--out", str(args.kb), "--stages", "chunk,bm25"], check=True)
    from common.config import RetrievalConfig
    from knowledge_base.store import KnowledgeBase
    from retrievers import get_retriever

    kb = KnowledgeBase.load(args.kb, verify=False)
    retriever = get_retriever(RetrievalConfig(method="bm25", top_k=10), kb)
    report, tune = {}, {}
    for name, qs in suites(cfg).items():
        qs = [q for q in qs if q.answer is not None]
        random.Random(args.seed).shuffle(qs)
        report[name], tune[name] = qs[:args.n], qs[args.n: args.n + args.tune]
        assert not {q.id for q in report[name]} & {q.id for q in tune[name]}
    grid = [(k, idf, pc, sig) for sig in ("coverage", "retrieval", "both") for k in (5, 3, 10) for idf in (True, False)
            for pc in (300, 0) if not (sig == "retrieval" and not idf)]  # idf does not touch the retrieval score
    t = Table(title=f"tuning ({args.tune} questions per suite, disjoint from the reported ones)", title_justify="left")
    for c in ("top_k", "idf", "passage chars", "signal", *tune, "mean"):
        t.add_column(c)
    best, best_mean = grid[0], -1.0
    for g in grid:
        accs = [evaluate(retriever, tune[s], *g)[0] for s in tune]
        mean = float(np.mean(accs))
        t.add_row(str(g[0]), str(g[1]), str(g[2]), g[3], *(f"{a:.3f}" for a in accs), f"{mean:.3f}")
        if mean > best_mean:
            best, best_mean = g, mean
    console.print(t)
    r = Table(title=f"reported ({args.n} per suite; top_k={best[0]}, idf={best[1]}, passage chars={best[2]}, "
                    f"signal={best[3]})",
              title_justify="left")
    for c in ("suite", "n", "accuracy", "chance", "gold has support", "gold has the most support (ceiling)"):
        r.add_column(c)
    res = {}
    for name, qs in report.items():
        acc, has, top = evaluate(retriever, qs, *best)
        chance = float(np.mean([1 / q.n_choices for q in qs]))
        res[name] = acc
        r.add_row(name, str(len(qs)), f"{acc:.3f}", f"{chance:.3f}", f"{has:.3f}", f"{top:.3f}")
    console.print(r)
    if args.compare_kb:
        from rag.evidence import LeakageError, refuse_leakage

        c = Table(title="the same questions answered from other knowledge bases (source contributions)",
                  title_justify="left")
        for col in ("knowledge base", "chunks", *report):
            c.add_column(col)
        c.add_row(str(args.kb), f"{len(kb):,}", *(f"{res[s]:.3f}" for s in report))
        for other in args.compare_kb:
            okb = KnowledgeBase.load(other, verify=False)
            oret = get_retriever(RetrievalConfig(method="bm25", top_k=10), okb)
            cells = []
            for name, qs in report.items():
                try:
                    refuse_leakage(okb, qs)
                    cells.append(f"{evaluate(oret, qs, *best)[0]:.3f}")
                except LeakageError as e:
                    cells.append(f"refused ({e.args[0].split(' of the')[0]} in the bank)")
            c.add_row(str(other), f"{len(okb):,}", *cells)
        console.print(c)
    console.print(f"{time.time() - t0:.0f}s (KB {len(kb):,} chunks)")
    print("RESULT " + " ".join(f"{k.replace('-', '_')}={v:.4f}" for k, v in res.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
