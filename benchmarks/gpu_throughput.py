"""GPU scoring throughput of a named model shape with random weights (no download), 4-bit by default.

    python benchmarks/gpu_throughput.py --shape qwen2.5-7b [--quantization 4bit] [--n 64] [--batch-size 8]
    python benchmarks/gpu_throughput.py --shape tiny --quantization none      # CPU smoke run of this script

Builds the model from a Qwen2 config written here, quantizes it with bitsandbytes NF4 when asked, and
scores prompts whose lengths follow the competition test set's prompt-length distribution (token ids are
random: speed does not depend on them). Prints questions/s and peak GPU memory.
Last line: RESULT shape=… qps=… peak_gib=…
"""
from __future__ import annotations

import argparse
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


def prompt_lengths(n: int, seed: int = 0) -> list[int]:
    """Sample prompt token lengths from the test set: characters of passage + <보기> + question + choices,
    at ~0.6 tokens per character (Qwen2.5 on Korean) plus ~90 template tokens."""
    import numpy as np

    from common.paths import default_data_root
    from rag.data import load_questions

    qs = load_questions(default_data_root() / "competition/test.csv")
    chars = np.array([len(q.paragraph) + len(q.question_plus or "") + len(q.question) + sum(map(len, q.choices))
                      for q in qs])
    rng = np.random.default_rng(seed)
    return [int(90 + 0.6 * c) for c in rng.choice(chars, n)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="qwen2.5-7b")
    ap.add_argument("--quantization", choices=["none", "4bit", "8bit"], default="4bit")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()

    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cuda = torch.cuda.is_available()
    if args.quantization != "none" and not cuda:
        sys.exit("4bit/8bit needs a CUDA GPU (bitsandbytes); use --quantization none for a CPU smoke run")
    cfg = Qwen2Config(**SHAPES[args.shape], max_position_embeddings=32768, tie_word_embeddings=False)
    dtype = torch.bfloat16 if cuda else torch.float32
    t = time.time()
    with torch.device("cuda" if cuda else "cpu"):
        model = Qwen2ForCausalLM(cfg).to(dtype)
    if args.quantization != "none":
        import tempfile

        from transformers import AutoModelForCausalLM, BitsAndBytesConfig

        with tempfile.TemporaryDirectory() as tmp:  # save random weights, reload quantized
            model.save_pretrained(tmp)
            del model
            torch.cuda.empty_cache()
            q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                   bnb_4bit_compute_dtype=torch.bfloat16) if args.quantization == "4bit" \
                else BitsAndBytesConfig(load_in_8bit=True)
            model = AutoModelForCausalLM.from_pretrained(tmp, quantization_config=q, device_map="cuda:0")
    model.eval()
    build_s = time.time() - t
    lengths = sorted(prompt_lengths(args.n), reverse=True)
    device = next(model.parameters()).device
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    t = time.time()
    for b in range(0, len(lengths), args.batch_size):
        lens = lengths[b:b + args.batch_size]
        L = max(lens)
        ids = torch.randint(0, cfg.vocab_size, (len(lens), L), device=device)
        mask = torch.zeros((len(lens), L), dtype=torch.long, device=device)
        for i, n in enumerate(lens):
            mask[i, L - n:] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=1)
    if cuda:
        torch.cuda.synchronize()
    secs = time.time() - t
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    dev = torch.cuda.get_device_name(0) if cuda else "cpu"
    print(f"{args.shape} ({args.quantization}) on {dev}: {args.n} prompts, mean {sum(lengths) / len(lengths):.0f} "
          f"tokens, batch {args.batch_size}: {secs:.2f}s → {args.n / secs:.2f} questions/s; peak GPU memory "
          f"{peak:.2f} GiB; model built in {build_s:.0f}s")
    print(f"RESULT shape={args.shape} qps={args.n / secs:.3f} peak_gib={peak:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
