"""``python -m retrievers.search --kb DIR "질문" [-k 5] [--config C] [-o retrieval.method=hybrid ...]``

Prints the configured retriever's top-k with fused score and every stage's rank and score."""
from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from common.cli import add_config_args, command, config_from_args, fail, positive_int
from knowledge_base.manifest import KBError

from .factory import get_retriever


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m retrievers.search", description=__doc__)
    add_config_args(ap)
    ap.add_argument("--kb", help="knowledge-base directory (else retrieval.kb)")
    ap.add_argument("query", nargs="+")
    ap.add_argument("-k", type=positive_int, default=None, help="results (default retrieval.top_k)")
    args = ap.parse_args(argv)
    if args.kb and any(o.split("=", 1)[0].strip() == "retrieval.kb" for o in args.override):
        fail("--kb and -o retrieval.kb both name the knowledge base: give one", 2)
    cfg = config_from_args(args, [f"retrieval.kb={args.kb}"] if args.kb else [])
    try:
        retriever = get_retriever(cfg.retrieval, cfg.resolve_path(cfg.retrieval.kb) if cfg.retrieval.kb else None)
    except (KBError, ValueError) as e:
        fail(str(e))
    k = args.k or cfg.retrieval.top_k
    console = Console()
    try:
        results = retriever.batch_retrieve(args.query, k)
    except KBError as e:
        fail(str(e))
    for q, docs in zip(args.query, results):
        t = Table(title=f"{retriever.name}: {q}", title_justify="left")
        for col in ("#", "score", "stages (rank/score)", "title", "text"):
            t.add_column(col)
        for r, d in enumerate(docs, 1):
            st = ", ".join(f"{s} #{v.rank}/{v.score:.3f}" for s, v in d.stages.items())
            body = d.text.replace("\n", " ")
            t.add_row(str(r), f"{d.score:.4f}", st, d.title, body[:60] + ("…" if len(body) > 60 else ""))
        console.print(t)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
