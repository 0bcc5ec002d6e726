"""``python -m eval.evidence --kb DIR (--suite NAME | --data PATH [--labels L]) --out DIR [--limit N]
[--method bm25|dense|hybrid] [--top-k K] [-o ...]``

Knowledge coverage: can the knowledge base separate the right choice from the wrong ones at all? Answers
every question with the retrieval-only answerer (``rag.evidence``: per-choice retrieval, the share of each
choice's own terms found in one retrieved chunk, polarity for negated stems) — no LLM, seconds per hundred
questions on CPU — and writes into DIR:

* ``details.jsonl``, ``metrics.json``, ``report.md``, ``accuracy_by_domain.png``, ``reliability.png``: the
  same files ``eval.run`` writes (accuracy with 95% intervals by domain, source and subject; chance);
* ``coverage.png`` and a coverage table in ``report.md``: accuracy of the x% of questions the evidence is
  most confident about (margin between the two best choices), x = 10 … 100;
* in ``report.md``: the questions with the strongest evidence and the most misleading evidence (confident
  and wrong), with the chunk that supported each choice.

Run it before spending GPU hours on RAG: subjects where the evidence is near chance are subjects the
knowledge base cannot help. Last line, as ``eval.run`` prints it: ``RESULT accuracy=… korean=… social=… n=…``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from common.cli import add_config_args, command, config_from_args, fail, positive_float, positive_int
from common.config import ConfigError, RunConfig, config_hash
from knowledge_base.manifest import KBError, read_manifest
from rag.assembly import Assembly
from rag.data import DataError, Question
from rag.data.suites import SUITES
from rag.evidence import EvidenceAnswerer, EvidenceResult
from rag.questions import describe, questions_for_run
from rag.record import Prediction, write_details
from retrievers.base import RETRIEVERS

from .report import result_line, write_report

COVERAGE_STEPS = tuple(range(10, 101, 10))


def evidence_records(questions: list[Question], docs: list[list[list]], results: list[EvidenceResult]
                     ) -> list[Prediction]:
    out = []
    for q, per_q, r in zip(questions, docs, results):
        pred = int(np.argmax(r.probs)) + 1
        retrieved = []
        for c, (cdocs, b) in enumerate(zip(per_q, r.best)):
            if b is not None:
                retrieved.append(cdocs[b].to_dict() | {"choice": c + 1, "support": round(r.support[c], 4)})
        out.append(Prediction(
            id=q.id, n_choices=q.n_choices, probs=[round(float(x), 6) for x in r.probs], prediction=pred,
            route="social", source=q.source, subject=q.subject, domain=q.domain,
            route_confidence=round(r.margin, 6), retrieved=retrieved, gold=q.answer,
            correct=None if q.answer is None else pred == q.answer))
    return out


def coverage_curve(records: list[Prediction], margins: list[float]) -> list[dict]:
    """Accuracy of the most confident x% (by evidence margin) of the labelled questions."""
    scored = sorted(((m, r) for m, r in zip(margins, records) if r.gold is not None), key=lambda t: -t[0])
    rows = []
    for x in COVERAGE_STEPS:
        k = max(1, round(len(scored) * x / 100))
        top = scored[:k]
        if top:
            rows.append({"share": x, "n": len(top), "accuracy": sum(bool(r.correct) for _, r in top) / len(top),
                         "min_margin": float(top[-1][0])})
    return rows


def coverage_chart(curve: list[dict], chance: float | None, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([c["share"] for c in curve], [c["accuracy"] for c in curve], marker="o", label="retrieval-only")
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", label=f"chance {chance:.2f}")
    ax.set_xlabel("most confident questions (%)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _example(q: Question, r: EvidenceResult, per_q: list[list]) -> list[str]:
    lines = [(f"**{q.id}** ({q.subject or q.source}; gold {q.answer}, answered {int(np.argmax(r.probs)) + 1}, "
             f"margin {r.margin:.2f}{', negated stem' if r.negated else ''}) — {q.question.strip()[:120]}"), ""]
    for c, (text, s, b, cdocs) in enumerate(zip(q.choices, r.support, r.best, per_q), 1):
        src = f"{cdocs[b].title} [{cdocs[b].chunk_id}]" if b is not None else "(nothing)"
        mark = " ✓" if c == q.answer else ""
        lines.append(f"- {c}{mark} {text.strip()[:60]} — support {s:.2f} from {src}")
    return lines + [""]


def evidence_section(questions, docs, results, records, curve, n_examples: int = 5) -> list[str]:
    lines = ["## Evidence (retrieval-only answerer)", "",
             ("Coverage: accuracy of the questions the evidence is most confident about (margin between the two "
             "best choices)."), "", "| most confident | n | accuracy | margin at least |", "|---|---|---|---|"]
    lines += [f"| {c['share']}% | {c['n']} | {c['accuracy']:.3f} | {c['min_margin']:.3f} |" for c in curve]
    lines += ["", "![coverage](coverage.png)", ""]
    idx = [i for i, r in enumerate(records) if r.gold is not None]
    right = sorted((i for i in idx if records[i].correct), key=lambda i: -results[i].margin)[:n_examples]
    wrong = sorted((i for i in idx if not records[i].correct), key=lambda i: -results[i].margin)[:n_examples]
    lines += ["### Strongest evidence (right and confident)", ""]
    for i in right:
        lines += _example(questions[i], results[i], docs[i])
    lines += ["### Most misleading evidence (wrong and confident)", ""]
    for i in wrong:
        lines += _example(questions[i], results[i], docs[i])
    return lines


def evidence_baseline(parts, cfg: RunConfig, questions: list[Question], batch: int = 64) -> list[Prediction]:
    """The retrieval-only answerer's records on ``questions`` (``eval.run``'s baseline row): the run's own
    knowledge base, retriever and retrieval cache (``parts``: the run's ``rag.assembly.Assembly``), every
    question answered from the evidence whatever its route."""
    pipe = parts.pipeline(cfg.model_copy(update={"scoring": cfg.scoring.model_copy(update={"method": "evidence"})}))
    return [r for b in range(0, len(questions), batch) for r in pipe.run(questions[b:b + batch])]


def answer_in_batches(ans: EvidenceAnswerer, questions: list[Question], batch: int, progress: bool):
    """Per-choice evidence and the answerer's result for every question, ``batch`` questions per retrieval call."""
    docs, results = [], []
    for b in tqdm(range(0, len(questions), batch), desc="evidence", unit="batch", disable=not progress):
        part = questions[b:b + batch]
        d = ans.retrieve(part)
        docs += d
        results += ans.score(part, d)
    return docs, results


def run_evidence(retriever, questions: list[Question], out: Path, top_k: int, temperature: float,
                 provenance: dict, batch: int = 64, progress: bool = True) -> dict:
    """Answer ``questions`` from the evidence ``retriever`` finds (the command's assembly built it) and write
    the report into ``out``."""
    ans = EvidenceAnswerer(retriever, top_k=top_k, temperature=temperature)
    docs, results = answer_in_batches(ans, questions, batch, progress)
    out.mkdir(parents=True, exist_ok=True)
    records = evidence_records(questions, docs, results)
    write_details(out / "details.jsonl", records)
    curve = coverage_curve(records, [r.margin for r in results])
    m = write_report(out, provenance, records, extra={"coverage": curve})
    if curve:
        coverage_chart(curve, m.get("chance"), out / "coverage.png", f"evidence coverage ({m.get('n', 0)} questions)")
    report = out / "report.md"
    report.write_text(report.read_text(encoding="utf-8") + "\n" +
                      "\n".join(evidence_section(questions, docs, results, records, curve)) + "\n", encoding="utf-8")
    return m


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.evidence", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(ap)
    ap.add_argument("--kb", required=True, type=Path, help="a knowledge base built by knowledge_base.build")
    ap.add_argument("--data", default=None)
    ap.add_argument("--labels", default=None)
    ap.add_argument("--suite", default=None, choices=SUITES.names())
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--limit", type=positive_int, default=None)
    ap.add_argument("--method", choices=RETRIEVERS.names(), default=None,
                    help="retriever (default: retrieval.method, or bm25 when the KB has no dense index)")
    ap.add_argument("--top-k", type=positive_int, default=5, help="chunks retrieved per choice")
    ap.add_argument("--temperature", type=positive_float, default=0.1, help="softmax temperature over support shares")
    args = ap.parse_args(argv)
    cfg = config_from_args(args)
    try:
        man = read_manifest(args.kb)
        method = args.method or cfg.retrieval.method
        if args.method is None and method != "bm25" and "dense" not in man:
            method = "bm25"
        cfg = cfg.model_copy(update={  # every question is answered from the evidence: the evidence scorer's needs
            "retrieval": cfg.retrieval.model_copy(update={"kb": str(args.kb), "method": method}),
            "scoring": cfg.scoring.model_copy(update={"method": "evidence"})})
        parts = Assembly()
        qs, identity = questions_for_run(cfg, args.data, args.labels, args.suite, args.limit,
                                         kbs=[parts.knowledge_base(cfg)])
        source, sha = describe(identity)
        prov = {"data": source, "data_sha256": sha, "kb": str(args.kb), "retrieval": method,
                "top_k": args.top_k, "config_hash": config_hash(cfg), "answerer": "rag.evidence (no LLM)"}
        m = run_evidence(parts.retriever(cfg), qs, args.out, args.top_k, args.temperature, prov)
    except (ConfigError, DataError, KBError, FileNotFoundError, ValueError) as e:
        fail(str(e))
    print(f"wrote {args.out / 'report.md'}, metrics.json, coverage.png", file=sys.stderr)
    print(result_line(m))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
