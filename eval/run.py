"""``python -m eval.run --config C (--data PATH [--labels SOURCES.csv] | --suite NAME) --out DIR
[--predictions DIR] [--limit N] [--resume] [--no-evidence-baseline] [-o ...]``

Runs prediction (or scores the ``details.jsonl`` of an existing ``--predictions`` run) and writes into DIR:
``metrics.json`` (accuracy with 95% Wilson interval overall and by domain/source/subject, chance and
majority baselines and — when ``retrieval.kb`` is set — the retrieval-only answerer (``rag.evidence``, no LLM)
on the same questions, answer positions, calibration, router accuracy, retrieval usage), ``report.md`` (tables and
provenance: model id, prompt-template hash, config hash, data sha256, library versions),
``accuracy_by_domain.png`` and ``reliability.png``. Last line: ``RESULT accuracy=… korean=… social=…``.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from common.cli import add_config_args, command, config_from_args, fail, positive_int
from common.config import config_hash
from knowledge_base.manifest import KBError, library_versions
from rag.data import DataError
from rag.data.suites import SUITES
from rag.record import RecordError, read_run

from .report import result_line, write_report


def check_complete(run_dir: Path, records, allow_partial: bool = False) -> None:
    """Refuse to score a run whose records repeat an id, answer a question its stamp does not list, or (unless
    ``allow_partial``) leave some of its questions unanswered."""
    ids = [r.id for r in records]
    dup = sorted(i for i, n in Counter(ids).items() if n > 1)
    if dup:
        raise ValueError(f"{run_dir}: {len(ids) - len(set(ids))} duplicate record(s) in details.jsonl (e.g. "
                         f"{', '.join(dup[:3])}): two runs wrote into one directory? score a clean run")
    from rag.predict import RUN_STAMP

    stamp_path = Path(run_dir) / RUN_STAMP
    if not stamp_path.exists():
        return
    expected = json.loads(stamp_path.read_text(encoding="utf-8")).get("question_ids")
    if expected is None:
        return
    unknown = sorted(set(ids) - set(expected))
    if unknown:
        raise ValueError(f"{run_dir}: {len(unknown)} record(s) answer questions the run was not given (e.g. "
                         f"{', '.join(unknown[:3])})")
    if len(set(ids)) < len(expected) and not allow_partial:
        raise ValueError(f"{run_dir}: {len(set(ids))} of {len(expected)} questions answered (an interrupted run?); "
                         f"finish it with rag.predict --resume, or pass --allow-partial to score what is there")


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(ap)
    ap.add_argument("--data", default=None)
    ap.add_argument("--labels", default=None)
    ap.add_argument("--suite", default=None, choices=SUITES.names())
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--predictions", type=Path, default=None, help="score this rag.predict run instead")
    ap.add_argument("--allow-partial", action="store_true",
                    help="with --predictions: score a run that has not answered all its questions")
    ap.add_argument("--limit", type=positive_int, default=None)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--no-evidence-baseline", dest="evidence_baseline", action="store_false",
                    help="skip the retrieval-only answerer's row (run when retrieval.kb is set)")
    args = ap.parse_args(argv)
    given = [f for f, v in (("--data", args.data), ("--suite", args.suite), ("--predictions", args.predictions))
             if v is not None]
    if len(given) > 1:
        fail(f"{' and '.join(given)} both say which questions to score: give one", 2)
    cfg = config_from_args(args)
    prov: dict = {"config_hash": config_hash(cfg), "versions": json.dumps(library_versions())}
    baselines: dict = {}
    try:
        if args.predictions is not None:
            records = read_run(args.predictions)
            check_complete(args.predictions, records, args.allow_partial)
            prov["predictions"] = str(args.predictions)
        else:
            from rag.assembly import Assembly
            from rag.predict import check_out, predict
            from rag.questions import describe, questions_for_run

            check_out(args.out, args.resume)
            parts = Assembly()  # the run and its retrieval-only baseline share the knowledge base and retrievals
            baseline = bool(cfg.retrieval.kb) and args.evidence_baseline
            qs, identity = questions_for_run(cfg, args.data, args.labels, args.suite, args.limit,
                                             kbs=[parts.knowledge_base(cfg, always=baseline)])
            pipe = parts.pipeline(cfg)
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "question_ids.txt").write_text("\n".join(q.id for q in qs) + "\n", encoding="utf-8")
            records = predict(pipe, qs, args.out, resume=args.resume, data=identity)
            if baseline:
                from .evidence import evidence_baseline

                baselines["retrieval-only (no LLM)"] = evidence_baseline(parts, cfg, qs)
            summary = json.loads((args.out / "summary.json").read_text())
            source, sha = describe(identity)
            prov |= {"data": source, "data_sha256": sha, "model": summary.get("model"),
                     "prompt_template_hash": summary.get("prompt_template_hash")}
    except (DataError, RecordError, FileNotFoundError, FileExistsError, ValueError, KBError, OSError) as e:
        fail(str(e))
    m = write_report(args.out, prov, records, baselines)
    print(f"wrote {args.out / 'metrics.json'}, report.md and charts", file=sys.stderr)
    print(result_line(m))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
