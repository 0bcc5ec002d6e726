"""``python -m rag.predict --config C --data PATH --out DIR [--labels SOURCES.csv] [--limit N] [--resume] [-o ...]``

Answers questions with the configured pipeline and writes into DIR:
``predictions.csv`` (competition submission ``id,answer``), ``details.jsonl`` (route and confidence,
retrieved chunks with scores, whether context was used, prompt tokens, probabilities, prediction, gold and
correctness), ``summary.json`` and ``config.yaml`` (the resolved config). ``details.jsonl`` is the checkpoint,
written every ``--checkpoint-every`` questions; ``--resume`` continues an interrupted run to the same files.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from common.cli import add_config_args, config_from_args, fail, prepare_out_dir
from common.config import RunConfig, config_hash

from .data import DataError, Question, load_questions, write_submission
from .record import DETAILS, Prediction, RecordError, read_details, write_details

PREDICTIONS, SUMMARY = "predictions.csv", "summary.json"


def summarize(records: list[Prediction]) -> dict:
    scored = [r for r in records if r.correct is not None]
    out: dict = {"n": len(records), "routes": {}, "with_context": sum(r.context_used > 0 for r in records)}
    for r in records:
        out["routes"][r.route] = out["routes"].get(r.route, 0) + 1
    if scored:
        out["accuracy"] = sum(bool(r.correct) for r in scored) / len(scored)
        out["n_scored"] = len(scored)
        by: dict[str, list[bool]] = {}
        for r in scored:
            by.setdefault(r.domain or "unknown", []).append(bool(r.correct))
        out["by_domain"] = {d: {"n": len(v), "accuracy": sum(v) / len(v)} for d, v in sorted(by.items())}
    return out


def predict(cfg: RunConfig, questions: list[Question], out: Path, resume: bool = False, checkpoint_every: int = 16,
            pipeline=None, progress: bool = True, stop_after: int | None = None) -> list[Prediction]:
    """Run the pipeline over ``questions`` into ``out``; ``stop_after`` (tests) simulates a kill after that
    many checkpoints."""
    details = out / DETAILS
    if details.exists() and not resume:
        raise FileExistsError(f"{details} exists: pass --resume to continue that run, or choose another --out")
    stamp = out / ".config_hash"
    if resume and stamp.exists() and stamp.read_text() != config_hash(cfg):
        raise ValueError(f"{out} was produced with another config; --resume needs the same config")
    prepare_out_dir(out, cfg)
    stamp.write_text(config_hash(cfg))
    done = read_details(details) if resume else []
    done_ids = {r.id for r in done}
    if done:  # rewrite without a possibly torn last line
        write_details(details, done)
    todo = [q for q in questions if q.id not in done_ids]
    if pipeline is None:
        from .assembly import Assembly

        pipeline = Assembly().pipeline(cfg)
    pipe = pipeline
    if pipe.retriever is not None:
        from .evidence import refuse_leakage

        refuse_leakage(pipe.retriever.kb, questions)
    bar = tqdm(total=len(questions), initial=len(questions) - len(todo), unit="q", desc="predict",
               disable=not progress, smoothing=0.2)
    t0 = time.time()
    for k, b in enumerate(range(0, len(todo), checkpoint_every)):
        if stop_after is not None and k >= stop_after:
            return read_details(details)
        batch = todo[b:b + checkpoint_every]
        write_details(details, pipe.run(batch), append=True)
        bar.update(len(batch))
        bar.set_postfix(qps=f"{(b + len(batch)) / max(time.time() - t0, 1e-9):.2f}")
    bar.close()
    records = read_details(details)
    order = {q.id: i for i, q in enumerate(questions)}
    records.sort(key=lambda r: order.get(r.id, len(order)))
    write_details(details, records)
    write_submission([(r.id, r.prediction) for r in records], out / PREDICTIONS)
    summary = summarize(records)
    summary["timing_seconds"] = {k: round(v, 2) for k, v in vars(pipe.timing).items() if isinstance(v, float)}
    summary["model"] = pipe.llm.model_id if pipe.llm is not None else "(none: retrieval-only answerer)"
    summary["prompt_template_hash"] = pipe.builder.template_hash if pipe.builder is not None else None
    (out / SUMMARY).write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    return records


def load_for_run(cfg: RunConfig, data: str | None, labels: str | None, limit: int | None) -> list[Question]:
    path = data or str(cfg.resolve_path(cfg.data.test))
    lab = labels if labels is not None else (str(cfg.resolve_path(cfg.data.test_labels))
                                             if data is None and cfg.data.test_labels else None)
    qs = load_questions(path, format=cfg.data.format, strict=cfg.data.strict, labels=lab)
    return qs[:limit] if limit else qs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rag.predict", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(ap)
    ap.add_argument("--data", default=None, help="questions (default: data.test)")
    ap.add_argument("--labels", default=None, help="id,source,subject,domain CSV")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--checkpoint-every", type=int, default=16)
    args = ap.parse_args(argv)
    cfg = config_from_args(args)
    try:
        qs = load_for_run(cfg, args.data, args.labels, args.limit)
        records = predict(cfg, qs, args.out, args.resume, args.checkpoint_every)
    except (DataError, RecordError, FileExistsError, ValueError, FileNotFoundError) as e:
        fail(str(e), 1)
    s = summarize(records)
    acc = f", accuracy {s['accuracy']:.4f} on {s['n_scored']}" if "accuracy" in s else ""
    print(f"{s['n']} questions{acc}; routes {s['routes']}; {s['with_context']} with retrieved context → "
          f"{args.out / PREDICTIONS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
