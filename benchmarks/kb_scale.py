"""Knowledge bases at Wikipedia scale: build memory and time, store size, load time and memory, BM25 latency.

    python benchmarks/kb_scale.py [--sizes 100000,300000,1000000] [--work DIR] [--queries 500]

For each size a corpus of about that many chunks (600/100 characters, the default chunking) is written under
``--work`` (default ``~/.cache/csat-rag/kb-scale``; reused by later runs): the shared Korean Wikipedia articles in
order (34,298 articles give about 130 k chunks), then *recombined* documents for the sizes past that — document k
alternates the sentences of article a = k mod N with those of article (a + 1 + ⌊k / N⌋) mod N, sentence for
sentence as far as the shorter one goes (pairs of articles with fewer than two sentences each are skipped), so
every pair of articles is used once and every window of a document mixes two articles: new text that the exact
and near-duplicate filters keep (the table reports what they removed). Recombined documents add chunks, not
words: the vocabulary stops growing with the real articles (the `vocab` column), which a real corpus of that size
would not. The store is built by the project's own command
(``python -m knowledge_base.build --config configs/default.yaml --stages chunk,bm25``) in its own process, whose
peak RSS is read from ``wait4``; then a second process opens the store (``KnowledgeBase.load``, quick verification,
the BM25 index memory-mapped) and runs ``--queries`` KorQuAD-dev questions one at a time, top-10, reading the
records of the hits as a retriever does. Latency is over warm page cache (the store was just written).

``bytes_per_chunk``: the growth of build peak memory per chunk beyond the index itself, between the smallest and
the largest size: (Δ peak RSS − Δ BM25 index bytes) / Δ chunks.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WIKI = "kb/kowiki_social_2020.jsonl.gz"


def data_root() -> Path:
    from common.config import RunConfig

    return RunConfig().data.root


def write_corpus(target: int, out: Path) -> dict:
    """About ``target`` chunks of documents in ``out`` (a wiki-format JSONL): the real articles, then recombined
    ones (module docstring). Counted with the default chunker; cached beside a ``.json`` of its counts."""
    info_path = out.with_suffix(".json")
    if out.exists() and info_path.exists():
        return json.loads(info_path.read_text())
    from common.config import RunConfig
    from knowledge_base.chunking import chunk_document, split_sentences
    from knowledge_base.sources import read_source

    chunking = RunConfig().kb.chunking.model_copy(update={"size": 600, "overlap": 100})
    articles = list(read_source("wiki", data_root() / WIKI))
    n_art = len(articles)
    tmp = out.with_suffix(".tmp")
    chunks = real = mixed = 0
    with open(tmp, "w", encoding="utf-8") as f:
        def put(doc_id, title, text):
            nonlocal chunks
            from knowledge_base.documents import Document

            chunks += len(chunk_document(Document(doc_id, title, text, "wiki"), chunking))
            f.write(json.dumps({"id": doc_id, "title": title, "text": text}, ensure_ascii=False) + "\n")

        for doc in articles:
            if chunks >= target:
                break
            put(doc.doc_id, doc.title, doc.text)
            real += 1
        sentences: dict[int, list[str]] = {}
        for k in itertools.count():
            if chunks >= target:
                break
            a, shift = k % n_art, 1 + k // n_art
            if shift >= n_art:
                raise SystemExit(f"{target} chunks need more article pairs than {n_art} articles give")
            b = (a + shift) % n_art
            for i in (a, b):
                if i not in sentences:
                    sentences[i] = split_sentences(articles[i].text)
            # pairs of sentences, as many as the shorter article has: every window of the document mixes both
            # articles (an unpaired tail would repeat the longer one's text, which the near-duplicate filter removes)
            merged = [s for pair in zip(sentences[a], sentences[b]) for s in pair]
            if len(merged) < 4:
                continue
            put(f"mix-{k}", f"{articles[a].title} · {articles[b].title}", " ".join(merged))
            mixed += 1
            if len(sentences) > 20_000:
                sentences.clear()
    tmp.replace(out)
    info = {"target": target, "articles": real, "recombined": mixed, "chunks_counted": chunks}
    info_path.write_text(json.dumps(info))
    return info


def run_measured(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS GB of that process alone, stderr tail)."""
    t0 = time.time()
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{err[-3000:]}")
    return time.time() - t0, usage.ru_maxrss / 1e6, err[-2000:]


def rss_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1e6
    return float("nan")


def probe(kb_dir: Path, queries: list[str]) -> dict:
    """Open the store and search it (run in its own process by ``main``)."""
    import numpy as np

    from knowledge_base.store import KnowledgeBase

    base = rss_gb()
    t0 = time.perf_counter()
    kb = KnowledgeBase.load(kb_dir)
    kb.bm25  # noqa: B018  (the index memory-mapped, its vocabulary parsed)
    load_s = time.perf_counter() - t0
    load_rss = rss_gb()
    t0 = time.perf_counter()
    kb.tokenizer  # noqa: B018  (Kiwi's model: the same at every size)
    kiwi_s = time.perf_counter() - t0
    kiwi_rss = rss_gb() - load_rss
    import warnings

    warnings.simplefilter("ignore")
    for q in queries[:20]:  # warm-up: Kiwi's first analyses, numpy's first calls
        kb.search_bm25([q], 10)
    lat = []
    t_all = time.perf_counter()
    for q in queries:
        t = time.perf_counter()
        hits = kb.search_bm25([q], 10)[0]
        [kb.chunks[h.index].text for h in hits]
        lat.append((time.perf_counter() - t) * 1000)
    total = time.perf_counter() - t_all
    return {"python_rss_gb": round(base, 3), "load_s": round(load_s, 3), "load_rss_gb": round(load_rss, 3),
            "kiwi_s": round(kiwi_s, 2), "kiwi_rss_gb": round(kiwi_rss, 3),
            "query_p50_ms": round(float(np.percentile(lat, 50)), 1),
            "query_p95_ms": round(float(np.percentile(lat, 95)), 1), "qps": round(len(lat) / total, 1),
            "rss_after_queries_gb": round(rss_gb(), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,300000,1000000")
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache" / "csat-rag" / "kb-scale")
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--keep", action="store_true", help="keep the built stores (several GB at 1 M chunks)")
    args = ap.parse_args()
    import random

    from common.config import RunConfig
    from eval.retrieval import korquad_questions

    qs = [q for _, q, _ in korquad_questions(RunConfig())]
    queries = random.Random(7).sample(qs, min(args.queries, len(qs)))
    if args.probe:
        print(json.dumps(probe(args.probe, queries)))
        return 0
    from rich.console import Console
    from rich.table import Table

    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        corpus = args.work / f"corpus-{size}.jsonl"
        t = time.time()
        info = write_corpus(size, corpus)
        print(f"corpus {size:,}: {info} ({time.time() - t:.0f}s)", file=sys.stderr)
        kb = args.work / f"kb-{size}"
        import shutil

        shutil.rmtree(kb, ignore_errors=True)
        wall, peak, _ = run_measured([sys.executable, "-m", "knowledge_base.build", "--config", "configs/default.yaml",
                                      "--out", str(kb), "--stages", "chunk,bm25", "--no-progress", "-o",
                                      f"kb.sources=[{{name: wiki, path: '{corpus}'}}]"])
        man = json.loads((kb / "manifest.json").read_text())
        files = man["files"]
        index_bytes = sum(v["size"] for k, v in files.items() if k.startswith("bm25/"))
        store_bytes = sum(v["size"] for v in files.values())
        out = subprocess.run([sys.executable, __file__, "--probe", str(kb), "--queries", str(args.queries)],
                             check=False, cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        if out.returncode:
            raise SystemExit(f"probe of {kb} failed:\n{out.stderr[-3000:]}")
        p = json.loads(out.stdout.strip().splitlines()[-1])
        c = man["counts"]
        rows.append({"size": size, "chunks": c["chunks"], "removed": c["removed_exact"] + c["removed_near"],
                     "build_s": round(wall, 1), "chunk_s": man["seconds"]["chunk"], "bm25_s": man["seconds"]["bm25"],
                     "build_peak_gb": round(peak, 3), "index_bytes": index_bytes, "store_bytes": store_bytes,
                     "vocab": man["bm25"]["vocab_size"], **p})
        print(json.dumps(rows[-1]), file=sys.stderr)
        if not args.keep:
            shutil.rmtree(kb, ignore_errors=True)
    t = Table(title="knowledge base at scale (chunk + bm25 stages, 2 cores)", title_justify="left")
    cols = [("chunks", "{:,}"), ("removed", "{:,}"), ("build_s", "{:.0f}"), ("build_peak_gb", "{:.2f}"),
            ("index_bytes", lambda v: f"{v / 1e9:.2f} GB"), ("store_bytes", lambda v: f"{v / 1e9:.2f} GB"),
            ("vocab", "{:,}"), ("load_s", "{:.2f}"), ("load_rss_gb", "{:.2f}"), ("kiwi_s", "{:.1f}"),
            ("query_p50_ms", "{:.1f}"), ("query_p95_ms", "{:.1f}"), ("qps", "{:.0f}"),
            ("rss_after_queries_gb", "{:.2f}")]
    for name, _ in cols:
        t.add_column(name, justify="right")
    for r in rows:
        t.add_row(*[(f(r[n]) if callable(f) else f.format(r[n])) for n, f in cols])
    Console(width=220).print(t)
    lo, hi = rows[0], rows[-1]
    growth = ((hi["build_peak_gb"] - lo["build_peak_gb"]) * 1e9 - (hi["index_bytes"] - lo["index_bytes"])) / max(
        1, hi["chunks"] - lo["chunks"])
    size = hi["size"]
    tag = (f"{size // 1_000_000}m" if size >= 1_000_000 and not size % 1_000_000 else
           f"{size // 1000}k" if size >= 1000 and not size % 1000 else str(size))
    print(f"RESULT build_peak_gb_{tag}={hi['build_peak_gb']:.2f} bytes_per_chunk={growth:.0f} "
          f"load_s_{tag}={hi['load_s']:.2f} load_rss_gb_{tag}={hi['load_rss_gb']:.2f} "
          f"query_p95_ms_{tag}={hi['query_p95_ms']:.1f} build_s_{tag}={hi['build_s']:.0f} chunks_{tag}={hi['chunks']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
