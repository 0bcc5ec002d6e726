"""``metrics.json``, ``report.md`` and charts for one run directory."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rag.record import Prediction, read_run

from .charts import accuracy_chart, reliability_chart
from .metrics import compute_metrics


def fmt_ci(m: dict) -> str:
    if not m.get("n"):
        return "–"
    return f"{m['accuracy']:.3f} [{m['ci95'][0]:.3f}, {m['ci95'][1]:.3f}]"


def _table(title: str, groups: dict[str, dict]) -> list[str]:
    lines = [f"### {title}", "", "| group | n | accuracy [95% CI] | chance | majority answer |", "|---|---|---|---|---|"]
    for g, m in groups.items():
        if m.get("n"):
            maj = m["majority_answer"]
            lines.append(f"| {g} | {m['n']} | {fmt_ci(m)} | {m['chance']:.3f} | {maj['accuracy']:.3f} (#{maj['position']}) |")
    return [*lines, ""]


def write_report(run_dir: Path, provenance: dict[str, Any] | None = None, records: list[Prediction] | None = None,
                 baselines: dict[str, list[Prediction]] | None = None, extra: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """Compute metrics of ``records`` (default: ``run_dir/details.jsonl``) and write them into ``run_dir``;
    ``extra`` (e.g. an ensemble's member table, the evidence coverage curve) is added to metrics.json."""
    records = read_run(run_dir) if records is None else records
    run_dir.mkdir(parents=True, exist_ok=True)
    m = compute_metrics(records)
    m["provenance"] = provenance or {}
    m["baselines"] = {}
    for name, recs in (baselines or {}).items():  # other answerers on the same questions (e.g. retrieval-only)
        b = compute_metrics(recs)
        m["baselines"][name] = {"n": b["n"], "accuracy": b["accuracy"], "ci95": b["ci95"],
                                "by_domain": {d: {k: v[k] for k in ("n", "accuracy", "ci95")}
                                              for d, v in b["by_domain"].items()}}
    m.update(extra or {})
    (run_dir / "metrics.json").write_text(json.dumps(m, ensure_ascii=False, indent=1), encoding="utf-8")
    charts = []
    if m["by_domain"]:
        charts.append(accuracy_chart(m["by_domain"], run_dir / "accuracy_by_domain.png", "accuracy by domain"))
    if "calibration" in m:
        charts.append(reliability_chart(m["calibration"]["reliability"], run_dir / "reliability.png",
                                        f"reliability (ECE {m['calibration']['ece']:.3f})"))
    lines = [f"# Evaluation report: {run_dir.name}", ""]
    if m.get("n"):
        lines += [f"**Accuracy {fmt_ci(m)}** on {m['n']} questions (chance {m['chance']:.3f}).", ""]
    else:
        lines += [f"{m['n_total']} questions, no gold answers: no accuracy.", ""]
    if m.get("n"):
        base = [f"chance {m['chance']:.3f}", f"majority answer {m['majority_answer']['accuracy']:.3f}"]
        for name, b in m["baselines"].items():
            dom = ", ".join(f"{d} {fmt_ci(v)}" for d, v in b["by_domain"].items())
            base.append(f"{name} {fmt_ci(b)}" + (f" ({dom})" if dom else ""))
        lines += ["Baselines on the same questions: " + "; ".join(base) + ".", ""]
    for key, title in (("by_domain", "By domain"), ("by_source", "By source"), ("by_subject", "By subject")):
        if m[key]:
            lines += _table(title, m[key])
    ap = m["answer_positions"]
    positions = sorted(set(ap["predicted"]) | set(ap["gold"]))
    lines += ["### Answer positions", "", "| position | " + " | ".join(map(str, positions)) + " |",
              "|---|" + "---|" * len(positions),
              "| predicted | " + " | ".join(str(ap["predicted"].get(p, 0)) for p in positions) + " |",
              "| gold | " + " | ".join(str(ap["gold"].get(p, 0)) for p in positions) + " |", ""]
    if "calibration" in m:
        lines += [f"Calibration: ECE {m['calibration']['ece']:.4f}, Brier {m['calibration']['brier']:.4f}.", ""]
    if "router" in m:
        lines += [(f"Router accuracy {m['router']['accuracy']:.4f} on {m['router']['n']} labelled questions; "
                   f"confusion (gold->routed) {m['router']['confusion']}."), ""]
    r = m["retrieval"]
    top = "–" if r["mean_top_score"] is None else f"{r['mean_top_score']:.4f}"
    lines += [(f"Retrieval: {r['share_with_context']:.1%} of questions had context in the prompt, "
               f"{r['mean_chunks_used']:.2f} chunks on average, mean top score {top}."), ""]
    if provenance:
        lines += ["### Provenance", ""] + [f"- {k}: `{v}`" for k, v in provenance.items()] + [""]
    lines += [f"![{c.stem}]({c.name})" for c in charts]
    (run_dir / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return m


def result_line(m: dict) -> str:
    if not m.get("n"):
        return f"RESULT accuracy=nan n={m['n_total']}"
    parts = [f"accuracy={m['accuracy']:.4f}"]
    for d in ("korean", "social"):
        dm = m["by_domain"].get(d)
        parts.append(f"{d}={dm['accuracy']:.4f}" if dm and dm.get("n") else f"{d}=nan")
    parts.append(f"n={m['n']}")
    return "RESULT " + " ".join(parts)
