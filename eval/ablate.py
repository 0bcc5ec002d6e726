"""``python -m eval.ablate --config C (--data PATH [--labels L] | --suite NAME) --grid GRID.yaml --out DIR [--limit N]``

Runs every variant of an ablation grid (config overrides; one is the baseline) over the same questions with
the parts assembled once (``rag.assembly``): one model, retrieved documents shared by variants with the same
retriever fingerprint (KB + retrieval settings), identical prompts scored once. Writes one run directory per variant
(predictions, details, metrics, report, charts), ``ablation.csv`` and ``ablation.md`` (accuracy overall and
per domain with 95% intervals, delta to the baseline, paired McNemar p-value) and ``ablation.png``.
Variants with ``prompt.hints: true`` whose ``prompt.hints_path`` does not exist get hints generated first.
"""
from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

from pydantic import ValidationError
from tqdm.auto import tqdm

from common.cli import add_config_args, command, config_from_args, describe_error, fail, positive_int
from common.config import (
    ConfigError,
    RunConfig,
    apply_overrides,
    config_dict,
    config_hash,
    format_validation,
    safe_yaml_load,
)
from common.rundir import LOCK, run_lock, write_atomic
from knowledge_base.manifest import KBError
from rag.assembly import Assembly
from rag.data.suites import SUITES
from rag.questions import check_leakage, describe, questions_for_run

from .charts import grouped_bars
from .metrics import mcnemar
from .report import write_report

#: a variant's name is a directory inside --out: no path separators, no leading dot
VARIANT_NAME = re.compile(r"[A-Za-z0-9가-힣][A-Za-z0-9가-힣_.-]*")


def load_grid(path: Path) -> tuple[str, dict[str, list[str]]]:
    if not path.exists():
        raise ConfigError(f"grid file not found: {path}")
    g = safe_yaml_load(path.read_text(encoding="utf-8"), str(path)) or {}
    if not isinstance(g, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with 'variants'")
    variants = g.get("variants")
    if not isinstance(variants, dict) or not variants:
        raise ConfigError(f"{path}: needs a non-empty 'variants' mapping of name -> [overrides]")
    for name, ov in variants.items():
        if not isinstance(name, str) or not VARIANT_NAME.fullmatch(name):
            raise ConfigError(f"{path}: variant name {name!r} is not a plain name (letters, digits, '_', '-', '.'; "
                              f"it names a directory inside --out)")
        if not isinstance(ov, list) or not all(isinstance(o, str) for o in ov):
            raise ConfigError(f"{path}: variant {name!r} must be a list of 'section.key=value' strings")
    base = g.get("baseline", next(iter(variants)))
    if not isinstance(base, str) or base not in variants:
        raise ConfigError(f"{path}: baseline {base!r} is not one of the variants")
    return base, variants


def variant_config(cfg: RunConfig, overrides: list[str], name: str = "variant") -> RunConfig:
    raw = apply_overrides(config_dict(cfg), overrides)
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation(e, f"grid variant {name!r}: {' '.join(overrides)}")) from None


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.ablate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(ap)
    ap.add_argument("--data", default=None)
    ap.add_argument("--labels", default=None)
    ap.add_argument("--suite", default=None, choices=SUITES.names())
    ap.add_argument("--grid", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--limit", type=positive_int, default=None)
    ap.add_argument("--resume", action="store_true", help="continue variants already started in --out")
    args = ap.parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        fail(f"{args.out}: --out names a file, not a directory", 2)
    if not args.resume and args.out.is_dir() and any(p.name != LOCK for p in args.out.iterdir()):
        fail(f"{args.out} already holds an ablation: pass --resume to continue it, or choose another --out", 2)
    cfg = config_from_args(args)  # everything that can be refused is, before --out is touched or a model loads
    try:
        base, variants = load_grid(args.grid)
        cfgs = {name: variant_config(cfg, ov, name) for name, ov in variants.items()}
        parts = Assembly()  # one LLM; routers, retrievers, scorers and retrieved documents shared where configs agree
        qs, identity = questions_for_run(cfg, args.data, args.labels, args.suite, args.limit)
    except (ConfigError, ValueError, KBError, OSError) as e:
        fail(str(e))
    for name, c in cfgs.items():
        if config_hash(c.llm) != config_hash(cfg.llm):
            fail(f"variant {name!r} changes llm.*: every variant must share the model (loaded once); run such "
                 f"comparisons as separate eval.run calls (or combine them with eval.ensemble)")
    with run_lock(args.out):  # one ablation at a time writes into --out
        return _ablate(args, parts, cfg, base, variants, cfgs, qs, identity)


def _ablate(args, parts, cfg, base, variants, cfgs, qs, identity) -> int:
    from rag.hints import generate_hints
    from rag.predict import predict

    llm = parts.llm(cfg)
    source = describe(identity)[0]
    grid_text = args.grid.read_text(encoding="utf-8")
    saved = args.out / "grid.yaml"
    if args.resume and saved.exists() and saved.read_text(encoding="utf-8") != grid_text:
        fail(f"--resume refused: {args.out} ran another grid ({saved} differs from {args.grid}); choose another --out",
             2)
    write_atomic(saved, grid_text)
    results: dict[str, dict] = {}
    correct: dict[str, dict[str, bool]] = {}
    failed: dict[str, str] = {}
    for name in tqdm(list(cfgs), desc="ablation variants", unit="variant"):
        vcfg = cfgs[name]
        if vcfg.prompt.hints and vcfg.prompt.hints_path:
            hpath = vcfg.resolve_path(vcfg.prompt.hints_path)
            generate_hints(llm, qs, hpath, batch_size=vcfg.llm.batch_size, max_new_tokens=64)
        run_dir = args.out / name
        try:
            check_leakage(qs, [parts.knowledge_base(vcfg)])  # each variant's own knowledge base
            records = predict(parts.pipeline(vcfg), qs, run_dir, resume=args.resume and run_dir.exists(),
                              data=identity)
        except Exception as e:  # noqa: BLE001  (one variant's failure is reported; the others still run)
            failed[name] = describe_error(e)
            continue
        m = write_report(run_dir, {"variant": name, "overrides": " ".join(variants[name]) or "(none)",
                                   "config_hash": config_hash(vcfg), "data": source, "model": llm.model_id},
                         records)
        results[name] = m
        correct[name] = {r.id: bool(r.correct) for r in records if r.gold is not None}
    if base in failed:
        fail(f"the baseline variant {base!r} failed: {failed[base]}" + "".join(
            f"\n  variant {n!r} failed: {r}" for n, r in failed.items() if n != base))
    domains = sorted({d for m in results.values() for d in m["by_domain"]})
    rows = []
    for name, m in results.items():
        ids = sorted(correct[base])
        test = mcnemar([correct[base][i] for i in ids], [correct[name][i] for i in ids])
        row = {"variant": name, "overrides": " ".join(variants[name]), "n": m["n"], "accuracy": m["accuracy"],
               "ci95_lo": m["ci95"][0], "ci95_hi": m["ci95"][1],
               "delta": m["accuracy"] - results[base]["accuracy"], "mcnemar_p": test["p_value"],
               "with_context": m["retrieval"]["share_with_context"]}
        for d in domains:
            dm = m["by_domain"].get(d, {})
            row[f"{d}_accuracy"] = dm.get("accuracy")
            row[f"{d}_delta"] = None if dm.get("accuracy") is None else \
                dm["accuracy"] - results[base]["by_domain"][d]["accuracy"]
        rows.append(row)
    with open(args.out / "ablation.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    md = [f"# Ablation: {args.grid.name} on {source} ({len(qs)} questions, model {llm.model_id})", "",
          f"Baseline: **{base}**. Δ = accuracy − baseline; p = exact paired McNemar test against the baseline.", "",
          "| variant | overrides | accuracy [95% CI] | Δ | p | " + " | ".join(f"{d} (Δ)" for d in domains)
          + " | with context |", "|---" * (6 + len(domains)) + "|"]
    for r in rows:
        dom = " | ".join("–" if r[f"{d}_accuracy"] is None else f"{r[f'{d}_accuracy']:.3f} ({r[f'{d}_delta']:+.3f})"
                         for d in domains)
        md.append(f"| {r['variant']} | `{r['overrides'] or '—'}` | {r['accuracy']:.3f} [{r['ci95_lo']:.3f}, "
                  f"{r['ci95_hi']:.3f}] | {r['delta']:+.3f} | {r['mcnemar_p']:.3f} | {dom} | {r['with_context']:.0%} |")
    md += [f"| {n} | `{' '.join(variants[n]) or '—'}` | **failed**: {reason} |" + " |" * (4 + len(domains))
           for n, reason in failed.items()]
    md += ["", "![ablation](ablation.png)", ""]
    (args.out / "ablation.md").write_text("\n".join(md), encoding="utf-8")
    table = {r["variant"]: {"overall": r["accuracy"], **{d: r[f"{d}_accuracy"] for d in domains}} for r in rows}
    grouped_bars(table, ["overall", *domains], args.out / "ablation.png", f"ablation ({len(qs)} questions)")
    print("\n".join(md[:-2]))
    best = max(rows, key=lambda r: r["accuracy"])
    print(f"RESULT baseline={base} baseline_accuracy={results[base]['accuracy']:.4f} best={best['variant']} "
          f"best_accuracy={best['accuracy']:.4f} variants={len(rows)} failed={len(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
