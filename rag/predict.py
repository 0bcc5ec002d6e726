"""``python -m rag.predict --config C (--data PATH [--labels SOURCES.csv] | --suite NAME) --out DIR [--limit N]
[--resume] [-o ...]``

Answers questions with the configured pipeline and writes into DIR:
``predictions.csv`` (competition submission ``id,answer``), ``details.jsonl`` (route and confidence,
retrieved chunks with scores, whether context was used, prompt tokens, probabilities, prediction, gold and
correctness), ``summary.json`` and ``config.yaml`` (the resolved config). ``details.jsonl`` is the checkpoint,
written every ``--checkpoint-every`` questions; ``--resume`` continues an interrupted run to the same files, and
only a run of the same config, data file (path and sha256) and questions (``.run_stamp.json``): anything else is
refused, naming what differs.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from common.cli import add_config_args, command, config_from_args, fail, positive_int, prepare_out_dir
from common.config import RunConfig, config_hash
from common.hashing import short_hash
from common.rundir import run_lock, write_atomic
from knowledge_base.manifest import KBError

from .assembly import Assembly
from .data import DataError, Question, write_submission
from .data.suites import SUITES
from .questions import questions_for_run
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


RUN_STAMP = ".run_stamp.json"


def run_stamp(cfg: RunConfig, questions: list[Question], data: dict | None = None) -> dict:
    """What a run directory was produced from: the config's hash, the data's identity (``data``: path and
    sha256, or a suite name) and the question ids (count, hash, the first few; and all of them, which
    ``eval.run --predictions`` checks the records against)."""
    ids = [q.id for q in questions]
    return {"config": config_hash(cfg), "data": data or {},
            "questions": {"n": len(ids), "ids_sha256": short_hash(ids), "first": ids[:3]}, "question_ids": ids}


def check_resume(out: Path, stamp: dict) -> None:
    """Refuse ``--resume`` into a directory produced from another config, other data or other questions."""
    path = out / RUN_STAMP
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValueError(f"{path} is corrupt: cannot tell what {out} was produced from; use another --out") \
                from None
    elif (out / ".config_hash").exists():  # written by versions before the data was stamped
        old = {"config": (out / ".config_hash").read_text().strip()}
    elif (out / DETAILS).exists() and (out / DETAILS).stat().st_size > 0:
        raise ValueError(f"--resume refused: {out} holds results ({DETAILS}) but no {RUN_STAMP} saying what they were "
                         f"produced from (a copied run?); rerun into another --out")
    else:
        return
    diffs = []
    if old.get("config") != stamp["config"]:
        diffs.append(f"the config (hash {old.get('config')} then, {stamp['config']} now; see {out / 'config.yaml'})")
    if "data" in old and old["data"] != stamp["data"]:
        diffs.append(f"the data ({_describe(old['data'])} then, {_describe(stamp['data'])} now)")
    if "questions" in old and old["questions"] != stamp["questions"]:
        o, n = old["questions"], stamp["questions"]
        diffs.append(f"the questions ({o.get('n')} ids starting {o.get('first')} then, {n['n']} ids starting "
                     f"{n['first']} now; --limit and the data must match)")
    if diffs:
        raise ValueError(f"--resume refused: {out} was produced from other inputs — " + "; ".join(diffs)
                         + ". Rerun with the same inputs, or choose another --out")


def _describe(data: dict) -> str:
    if not data:
        return "unknown"
    if "suite" in data:
        return f"suite {data['suite']}"
    lab = data.get("labels")
    labels = f" with labels {lab.get('path')} sha256 {str(lab.get('sha256'))[:12]}" if lab else " without labels"
    return f"{data.get('path')} sha256 {str(data.get('sha256'))[:12]}{labels}"


def check_out(out: Path, resume: bool) -> None:
    """Refuse an ``--out`` that is a file, or that holds a run when ``resume`` is off (before anything loads)."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: --out names a file, not a directory; choose a directory for the run")
    details = out / DETAILS
    if details.exists() and details.stat().st_size > 0 and not resume:
        raise FileExistsError(f"{details} exists: pass --resume to continue that run, or choose another --out")


def predict(pipe, questions: list[Question], out: Path, resume: bool = False, checkpoint_every: int = 16,
            progress: bool = True, stop_after: int | None = None, data: dict | None = None) -> list[Prediction]:
    """Run ``pipe`` (a ``rag.pipeline.Pipeline``; its command's ``Assembly`` built it) over ``questions`` into
    ``out``; ``data`` names where they came from (``rag.questions.questions_for_run``'s identity) for the run's
    stamp; ``stop_after`` (tests) simulates a kill after that many checkpoints."""
    cfg = pipe.cfg
    if not questions:
        raise ValueError("no questions to answer")
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be at least 1, got {checkpoint_every}")
    check_out(out, resume)
    details = out / DETAILS
    stamp = run_stamp(cfg, questions, data)
    if resume:
        check_resume(out, stamp)
    with run_lock(out):  # one run at a time writes into ``out``
        return _run(cfg, questions, out, resume, checkpoint_every, pipe, progress, stop_after, stamp, details)


def _run(cfg, questions, out, resume, checkpoint_every, pipe, progress, stop_after, stamp, details
         ) -> list[Prediction]:
    prepare_out_dir(out, cfg)
    write_atomic(out / RUN_STAMP, json.dumps(stamp, ensure_ascii=False, indent=1))
    (out / ".config_hash").unlink(missing_ok=True)
    done = read_details(details) if resume else []
    done_ids = {r.id for r in done}
    if done or details.exists():  # rewrite without a possibly torn last line
        write_details(details, done)
    todo = [q for q in questions if q.id not in done_ids]
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


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rag.predict", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(ap)
    ap.add_argument("--data", default=None, help="questions (default: data.test)")
    ap.add_argument("--labels", default=None, help="id,source,subject,domain CSV")
    ap.add_argument("--suite", default=None, choices=SUITES.names(), help="a named question suite instead of --data")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--limit", type=positive_int, default=None)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--checkpoint-every", type=positive_int, default=16)
    args = ap.parse_args(argv)
    cfg = config_from_args(args)
    try:
        check_out(args.out, args.resume)
        parts = Assembly()
        qs, identity = questions_for_run(cfg, args.data, args.labels, args.suite, args.limit,
                                         kbs=[parts.knowledge_base(cfg)])
        records = predict(parts.pipeline(cfg), qs, args.out, args.resume, args.checkpoint_every, data=identity)
    except (DataError, RecordError, FileExistsError, ValueError, FileNotFoundError, KBError, OSError) as e:
        fail(str(e))
    s = summarize(records)
    acc = f", accuracy {s['accuracy']:.4f} on {s['n_scored']}" if "accuracy" in s else ""
    print(f"{s['n']} questions{acc}; routes {s['routes']}; {s['with_context']} with retrieved context → "
          f"{args.out / PREDICTIONS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
