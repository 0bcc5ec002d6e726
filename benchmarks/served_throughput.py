"""The served backend against the in-process one, on the same machine and model: the demo model (Qwen2.5-Coder-0.5B
GGUF Q4_K_M) served by llama-cpp-python's OpenAI-compatible server, and the same model in-process (``hf``,
dequantised to float32).

(a) Agreement: the label probabilities of N demo questions (``rag.demo``'s pick: half 국어, half 사회; prompts as
    the demo config renders them, without retrieved context) through the server and in-process: questions whose
    chosen answer agrees, and the largest difference of a label probability.
(b) Throughput: questions/s of label scoring through the server at each ``--concurrency`` and in-process (the
    config's batch size), each over the same prompts with a fresh client or model (nothing cached between parts).

    pip install -e ".[served]"      # llama-cpp-python[server] (a source build, ~25 min on 2 cores)
    python benchmarks/served_throughput.py [--n 20] [--concurrency 1,4,16] [--threads 2]

llama-cpp-python's server evaluates one request at a time, so concurrency there only queues requests (it hides the
HTTP round trip); a server with continuous batching (vLLM, SGLang) is where concurrency multiplies throughput.

Last line: RESULT agree=… of=… max_prob_diff=… inprocess_qps=… served_qps_c1=… served_qps_c4=… …
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Self

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table

from common.config import LLMConfig, load_config

ALIAS = "demo"


class LlamaServer:
    """``python -m llama_cpp.server`` on ``gguf`` at a free local port, as a context manager; ``url`` is its API
    root once it answers ``GET /v1/models``."""

    def __init__(self, gguf: Path, n_ctx: int = 4096, threads: int | None = None, log: Path | None = None,
                 start_timeout: float = 180.0):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", ALIAS,
               "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(n_ctx)]
        if threads:
            cmd += ["--n_threads", str(threads)]
        self.cmd, self.log, self.start_timeout = cmd, log, start_timeout

    def __enter__(self) -> Self:
        self.out = open(self.log, "w") if self.log else None
        self.proc = subprocess.Popen(self.cmd, stdout=self.out or subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.time() + self.start_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with code {self.proc.returncode} "
                                   f"(log: {self.log or 'not kept'})")
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.__exit__()
        raise RuntimeError(f"llama_cpp.server did not answer within {self.start_timeout:.0f} s")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if self.out is not None:
            self.out.close()


def demo_prompts(cfg, tokenizer, n: int, seed: int = 7):
    """The first ``n`` demo questions (``rag.demo.pick_questions``), their prompts, rendered by the config's prompt
    section without retrieved context, and their choice counts."""
    from rag.demo import pick_questions
    from rag.prompts import PromptBuilder

    qs = pick_questions(cfg, n, seed)
    builder = PromptBuilder(tokenizer, cfg.prompt)
    return qs, [builder.build(q).text for q in qs], [q.n_choices for q in qs]


def probabilities(llm, prompts, n_choices) -> list:
    """The label probabilities the logits scorer gives each prompt (a fresh scorer: nothing cached)."""
    from rag.scoring.logits import LogitsScorer

    return LogitsScorer(llm).score(prompts, n_choices)


def served_llm(url: str, tokenizer_ref: str, concurrency: int, **kw):
    """The served backend on ``url``; its timeout leaves room for a queue of ``concurrency`` requests on a server
    that answers one at a time (a prompt takes seconds here)."""
    from rag.llm import load_llm

    return load_llm(LLMConfig(backend="openai", base_url=url, model=ALIAS, tokenizer=tokenizer_ref,
                              max_concurrency=concurrency, timeout=60.0 * concurrency + 60.0, **kw))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/demo.yaml")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="llama.cpp threads (default: every core)")
    ap.add_argument("--log", type=Path, default=Path("runs/served_throughput/llama_server.log"))
    ap.add_argument("-o", "--override", action="append", default=[])
    args = ap.parse_args()
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        print("error: llama-cpp-python's server is not installed: pip install -e '.[served]'", file=sys.stderr)
        return 2
    import numpy as np

    from rag.llm import load_llm
    from rag.models import DEMO_LLM, fetch_gguf

    cfg = load_config(args.config, args.override)
    levels = [int(c) for c in args.concurrency.split(",")]
    console = Console()
    gguf = fetch_gguf(DEMO_LLM, quiet=True)
    args.log.parent.mkdir(parents=True, exist_ok=True)

    hf = load_llm(cfg.llm, resolve=cfg.resolve_ref)
    _, prompts, n_choices = demo_prompts(cfg, hf.tokenizer, args.n)
    t = time.perf_counter()
    local = probabilities(hf, prompts, n_choices)
    inproc_s = time.perf_counter() - t
    tok_ref = hf.config.model  # the in-process model's directory: the same tokenizer renders the served prompts
    del hf

    rows, served_qps, first = [], {}, None
    with LlamaServer(gguf, threads=args.threads, log=args.log) as server:
        probabilities(served_llm(server.url, tok_ref, 1), prompts[:1], n_choices[:1])  # warm-up: model pages in
        for c in levels:
            llm = served_llm(server.url, tok_ref, c)
            t = time.perf_counter()
            got = probabilities(llm, prompts, n_choices)
            secs = time.perf_counter() - t
            served_qps[c] = len(prompts) / secs
            rows.append((f"served, concurrency {c}", secs, served_qps[c], llm.client.attempts - 1, llm.client.retries))
            first = first or got
    agree = sum(int(np.argmax(a) == np.argmax(b)) for a, b in zip(first, local))
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(first, local))
    # where the answers differ: the in-process margin between its top two labels (a near-tie flips on small noise)
    margins = [float(np.diff(np.sort(b)[-2:])[0]) for a, b in zip(first, local) if np.argmax(a) != np.argmax(b)]

    table = Table(title=f"label scoring of {len(prompts)} demo questions, same machine, same model")
    for col in ("backend", "seconds", "questions/s", "requests", "retries"):
        table.add_column(col)
    table.add_row(f"in-process hf (batch {cfg.llm.batch_size})", f"{inproc_s:.1f}", f"{len(prompts) / inproc_s:.2f}",
                  "-", "-")
    for name, secs, qps, n, retries in rows:
        table.add_row(name, f"{secs:.1f}", f"{qps:.2f}", str(n), str(retries))
    console.print(table)
    console.print(f"agreement: {agree}/{len(prompts)} chosen answers; largest label-probability difference {diff:.4f};"
                  f" in-process top-two margins where they differ: {', '.join(f'{m:.4f}' for m in margins) or '-'}")
    print(f"RESULT agree={agree} of={len(prompts)} max_prob_diff={diff:.4f} inprocess_qps={len(prompts) / inproc_s:.3f} "
          + " ".join(f"served_qps_c{c}={q:.3f}" for c, q in served_qps.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
