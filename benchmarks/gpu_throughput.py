"""GPU scoring throughput of a named model shape with random weights (no download), 4-bit by default, and
logits scoring versus generate-and-parse on the same prompts.

    python benchmarks/gpu_throughput.py --shape qwen2.5-7b [--quantization 4bit] [--n 64] [--batch-size 8]
    python benchmarks/gpu_throughput.py --shape tiny --quantization none --n 8   # CPU smoke run of this script

The model is a Qwen2 config written here, built with random weights in bf16 on the GPU and, when asked,
quantized in memory exactly as bitsandbytes quantizes a checkpoint (NF4 + double quantization with bf16
compute, or LLM.int8; the LM head stays in bf16, as transformers leaves it). The prompts are real: ``--n``
competition-test questions drawn at random, built by the project's prompt builder (no retrieved context) and
tokenized by a Qwen2.5 tokenizer (``--tokenizer``; default the demo model's, which Qwen2.5-7B/32B share).
Both scorers are the project's own (``rag.scoring``): logits (one forward per length-sorted batch) and
generate (greedy ``--new-tokens`` tokens per batch, then the label parsed). Random weights cannot answer,
so generate's label parse fails and its fallback to logits is left out of its time; agreement is not
measured here (scoring_bench.py measures it on the real demo model). A real instruct model may stop at EOS
before ``max_new_tokens``: the table gives generate at 1, 2 and 8 new tokens for that reason.
Last line: RESULT shape=… qps=… peak_gib=… generate_qps=… logits_vs_generate_speedup=…
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SHAPES = {
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "vocab_size": 151936},
    "qwen2.5-7b": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
                   "num_key_value_heads": 4, "vocab_size": 152064},
    "qwen2.5-32b": {"hidden_size": 5120, "intermediate_size": 27648, "num_hidden_layers": 64, "num_attention_heads": 40,
                    "num_key_value_heads": 8, "vocab_size": 152064},
}


def random_model(shape: str, quantization: str, device: str):
    """A Qwen2ForCausalLM of ``shape`` with random bf16 weights (float32 on CPU), quantized as asked."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    cfg = Qwen2Config(**SHAPES[shape], max_position_embeddings=32768, tie_word_embeddings=False)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    return quantize_linears(model, quantization, device).eval()


def quantize_linears(model, quantization: str, device: str):
    """Replace the decoder layers' linear layers by bitsandbytes NF4 (double quantization, bf16 compute) or
    LLM.int8 layers, one at a time (the peak is the unquantized model, never both copies); the LM head and the
    embeddings stay as they are, as transformers' bitsandbytes loading leaves them."""
    if quantization == "none":
        return model
    import bitsandbytes as bnb
    import torch

    for layer in model.model.layers:
        for parent in list(layer.modules()):
            for name, lin in list(parent.named_children()):
                if type(lin) is not torch.nn.Linear:
                    continue
                if quantization == "4bit":
                    q = bnb.nn.Linear4bit(lin.in_features, lin.out_features, bias=lin.bias is not None,
                                          compute_dtype=torch.bfloat16, compress_statistics=True,
                                          quant_type="nf4", device="meta")
                    q.weight = bnb.nn.Params4bit(lin.weight.data, requires_grad=False, compress_statistics=True,
                                                 quant_type="nf4", module=q).to(device)
                else:
                    q = bnb.nn.Linear8bitLt(lin.in_features, lin.out_features, bias=lin.bias is not None,
                                            has_fp16_weights=False, threshold=6.0, device="meta")
                    q.weight = bnb.nn.Int8Params(lin.weight.data.cpu(), requires_grad=False,
                                                 has_fp16_weights=False).to(device)
                if lin.bias is not None:
                    q.bias = torch.nn.Parameter(lin.bias.data, requires_grad=False)
                setattr(parent, name, q)
                del lin
    if device == "cuda":
        torch.cuda.empty_cache()
    return model


def real_prompts(tokenizer, n: int, seed: int):
    """``n`` competition-test questions drawn at random, built into prompts (no retrieval)."""
    from common.config import PromptConfig
    from common.paths import default_data_root
    from rag.data import load_questions
    from rag.prompts import PromptBuilder

    qs = random.Random(seed).sample(load_questions(default_data_root() / "competition/test.csv"), n)
    builder = PromptBuilder(tokenizer, PromptConfig())
    return [builder.build(q).text for q in qs], [q.n_choices for q in qs]


def timed(fn, cuda: bool):
    import torch

    if cuda:
        torch.cuda.synchronize()
    t = time.perf_counter()
    out = fn()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="qwen2.5-7b")
    ap.add_argument("--quantization", choices=["none", "4bit", "8bit"], default="4bit")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--new-tokens", default="1,2,8", help="generate's max_new_tokens values to time (comma list); "
                                                          "the speedup is reported for the largest")
    ap.add_argument("--tokenizer", default=None, help="a Qwen2.5 tokenizer dir (default: the demo model's)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each method after a warm-up run; median")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import numpy as np
    import torch
    from rich.console import Console
    from rich.table import Table

    from common.config import LLMConfig
    from rag.llm.hf import HFCausalLM, load_tokenizer
    from rag.models import hf_dir
    from rag.scoring.base import parse_label
    from rag.scoring.logits import LogitsScorer

    cuda = torch.cuda.is_available()
    if args.quantization != "none" and not cuda:
        sys.exit("4bit/8bit needs a CUDA GPU (bitsandbytes); use --quantization none for a CPU smoke run")
    tok_dir = Path(args.tokenizer) if args.tokenizer else hf_dir()
    if not (tok_dir / "tokenizer_config.json").exists():
        sys.exit(f"no tokenizer at {tok_dir}: pass --tokenizer DIR, or run `python -m rag.models fetch demo` first")
    new_tokens = sorted({int(x) for x in args.new_tokens.split(",")})

    cfg = LLMConfig(model=f"random:{args.shape}", quantization=args.quantization, batch_size=args.batch_size)
    tok = load_tokenizer(cfg.model_copy(update={"model": str(tok_dir)}))
    prompts, n_choices = real_prompts(tok, args.n, args.seed)
    build_s, model = timed(lambda: random_model(args.shape, args.quantization, "cuda" if cuda else "cpu"), cuda)
    llm = HFCausalLM(model, tok, cfg)
    model.generation_config.pad_token_id = tok.pad_token_id
    weights_gib = torch.cuda.memory_allocated() / 2**30 if cuda else float("nan")

    # Every method is warmed up on all the prompts first (each new batch shape costs kernel selection the
    # first time), then timed --repeats times; the median counts.
    logits = LogitsScorer(llm)
    lengths = [len(e) for e in llm.encode(prompts)]
    logits.score(prompts, n_choices)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t_logs = [timed(lambda: logits.score(prompts, n_choices), cuda)[0] for _ in range(args.repeats)]
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    t_log = float(np.median(t_logs))

    gen_rows = []
    for k in new_tokens:
        llm.generate(prompts, k)  # warm-up
        runs = [timed(lambda k=k: llm.generate(prompts, k), cuda) for _ in range(args.repeats)]
        gens = runs[-1][1]
        parsed = sum(parse_label(g.text, n) is not None for g, n in zip(gens, n_choices))
        times = [r[0] for r in runs]
        gen_rows.append((k, times, float(np.median(times)), float(np.mean([g.n_tokens for g in gens])), parsed))

    dev = torch.cuda.get_device_name(0) if cuda else "cpu"
    console = Console(width=120)
    console.print(f"{args.shape} ({args.quantization}) on {dev}: model built in {build_s:.0f} s, weights "
                  f"{weights_gib:.2f} GiB; {args.n} competition-test prompts, tokens mean {np.mean(lengths):.0f}, "
                  f"median {np.median(lengths):.0f}, max {max(lengths)}; batch {args.batch_size}")
    table = Table(title="scoring method (same prompts and batch size; after a warm-up run, median of the runs)", title_justify="left")
    for c in ("method", "seconds (each run)", "questions/s", "new tokens/question", "logits speedup"):
        table.add_column(c, justify="left" if c == "method" else "right")
    table.add_row("logits (1 forward)", " / ".join(f"{t:.2f}" for t in t_logs), f"{args.n / t_log:.2f}", "-", "1.00")
    for k, ts, t_gen, mean_new, _ in gen_rows:
        table.add_row(f"generate (max_new_tokens={k}) + parse", " / ".join(f"{t:.2f}" for t in ts),
                      f"{args.n / t_gen:.2f}", f"{mean_new:.1f}", f"{t_gen / t_log:.2f}")
    console.print(table)
    console.print(f"peak GPU memory while scoring {peak:.2f} GiB; labels parsed from generated text: "
                  + ", ".join(f"{p}/{args.n} at {k}" for k, _, _, _, p in gen_rows)
                  + " (random weights: the fallback to logits is not timed)")
    k, _, t_gen, _, _ = gen_rows[-1]
    print(f"RESULT shape={args.shape} quantization={args.quantization} qps={args.n / t_log:.3f} peak_gib={peak:.2f} "
          f"generate_qps={args.n / t_gen:.3f} logits_vs_generate_speedup={t_gen / t_log:.2f} new_tokens={k}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
