"""Scoring benchmark on the demo model and 30 competition-train questions (15 국어, 15 사회).

(a) Pipeline overhead: the raw model forward passes alone on the pre-built, pre-tokenized prompts (same
    length-sorted batches) versus the full pipeline (route, retrieve, prompt, tokenize, score) →
    overhead_ratio = pipeline seconds / raw forward seconds.
(b) logits scoring versus generate-and-parse on the same prompts → speed ratio and answer agreement.

    python benchmarks/scoring_bench.py [--config configs/demo.yaml] [--n 30] [-o prompt.max_tokens=1024]

Every timed part must do its work: the prompts the model computed in it are counted (label log-probabilities,
generations, raw forwards), and a part that computed fewer than one per question (answered from a cache) stops
the benchmark with an error. ``--n 4`` with ``-o llm.model=DIR`` (a tiny model) is the smoke run of the tests.

Last line: RESULT overhead_ratio=… logits_vs_generate_speedup=… agreement=… pipeline_qps=…
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table

from common.config import load_config


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/demo.yaml")
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("-o", "--override", action="append", default=[])
    args = ap.parse_args()
    cfg = load_config(args.config, args.override)

    import numpy as np

    from rag.assembly import Assembly
    from rag.data import load_questions
    from rag.demo import ensure_kb
    from rag.llm import load_llm
    from rag.scoring import make_scorer
    from rag.scoring.generate import GenerateScorer

    ensure_kb(cfg)
    root = cfg.data.root
    qs = load_questions(root / "competition/train.csv", labels=root / "competition/train_sources.csv")
    rng = random.Random(args.seed)
    qs = rng.sample([q for q in qs if q.domain == "korean"], args.n // 2) + \
        rng.sample([q for q in qs if q.domain == "social"], args.n - args.n // 2)
    llm = load_llm(cfg.llm)
    computed = count_prompts(llm, ("label_logprobs", "generate", "forward"))
    pipe = Assembly(llm).pipeline(cfg)
    scorer = pipe.scorer
    pipe.run(qs[:2])  # warm-up (kernels, tokenizer, retriever caches of other questions are not touched)

    # (a) full pipeline, then raw forwards on the prompts it built; no cache answers for the timed run
    pipe.retrieval_cache.clear()
    if getattr(scorer, "cache", None) is not None:
        scorer.cache.clear()
    before = computed.copy()
    t = time.perf_counter()
    records = pipe.run(qs)
    t_pipe = time.perf_counter() - t
    did_work("the full pipeline", computed - before, "label_logprobs", len(qs))
    routes = pipe.route(qs)
    built = pipe.prompts(qs, [pipe.gate(d) for d in pipe.retrieve(qs, routes)[0]])
    prompts = [b[0][1].text for b in built]
    enc = llm.encode(prompts)
    order = sorted(range(len(enc)), key=lambda i: -len(enc[i]))
    before = computed.copy()
    t = time.perf_counter()
    for b in range(0, len(order), scorer.batch_size):
        llm.forward([enc[i] for i in order[b:b + scorer.batch_size]])
    t_raw = time.perf_counter() - t
    did_work("the raw forward passes", computed - before, "forward", len(qs))

    # (b) logits vs generate on the same prompts; a fresh scorer, without the assembly's score cache that (a) filled
    # (timed from the cache, logits would take no time at all)
    n_choices = [q.n_choices for q in qs]
    fresh = make_scorer(llm, cfg.scoring)
    before = computed.copy()
    t = time.perf_counter()
    p_log = fresh.score(prompts, n_choices)
    t_log = time.perf_counter() - t
    did_work("logits scoring", computed - before, "label_logprobs", len(qs))
    gen = GenerateScorer(llm, cfg.scoring.model_copy(update={"method": "generate"}))
    before = computed.copy()
    t = time.perf_counter()
    p_gen = gen.score(prompts, n_choices)
    t_gen = time.perf_counter() - t
    did_work("generate-and-parse", computed - before, "generate", len(qs))
    agree = float(np.mean([np.argmax(a) == np.argmax(b) for a, b in zip(p_log, p_gen)]))
    tokens = sum(len(e) for e in enc)

    console = Console()
    t1 = Table(title=f"(a) {len(qs)} questions, {tokens:,} prompt tokens, model {llm.model_id}", title_justify="left")
    for c in ("what", "seconds", "questions/s"):
        t1.add_column(c, justify="left" if c == "what" else "right")
    t1.add_row("raw forward passes (pre-built prompts)", f"{t_raw:.2f}", f"{len(qs) / t_raw:.2f}")
    t1.add_row("full pipeline (route, retrieve, prompt, tokenize, score)", f"{t_pipe:.2f}", f"{len(qs) / t_pipe:.2f}")
    console.print(t1)
    tm = pipe.timing
    console.print(f"pipeline stage seconds (cumulative incl. warm-up): route {tm.route:.2f}, retrieve {tm.retrieve:.2f}, "
                  f"prompt {tm.prompt:.2f}, score {tm.score:.2f}")
    t2 = Table(title="(b) scoring method", title_justify="left")
    for c in ("method", "seconds", "questions/s"):
        t2.add_column(c, justify="left" if c == "method" else "right")
    t2.add_row("logits (1 forward)", f"{t_log:.2f}", f"{len(qs) / t_log:.2f}")
    t2.add_row(f"generate ({cfg.scoring.max_new_tokens} new tokens) + parse", f"{t_gen:.2f}", f"{len(qs) / t_gen:.2f}")
    console.print(t2)
    console.print(f"generate − logits = the {cfg.scoring.max_new_tokens} decode steps: {t_gen - t_log:.2f} s "
                  f"({(t_gen - t_log) / t_gen:.0%} of generate; the prompt forward both share is the rest)")
    console.print(f"generate produced {np.mean(gen.last_new_tokens):.1f} new tokens per question (EOS included); "
                  f"fell back to logits on {len(gen.last_fallbacks)} of {len(qs)}; agreement {agree:.2f}; "
                  f"routed {sum(r.route == 'social' for r in records)} to 사회")
    print(f"RESULT overhead_ratio={t_pipe / t_raw:.3f} logits_vs_generate_speedup={t_gen / t_log:.2f} "
          f"agreement={agree:.2f} pipeline_qps={len(qs) / t_pipe:.3f}")
    return 0


def count_prompts(llm, methods: tuple[str, ...]) -> Counter:
    """Wrap ``llm``'s ``methods`` to count the prompts (or encoded sequences) each computes."""
    counts: Counter = Counter()
    for name in methods:
        fn = getattr(llm, name, None)
        if fn is None:
            continue

        def counted(batch, *args, _fn=fn, _name=name, **kwargs):
            counts[_name] += len(batch)
            return _fn(batch, *args, **kwargs)

        setattr(llm, name, counted)
    return counts


def did_work(part: str, delta: Counter, method: str, n: int) -> None:
    """Stop the benchmark when a timed part computed fewer prompts than questions (a cache answered it)."""
    if delta[method] < n:
        raise SystemExit(f"error: {part} computed {delta[method]} prompts with {method} for {n} questions: the timed "
                         f"part did not do its work (answered from a cache?), so its time means nothing")


if __name__ == "__main__":
    raise SystemExit(main())
