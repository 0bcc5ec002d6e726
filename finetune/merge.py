"""``python -m finetune.merge --base MODEL --adapters A [B ...] --method linear|ties|dare_linear|dare_ties
[--weights 1 1] [--density 0.5] --out DIR [--full]``

Combines LoRA adapters with peft's ``add_weighted_adapter`` (TIES / DARE-TIES as the best competition teams
did). Without ``--full`` DIR is a PEFT adapter (``-o llm.adapter=DIR``); with ``--full`` the merged adapter
is folded into the base weights (``merge_and_unload``) and DIR is a standalone model dir + tokenizer.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from common.cli import command, fail, unit_float

METHODS = ("linear", "ties", "dare_linear", "dare_ties", "svd", "cat")


def merge(base: str, adapters: list[str], method: str, weights: list[float] | None, density: float | None,
          out: Path, full: bool = False, gguf_file: str | None = None) -> Path:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; one of {METHODS}")
    weights = weights or [1.0] * len(adapters)
    if len(weights) != len(adapters):
        raise ValueError(f"{len(weights)} weights for {len(adapters)} adapters")
    for a in adapters:  # before the base model loads
        if not (Path(a) / "adapter_config.json").is_file():
            raise ValueError(f"--adapters {a}: not a LoRA adapter directory (no adapter_config.json; "
                             f"`python -m finetune.train` writes one into its --out)")
    if method in ("ties", "dare_linear", "dare_ties") and density is None:
        density = 0.5
    kw = {"gguf_file": gguf_file} if gguf_file else {}
    model = AutoModelForCausalLM.from_pretrained(base, **kw)
    tok = AutoTokenizer.from_pretrained(adapters[0] if (Path(adapters[0]) / "tokenizer_config.json").exists()
                                        else base, **({} if (Path(adapters[0]) / "tokenizer_config.json").exists()
                                                      else kw))
    names = [f"a{i}" for i in range(len(adapters))]
    model = PeftModel.from_pretrained(model, adapters[0], adapter_name=names[0])
    for name, path in zip(names[1:], adapters[1:]):
        model.load_adapter(path, adapter_name=name)
    extra = {"density": density} if density is not None and method != "linear" else {}
    model.add_weighted_adapter(adapters=names, weights=weights, adapter_name="merged", combination_type=method,
                               **extra)
    model.set_adapter("merged")
    for name in names:
        model.delete_adapter(name)
    out.mkdir(parents=True, exist_ok=True)
    if full:
        merged = model.merge_and_unload()
        merged.save_pretrained(str(out))
    else:
        model.save_pretrained(str(out))
        sub = out / "merged"  # peft saves non-default adapters in a subfolder: lift it
        if sub.is_dir():
            for f in sub.iterdir():
                shutil.move(str(f), out / f.name)
            sub.rmdir()
    tok.save_pretrained(str(out))
    return out


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m finetune.merge", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="base model (Hub id or dir)")
    ap.add_argument("--gguf-file", default=None)
    ap.add_argument("--adapters", nargs="+", required=True)
    ap.add_argument("--method", default="dare_ties", choices=METHODS)
    ap.add_argument("--weights", nargs="+", type=float, default=None)
    ap.add_argument("--density", type=unit_float, default=None, help="kept fraction for ties/dare (default 0.5)")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--full", action="store_true", help="fold into the base weights (standalone model)")
    args = ap.parse_args(argv)
    try:
        out = merge(args.base, args.adapters, args.method, args.weights, args.density, args.out, args.full,
                    args.gguf_file)
    except (ValueError, OSError) as e:
        fail(str(e))
    print(f"merged {len(args.adapters)} adapter(s) with {args.method} → {out}" + (" (full model)" if args.full else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
