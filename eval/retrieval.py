"""``python -m eval.retrieval --kb DIR --qrels korquad [--distractors N] [--sample N] [--stages ...]``

Retrieval quality on KorQuAD 1.0 dev: each question's gold document is its paragraph. The knowledge base
holds the 964 KorQuAD-dev paragraphs plus N Korean Wikipedia distractor articles; it is built into DIR
when DIR has no manifest (the dense stage resumes if interrupted). Systems: bm25-kiwi, bm25-whitespace,
dense, hybrid-rrf, hybrid-convex. Writes ``retrieval_metrics.json`` and ``retrieval_metrics.md``; the
last line is ``RESULT recall5_bm25=… recall5_dense=… recall5_hybrid=… mrr10_hybrid=…``.
"""
from __future__ import annotations

import argparse
import json
import random
import time
import warnings
from pathlib import Path

from rich.console import Console
from rich.table import Table

from common.cli import add_config_args, command, config_from_args, fail, positive_int
from common.config import RunConfig, SourceConfig
from knowledge_base.build import bm25_index, ensure_built
from knowledge_base.manifest import KBError
from knowledge_base.store import Hit, KnowledgeBase
from retrievers.hybrid import HybridRetriever

from .retrieval_metrics import dedup_docs, summarize

KORQUAD = "data:retrieval/korquad_v1_dev.json"
WIKI = "data:kb/kowiki_social_2020.jsonl.gz"


def korquad_questions(cfg: RunConfig) -> list[tuple[str, str, str]]:
    """(question id, question, gold doc id) for every KorQuAD-dev question; doc ids match the korquad source."""
    data = json.loads(cfg.resolve_path(KORQUAD).read_text(encoding="utf-8"))
    out = []
    for a, article in enumerate(data["data"]):
        for p, par in enumerate(article["paragraphs"]):
            for qa in par["qas"]:
                out.append((qa["id"], qa["question"], f"{a}-{p}"))
    return out


def korquad_sources(cfg: RunConfig, distractors: int) -> list[SourceConfig]:
    """The KorQuAD-dev paragraphs plus ``distractors`` wiki articles. Wiki articles titled like a KorQuAD-dev
    article are left out: they hold the gold paragraphs (37 of the first 20,000), so they are not distractors."""
    sources = [SourceConfig(name="korquad", path=KORQUAD)]
    if distractors:
        data = json.loads(cfg.resolve_path(KORQUAD).read_text(encoding="utf-8"))
        titles = sorted({a.get("title", "").replace("_", " ") for a in data["data"]})
        sources.append(SourceConfig(name="wiki", path=WIKI, limit=distractors, options={"exclude_titles": titles}))
    return sources


def ensure_korquad_kb(cfg: RunConfig, kb_dir: Path, distractors: int, stages: list[str], progress: bool = True
                      ) -> KnowledgeBase:
    """Open ``kb_dir``, building or finishing the KorQuAD + distractor store first when needed. A store built
    with other sources or chunking is rebuilt in place; the build re-uses the embeddings of chunks whose text
    did not change."""
    cfg = cfg.model_copy(deep=True)
    cfg.kb.sources = korquad_sources(cfg, distractors)
    ensure_built(cfg, kb_dir, stages, progress=progress)
    return KnowledgeBase.load(kb_dir, verify=False)


def ranked_docs(kb: KnowledgeBase, hits: list[Hit]) -> list[str]:
    return dedup_docs(f"{kb.chunks[h.index].source}:{kb.chunks[h.index].doc_id}" for h in hits)


def whitespace_hits(kb: KnowledgeBase, queries: list[str], n: int) -> list[list[Hit]]:
    """The whitespace-BM25 baseline: an in-memory index of the same chunks with the whitespace tokenizer."""
    index, tok, _, _ = bm25_index([c.text for c in kb.chunks],
                                  kb.bm25_config.model_copy(update={"tokenizer": "whitespace"}), progress=False)
    with warnings.catch_warnings():  # queries without whitespace-index terms are expected here
        warnings.simplefilter("ignore")
        return kb.search_bm25(queries, n, index=(index, tok))


def evaluate(kb: KnowledgeBase, questions: list[tuple[str, str, str]], cfg: RunConfig, n_candidates: int = 100,
             systems: list[str] | None = None) -> dict[str, dict]:
    queries = [q for _, q, _ in questions]
    gold = [f"korquad:{g}" for _, _, g in questions]
    systems = systems or ["bm25-kiwi", "bm25-whitespace", "dense", "hybrid-rrf", "hybrid-convex"]
    stage: dict[str, list[list[Hit]]] = {}
    timing: dict[str, float] = {}
    t = time.time()
    stage["bm25"] = kb.search_bm25(queries, n_candidates)
    timing["bm25-kiwi"] = time.time() - t
    if "bm25-whitespace" in systems:
        t = time.time()
        stage["ws"] = whitespace_hits(kb, queries, n_candidates)
        timing["bm25-whitespace"] = time.time() - t
    if kb.has_dense and any(s.startswith(("dense", "hybrid")) for s in systems):
        t = time.time()
        stage["dense"] = kb.search_dense(queries, n_candidates)
        timing["dense"] = time.time() - t
    r = cfg.retrieval
    ranked: dict[str, list[list[str]]] = {
        "bm25-kiwi": [ranked_docs(kb, h) for h in stage["bm25"]]}
    if "ws" in stage:
        ranked["bm25-whitespace"] = [ranked_docs(kb, h) for h in stage["ws"]]
    if "dense" in stage:
        ranked["dense"] = [ranked_docs(kb, h) for h in stage["dense"]]
        pairs = [{"bm25": b, "dense": d} for b, d in zip(stage["bm25"], stage["dense"])]
        for fusion in ("rrf", "convex"):  # the pipeline's own fusion (retrievers.HybridRetriever), on shared stages
            hybrid = HybridRetriever(kb, fusion=fusion, rrf_k=r.rrf_k, alpha=r.alpha, norm=r.norm,
                                     candidates=n_candidates)
            ranked[f"hybrid-{fusion}"] = [ranked_docs(kb, [Hit(i, s) for i, s in hybrid.fuse(p)]) for p in pairs]
    out = {}
    for name in systems:
        if name in ranked:
            out[name] = summarize(ranked[name], gold) | {"seconds": round(timing.get(name, 0.0), 2)}
    return out


def markdown(metrics: dict[str, dict], title: str) -> str:
    lines = [f"### {title}", "", "| system | Recall@1 | Recall@5 | Recall@20 | MRR@10 | n |", "|---|---|---|---|---|---|"]
    for name, m in metrics.items():
        lines.append(f"| {name} | {m['recall@1']:.4f} | {m['recall@5']:.4f} | {m['recall@20']:.4f} | "
                     f"{m['mrr@10']:.4f} | {m['n']} |")
    return "\n".join(lines) + "\n"


def print_table(metrics: dict[str, dict], title: str) -> None:
    t = Table(title=title, title_justify="left")
    for col in ("system", "Recall@1", "Recall@5", "Recall@20", "MRR@10", "n"):
        t.add_column(col, justify="left" if col == "system" else "right")
    for name, m in metrics.items():
        t.add_row(name, *(f"{m[k]:.4f}" for k in ("recall@1", "recall@5", "recall@20", "mrr@10")), str(m["n"]))
    Console().print(t)


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.retrieval", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(ap)
    ap.add_argument("--kb", required=True, type=Path, help="knowledge base (built here if missing)")
    ap.add_argument("--qrels", default="korquad", choices=["korquad"])
    ap.add_argument("--distractors", type=positive_int, default=1000, help="wiki articles added when building")
    ap.add_argument("--sample", type=positive_int, default=None, help="evaluate a seeded sample of N questions")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--no-dense", action="store_true", help="build/evaluate the sparse systems only")
    ap.add_argument("--out", type=Path, default=None, help="where to write metrics (default: the KB dir)")
    args = ap.parse_args(argv)
    cfg = config_from_args(args)
    stages = ["chunk", "bm25"] + ([] if args.no_dense else ["dense"])
    try:
        kb = ensure_korquad_kb(cfg, args.kb, args.distractors, stages)
    except KBError as e:
        fail(str(e))
    qs = korquad_questions(cfg)
    if args.sample:
        qs = random.Random(args.seed).sample(qs, min(args.sample, len(qs)))
    metrics = evaluate(kb, qs, cfg)
    out = args.out or args.kb
    out.mkdir(parents=True, exist_ok=True)
    title = f"KorQuAD-dev retrieval ({len(qs)} questions, {len(kb):,} chunks)"
    (out / "retrieval_metrics.json").write_text(json.dumps(
        {"kb": str(args.kb), "questions": len(qs), "chunks": len(kb), "systems": metrics}, indent=1))
    (out / "retrieval_metrics.md").write_text(markdown(metrics, title), encoding="utf-8")
    print_table(metrics, title)
    best_h = max((m for n, m in metrics.items() if n.startswith("hybrid")), key=lambda m: m["recall@5"],
                 default=None)
    fields = [f"recall5_bm25={metrics['bm25-kiwi']['recall@5']:.4f}"]
    if "dense" in metrics:
        fields.append(f"recall5_dense={metrics['dense']['recall@5']:.4f}")
    if best_h is not None:
        fields += [f"recall5_hybrid={best_h['recall@5']:.4f}", f"mrr10_hybrid={best_h['mrr@10']:.4f}"]
    print("RESULT " + " ".join(fields))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
