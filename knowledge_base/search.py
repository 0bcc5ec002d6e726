"""``python -m knowledge_base.search --kb DIR "질문" [-k 5] [--stage bm25|dense|all]``

Prints each stage's top-k chunks with titles and scores (BM25 score, dense inner product). Fused hybrid
results with every stage's rank and score: ``python -m retrievers.search``.
"""
from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from common.cli import command, fail, positive_int

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


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m knowledge_base.search", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kb", required=True, help="knowledge-base directory")
    ap.add_argument("query", nargs="+", help="one or more queries")
    ap.add_argument("-k", type=positive_int, default=5)
    ap.add_argument("--stage", choices=["bm25", "dense", "all"], default="all")
    ap.add_argument("--verify", choices=["quick", "full", "sizes"], default="quick",
                    help="quick: hash what a load parses and each chunk block as it is read (default); full: hash "
                         "every file first; sizes: hash nothing (sizes are still checked)")
    ap.add_argument("--no-verify", action="store_true", help="the same as --verify sizes")
    ap.add_argument("--trust-remote-code", action="store_true",
                    help="let the KB's query encoder run code from its model directory (only for a KB you trust)")
    args = ap.parse_args(argv)
    try:
        kb = KnowledgeBase.load(args.kb, verify="sizes" if args.no_verify else args.verify,
                                trust_remote_code=args.trust_remote_code)
    except KBError as e:
        fail(str(e))
    have = {"bm25": kb.has_bm25, "dense": kb.has_dense}
    stages = [s for s in ("bm25", "dense") if args.stage in (s, "all") and have[s]]
    if not stages:
        wanted = "BM25 or dense" if args.stage == "all" else args.stage
        fail(f"{args.kb} has no {wanted} index to search: build it with `python -m knowledge_base.build "
             f"--config <the KB's config> --out {args.kb} --stages {'bm25' if args.stage == 'all' else args.stage}`")
    console = Console()
    try:
        for q in args.query:
            for s in stages:
                hits = (kb.search_bm25 if s == "bm25" else kb.search_dense)([q], args.k)[0]
                console.print(hits_table(f"{s}: {q}", kb, hits))
    except KBError as e:
        fail(str(e))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
