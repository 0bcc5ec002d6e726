"""``python -m knowledge_base.search --kb DIR "질문" [-k 5] [--stage bm25|dense|all]``

Prints each stage's top-k chunks with titles and scores (BM25 score, dense inner product). Fused hybrid
results with every stage's rank and score: ``python -m retrievers.search``.
"""
from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from common.cli import fail

from .manifest import KBError
from .store import KnowledgeBase


def hits_table(title: str, kb: KnowledgeBase, hits, width: int = 70) -> Table:
    t = Table(title=title, title_justify="left")
    for col in ("#", "score", "title", "chunk id", "text"):
        t.add_column(col, justify="right" if col in ("#", "score") else "left")
    for r, h in enumerate(hits, 1):
        c = kb.chunks[h.index]
        body = c.text.replace("\n", " ")
        t.add_row(str(r), f"{h.score:.3f}", c.title, c.chunk_id, body[:width] + ("…" if len(body) > width else ""))
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m knowledge_base.search", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kb", required=True, help="knowledge-base directory")
    ap.add_argument("query", nargs="+", help="one or more queries")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--stage", choices=["bm25", "dense", "all"], default="all")
    ap.add_argument("--no-verify", action="store_true", help="skip sha256 checks (sizes are still checked)")
    args = ap.parse_args(argv)
    try:
        kb = KnowledgeBase.load(args.kb, verify=not args.no_verify)
    except KBError as e:
        fail(str(e), 1)
    console = Console()
    stages = [s for s in ("bm25", "dense") if args.stage in (s, "all")]
    for q in args.query:
        for s in stages:
            if s == "bm25" and not kb.has_bm25 or s == "dense" and not kb.has_dense:
                if args.stage != "all":
                    fail(f"{args.kb} has no {s} index", 1)
                continue
            hits = (kb.search_bm25 if s == "bm25" else kb.search_dense)([q], args.k)[0]
            console.print(hits_table(f"{s}: {q}", kb, hits))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
