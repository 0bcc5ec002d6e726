"""Correctness of the GPU paths on a tiny random Qwen2 model (no download): run it on a CUDA machine.

    python benchmarks/gpu_check.py [--out DIR]

1. The ``hf`` backend loads a checkpoint in 4-bit (bitsandbytes NF4 through ``from_pretrained``) and bf16;
   logits scoring on real competition prompts gives probabilities that sum to 1, and batched scoring equals
   one-by-one scoring on the GPU (within bf16 rounding).
2. gpu_throughput.py's in-memory quantization (``quantize_linears``) gives the same model as transformers'
   4-bit loading of the same weights: the same logits.
3. QLoRA: ``finetune.train`` with ``llm.quantization=4bit`` runs a few steps on the GPU, its loss falls, and the
   adapter it saves loads on the 4-bit model through the ``hf`` backend and scores.
4. Pre-quantized checkpoints (needs ``pip install -e '.[gptq]'``; skipped, and said so, without it): the tiny model
   quantized with GPTQ (transformers ``GPTQConfig``, calibrated on competition prompts) and saved loads through the
   ``hf`` backend with ``llm.quantization=auto`` and its own quantization_config, scores (probabilities sum to
   1, batched = one by one), and bitsandbytes on top of it is refused.
Prints a table; last line: RESULT checks_passed=… of=… skipped=…
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None, help="keep the tiny model and the adapter here")
    ap.add_argument("--n", type=int, default=8, help="competition-train prompts to score")
    args = ap.parse_args()

    import numpy as np
    import torch
    from rich.console import Console
    from rich.table import Table
    from tiny_models import build_tiny_qwen

    from common.config import LLMConfig, PromptConfig
    from common.paths import default_data_root
    from rag.data import load_questions
    from rag.llm import load_llm
    from rag.prompts import PromptBuilder
    from rag.scoring.logits import LogitsScorer

    if not torch.cuda.is_available():
        sys.exit("gpu_check.py needs a CUDA GPU")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from gpu_throughput import quantize_linears

    work = args.out or Path(tempfile.mkdtemp(prefix="gpu_check_"))
    work.mkdir(parents=True, exist_ok=True)
    model_dir = build_tiny_qwen(work / "tiny_qwen", hidden=128)
    rows: list[tuple[str, bool, str]] = []

    qs = load_questions(default_data_root() / "competition/train.csv")[: args.n]
    base = LLMConfig(model=str(model_dir), dtype="bfloat16", batch_size=4)
    llm4 = load_llm(base.model_copy(update={"quantization": "4bit"}))
    prompts = [PromptBuilder(llm4.tokenizer, PromptConfig()).build(q).text for q in qs]
    n_choices = [q.n_choices for q in qs]

    # 1. hf backend, 4-bit and bf16
    kinds = sorted({type(m).__name__ for m in llm4.model.modules() if "Linear" in type(m).__name__})
    p4 = LogitsScorer(llm4).score(prompts, n_choices)
    p4_one = LogitsScorer(llm4, batch_size=1).score(prompts, n_choices)
    sums = max(abs(p.sum() - 1) for p in p4)
    d_batch = max(float(np.abs(a - b).max()) for a, b in zip(p4, p4_one))
    rows.append(("4-bit load: linear layers are bitsandbytes Linear4bit", "Linear4bit" in kinds, ", ".join(kinds)))
    rows.append(("4-bit: probabilities sum to 1", sums < 1e-6, f"max |sum-1| {sums:.1e}"))
    rows.append(("4-bit: batched = one by one", d_batch < 2e-2, f"max |Δp| {d_batch:.1e} (bf16 compute)"))
    llm16 = load_llm(base)
    p16 = LogitsScorer(llm16).score(prompts, n_choices)
    d_q = max(float(np.abs(a - b).max()) for a, b in zip(p4, p16))
    rows.append(("bf16 load on cuda; 4-bit vs bf16 probabilities", llm16.info["device"].startswith("cuda"),
                 f"max |Δp| {d_q:.2f} (NF4 rounding of random weights)"))

    # 2. in-memory quantization == transformers' 4-bit loading of the same weights
    mem = quantize_linears(llm16.model, "4bit", "cuda")
    ids = torch.tensor([llm4.tokenizer(prompts[0], add_special_tokens=False)["input_ids"][-256:]], device="cuda")
    with torch.inference_mode():
        a = llm4.model(input_ids=ids).logits.float()
        b = mem(input_ids=ids).logits.float()
    diff = float((a - b).abs().max() / a.abs().max())
    rows.append(("gpu_throughput quantize_linears = from_pretrained 4-bit", diff < 1e-3, f"max rel |Δlogit| {diff:.1e}"))
    del llm4, llm16, mem
    torch.cuda.empty_cache()

    # 3. QLoRA fine-tune on the GPU, then the adapter on the 4-bit model
    from finetune.train import main as train_main

    ft_out = work / "qlora"
    ov = [f"llm.model={model_dir}", "llm.quantization=4bit", "llm.dtype=bfloat16", "finetune.max_steps=12",
          "finetune.dev_limit=8", "finetune.eval_steps=6", "finetune.learning_rate=2e-3", "finetune.logging_steps=1",
          "finetune.max_length=384", "prompt.max_tokens=384", "finetune.shuffle_copies=1",
          "finetune.early_stopping_patience=0"]
    argv = ["--config", str(ROOT / "configs/finetune/cpu-smoke.yaml"), "--out", str(ft_out)]
    for o in ov:
        argv += ["-o", o]
    rc = train_main(argv)
    summary = json.loads((ft_out / "train_summary.json").read_text()) if rc == 0 else {}
    first, last = summary.get("first_loss"), summary.get("last_loss")
    rows.append(("QLoRA fine-tune on cuda: runs, loss falls", rc == 0 and first is not None and last < first,
                 (f"steps {summary.get('global_step')}, loss {first} → {last}, "
                  f"{summary.get('seconds_per_step')} s/step")))
    llm_ad = load_llm(base.model_copy(update={"quantization": "4bit", "adapter": str(ft_out)}))
    p_ad = LogitsScorer(llm_ad).score(prompts, n_choices)
    peft = type(llm_ad.model).__name__
    ok = peft.startswith("Peft") and all(abs(p.sum() - 1) < 1e-6 for p in p_ad)
    rows.append(("adapter loads on the 4-bit model and scores", ok, f"{peft}; {len(p_ad)} questions scored"))

    # 4. a pre-quantized (GPTQ) checkpoint through the same loader
    skipped = []
    import importlib.util

    if all(importlib.util.find_spec(m) for m in ("optimum", "gptqmodel")):
        from tiny_models import build_tiny_gptq

        gdir = build_tiny_gptq(model_dir, work / "tiny_gptq", prompts, device_map="cuda")
        gcfg = LLMConfig(model=str(gdir), dtype="float16", quantization="auto", batch_size=4)
        llm_g = load_llm(gcfg)
        # GPTQ layers carry packed ``qweight`` (gptqmodel names its kernels TorchAtenLinear, MarlinLinear, …)
        g_kinds = sorted({type(m).__name__ for m in llm_g.model.modules() if hasattr(m, "qweight")})
        pg = LogitsScorer(llm_g).score(prompts, n_choices)
        pg_one = LogitsScorer(llm_g, batch_size=1).score(prompts, n_choices)
        g_sum = max(abs(p.sum() - 1) for p in pg)
        g_batch = max(float(np.abs(a - b).max()) for a, b in zip(pg, pg_one))
        rows.append(("GPTQ checkpoint loads with its own config (quantization=auto)", bool(g_kinds),
                     ", ".join(g_kinds) or "no GPTQ (qweight) layers"))
        rows.append(("GPTQ: probabilities sum to 1; batched = one by one", g_sum < 1e-3 and g_batch < 2e-2,
                     f"max |sum-1| {g_sum:.1e}, max |Δp| {g_batch:.1e}"))
        try:
            load_llm(gcfg.model_copy(update={"quantization": "4bit"}))
            refused = False
        except ValueError:
            refused = True
        rows.append(("GPTQ: bitsandbytes on top is refused", refused, "ValueError before loading"))
    else:
        skipped.append("GPTQ (pip install -e '.[gptq]': optimum + gptqmodel)")

    table = Table(title=f"GPU checks on {torch.cuda.get_device_name(0)} (torch {torch.__version__})",
                  title_justify="left")
    for c in ("check", "ok", "measured"):
        table.add_column(c)
    for name, ok, what in rows:
        table.add_row(name, "yes" if ok else "NO", what)
    Console(width=140).print(table)
    passed = sum(ok for _, ok, _ in rows)
    for what in skipped:
        print(f"skipped: {what}")
    print(f"RESULT checks_passed={passed} of={len(rows)} skipped={len(skipped)}")
    return 0 if passed == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
