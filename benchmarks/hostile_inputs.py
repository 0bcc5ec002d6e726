"""Hostile and careless input against the real commands: each case runs ``python -m <command> ...`` in its own
process (as a user would) and is judged by what the user sees.

* ``refused``: exit 2 and an ``error: …`` message (naming the file, key or limit where the case says which), no
  traceback — what every case that must not run should give;
* ``ran``: exit 0 (or 1 where a command ran and reported problems, e.g. ``rag.data validate`` on bad rows);
* ``traceback``: a Python traceback reached the user;
* ``wrong``: a case that must be refused ran, or one that must run was refused (a silent wrong result or a
  refusal of good input).

The cases cover the classes of docs/reliability.md: data files, configs and ``-o`` overrides, knowledge-base
stores and sources, router directories, run directories, grids, ensembles and fine-tuning options. None loads an
LLM (every refusal must come before one loads); a tiny knowledge base (20 articles, chunk + bm25) is built first.

    python benchmarks/hostile_inputs.py [--only SUBSTRING] [-v]

Last line: RESULT cases=… refused=… ran=… traceback=… wrong=… seconds=…
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console
from rich.table import Table


@dataclass
class Case:
    group: str
    name: str
    argv: list[str]
    expect: str = "refused"  # or "ran"
    env: dict[str, str] = field(default_factory=dict)
    needs: str = ""  # a text the one-line error must hold (the file, key or limit it names)


def run_case(c: Case, cwd: Path, timeout: float = 300) -> tuple[str, str]:
    """(outcome, the error message or the last line of stderr) of one case."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CSAT_DEBUG": "", **c.env}
    try:
        p = subprocess.run([sys.executable, "-m", *c.argv], check=False, cwd=cwd, env=env, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return "wrong", f"timed out after {timeout:.0f}s"
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    # the message: from the first ``error:`` line on (a config error lists each key on a line of its own)
    first = next((i for i, x in enumerate(lines) if x.startswith("error:") or ": error:" in x), None)
    message = " ".join(x.strip() for x in lines[first:]) if first is not None else (lines[-1] if lines else "")
    if "Traceback (most recent call last)" in p.stderr:
        return "traceback", lines[-1]
    if c.expect == "refused":
        ok = p.returncode == 2 and first is not None and (not c.needs or c.needs in message)
        return ("refused" if ok else "wrong"), message or f"exit {p.returncode}"
    return ("ran" if p.returncode in (0, 1) else "wrong"), message or f"exit {p.returncode}"


def make_inputs(tmp: Path, data: Path) -> dict[str, Path]:
    """The files the cases read: broken copies of real data, configs, a tiny store and its tampered copies."""
    f: dict[str, Path] = {}
    train = data / "competition/train.csv"
    head = train.read_text(encoding="utf-8").splitlines(keepends=True)
    f["train"] = train
    f["kice"] = data / "exams/kice/2016_11_KICE.json"

    def put(name: str, content: str | bytes) -> Path:
        p = tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        (p.write_bytes if isinstance(content, bytes) else p.write_text)(content)
        f[name] = p
        return p

    put("few.csv", "".join(head[:6]))
    put("unbalanced.csv", head[0] + head[1].replace('"', "", 1) + "".join(head[2:6]))
    put("cp949.csv", "".join(head[:4]).encode("cp949", errors="replace"))
    put("header_only.csv", head[0])
    put("empty.csv", "")
    put("not_gzip.csv.gz", "".join(head[:4]))
    put("dup_header.csv", head[0].rstrip("\n") + ",id\n" + "".join(head[1:4]))
    put("domain_kor.jsonl", json.dumps({"id": "q1", "paragraph": "가", "question": "나?", "choices": ["1", "2", "3",
                                                                                                    "4"],
                                        "answer": 1, "domain": "사회과학"}, ensure_ascii=False) + "\n")
    put("bad_problems.csv", head[0] + head[1].replace("'answer'", "'answers'", 1))
    put("labels_none.csv", "id,domain\nnot-a-question,korean\n")
    put("dup_keys.yaml", "retrieval:\n  top_k: 3\n  top_k: 7\n")
    put("unknown_key.yaml", "retrieval:\n  top_kk: 3\n")
    put("nan.yaml", "retrieval:\n  top_k: .nan\n")
    put("bomb.yaml", "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n")
    put("huge.yaml", "retrieval: {top_k: 3}\n" + "#" * (2 << 20))
    put("not_yaml.yaml", "retrieval: [unclosed\n")
    put("file_as_out", "x")
    put("long_line.jsonl", '{"text": "' + "가" * 5000 + '"}\n')
    put("nogz.jsonl.gz", '{"text": "가"}\n')
    put("src_noid_a.jsonl", '{"text": "첫째 문서의 내용입니다. 충분히 긴 문장을 여기에 씁니다."}\n')
    put("src_noid_b.jsonl", '{"text": "둘째 문서의 내용입니다. 전혀 다른 이야기를 여기에 씁니다."}\n')
    put("grid_path.yaml", "variants:\n  ../../x: [retrieval.top_k=3]\n")
    put("grid_int.yaml", "variants:\n  1: [retrieval.top_k=3]\n")
    put("grid_base.yaml", "baseline: nope\nvariants:\n  a: [retrieval.top_k=3]\n")
    put("ft_typo.yaml", "finetune:\n  datasets:\n    - {name: competition, path: data:competition/train.csv, "
                        "options: {wieght: 2}}\n")
    put("ft_weight.yaml", "finetune:\n  datasets:\n    - {name: competition, path: data:competition/train.csv, "
                          "options: {weight: abc}}\n")
    (tmp / "emptydir").mkdir()
    f["emptydir"] = tmp / "emptydir"
    with gzip.open(tmp / "real.jsonl.gz", "wt", encoding="utf-8") as g:
        g.write('{"text": "가나다"}\n')
    f["real.jsonl.gz"] = tmp / "real.jsonl.gz"

    # a tiny store, then broken copies of it
    kb = tmp / "kb"
    subprocess.run([sys.executable, "-m", "knowledge_base.build", "--out", str(kb), "--stages", "chunk,bm25",
                    "--no-progress", "-o", ("kb.sources=[{name: wiki, path: 'data:kb/kowiki_social_2020.jsonl.gz', "
                    "limit: 20}]")], cwd=tmp, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True,
                   capture_output=True)
    f["kb"] = kb
    for name in ("kb_flipped", "kb_mandir", "kb_k1", "kb_tok"):
        shutil.copytree(kb, tmp / name)
        f[name] = tmp / name
    raw = bytearray((tmp / "kb_flipped/chunks.jsonl").read_bytes())
    first = json.loads(raw[:raw.index(b"\n")])
    f["first_title"] = first["title"]  # a query whose top hit is the damaged record
    raw[raw.index(b'"text"') + 12] ^= 0xFF
    (tmp / "kb_flipped/chunks.jsonl").write_bytes(bytes(raw))
    (tmp / "kb_mandir/manifest.json").unlink()
    (tmp / "kb_mandir/manifest.json").mkdir()
    for name, edit in (("kb_k1", lambda m: m["bm25"]["config"].update(k1=-1)),
                       ("kb_tok", lambda m: m["bm25"]["config"].update(tokenizer="mecab"))):
        man = json.loads((tmp / name / "manifest.json").read_text(encoding="utf-8"))
        edit(man)
        (tmp / name / "manifest.json").write_text(json.dumps(man, ensure_ascii=False), encoding="utf-8")
        subprocess.run([sys.executable, "-m", "knowledge_base.manifest", "--restamp", str(tmp / name)], cwd=tmp,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, capture_output=True)

    # router directories: the shipped one, truncated and edited
    shipped = ROOT / "rag/router/shipped/default"
    for name in ("router_trunc_npz", "router_trunc_json", "router_nosums"):
        shutil.copytree(shipped, tmp / name)
        f[name] = tmp / name
    npz = tmp / "router_trunc_npz/router.npz"
    npz.write_bytes(npz.read_bytes()[:1000])
    rj = tmp / "router_trunc_json/router.json"
    rj.write_bytes(rj.read_bytes()[:900])
    (tmp / "router_nosums/SHA256SUMS").unlink()
    from router_training.writer import write_checksums

    for name in ("router_trunc_npz", "router_trunc_json"):
        shutil.copytree(tmp / name, tmp / f"{name}_restamped")
        write_checksums(tmp / f"{name}_restamped")
        f[f"{name}_restamped"] = tmp / f"{name}_restamped"

    # a run directory with results and no stamp
    run = tmp / "run_nostamp"
    run.mkdir()
    (run / "details.jsonl").write_text('{"id": "x", "prediction": 1}\n')
    f["run_nostamp"] = run
    return f


def cases(f: dict[str, Path], tmp: Path) -> list[Case]:
    o = lambda name: str(tmp / "out" / name)
    train, few = str(f["train"]), str(f["few.csv"])
    kice = str(f["kice"])
    kbo = lambda kb: ["-o", f"retrieval.kb={f[kb]}"]
    return [
        # 1. data files
        Case("data", "unknown text encoding", ["rag.data", "stats", train, "--encoding", "bogus-enc"], needs="bogus"),
        Case("data", "cp949 file read as UTF-8", ["rag.data", "stats", str(f["cp949.csv"])], needs="cp949"),
        Case("data", "unbalanced quote", ["rag.data", "validate", str(f["unbalanced.csv"])], expect="ran"),
        Case("data", "header-only file", ["rag.predict", "--data", str(f["header_only.csv"]), "--out", o("h")]),
        Case("data", "empty file", ["rag.data", "stats", str(f["empty.csv"])]),
        Case("data", "duplicate header column", ["rag.data", "stats", str(f["dup_header.csv"])]),
        Case("data", "a directory as data", ["rag.data", "stats", str(f["emptydir"])]),
        Case("data", "/dev/zero as data", ["rag.predict", "--data", "/dev/zero", "-o", "data.format=jsonl",
                                           "--out", o("z")], needs="/dev/zero"),
        Case("data", "input over $CSAT_MAX_INPUT_MB", ["rag.data", "stats", train], env={"CSAT_MAX_INPUT_MB": "0.1"},
             needs="CSAT_MAX_INPUT_MB"),
        Case("data", "missing data file", ["rag.predict", "--data", str(tmp / "nope.csv"), "--out", o("m")]),
        Case("data", "domain 사회과학 in jsonl", ["rag.data", "stats", str(f["domain_kor.jsonl"]), "--format", "jsonl"]),
        Case("data", "problems key 'answers'", ["rag.data", "validate", str(f["bad_problems.csv"])], expect="ran"),
        Case("data", "labels that match no question", ["rag.predict", "--data", few, "--labels",
                                                       str(f["labels_none.csv"]), "--out", o("l")]),
        Case("data", "a good file", ["rag.data", "stats", few], expect="ran"),
        # 2. configs and overrides
        Case("config", "YAML key given twice", ["rag.predict", "--config", str(f["dup_keys.yaml"]), "--data", few,
                                                "--out", o("c1")], needs="top_k"),
        Case("config", "unknown config key", ["rag.predict", "--config", str(f["unknown_key.yaml"]), "--data", few,
                                              "--out", o("c2")], needs="top_kk"),
        Case("config", "nan in a config", ["rag.predict", "--config", str(f["nan.yaml"]), "--data", few,
                                           "--out", o("c3")]),
        Case("config", "YAML alias bomb", ["rag.predict", "--config", str(f["bomb.yaml"]), "--data", few,
                                           "--out", o("c4")]),
        Case("config", "config over 1 MiB", ["rag.predict", "--config", str(f["huge.yaml"]), "--data", few,
                                             "--out", o("c5")]),
        Case("config", "malformed YAML", ["rag.predict", "--config", str(f["not_yaml.yaml"]), "--data", few,
                                          "--out", o("c6")]),
        Case("config", "-o with an unknown section", ["rag.predict", "--data", few, "-o", "retrievl.top_k=3",
                                                      "--out", o("c7")]),
        Case("config", "-o top_k=0", ["rag.predict", "--data", few, "-o", "retrieval.top_k=0", "--out", o("c8")]),
        Case("config", "--limit 0", ["rag.predict", "--data", few, "--limit", "0", "--out", o("c9")]),
        Case("config", "--out is a file", ["rag.predict", "--data", few, "--out", str(f["file_as_out"])]),
        Case("config", "template that does not exist", ["rag.predict", "--data", few, "-o",
                                                        "prompt.template=nope", "--out", o("c10")]),
        Case("config", "empty model directory", ["rag.predict", "--data", few, "-o", f"llm.model={f['emptydir']}",
                                                 "--out", o("c11")]),
        Case("config", "reranker path that does not exist", ["retrievers.search", "--kb", str(f["kb"]), "-o",
                                                             "retrieval.method=bm25", "-o",
                                                             f"retrieval.reranker={tmp / 'no-reranker'}", "세종"],
             needs="no-reranker"),
        Case("config", "--kb and -o retrieval.kb disagree", ["retrievers.search", "--kb", str(f["kb"]),
                                                             *kbo("kb_k1"), "세종"]),
        # 3. knowledge-base stores and sources
        Case("kb", "flipped byte in a record a search returns", ["knowledge_base.search", "--kb",
                                                                  str(f["kb_flipped"]), f["first_title"]],
             needs="changed since the store was built"),
        Case("kb", "flipped byte, full verification", ["knowledge_base.search", "--kb", str(f["kb_flipped"]),
                                                       "--verify", "full", "세종"], needs="chunks.jsonl"),
        Case("kb", "flipped byte with --no-verify", ["knowledge_base.search", "--kb", str(f["kb_flipped"]),
                                                     "--no-verify", f["first_title"]], needs="chunks.jsonl, line 1"),
        Case("kb", "manifest.json is a directory", ["knowledge_base.search", "--kb", str(f["kb_mandir"]), "세종"]),
        Case("kb", "re-stamped k1: -1", ["knowledge_base.search", "--kb", str(f["kb_k1"]), "세종"], needs="k1"),
        Case("kb", "re-stamped unknown tokenizer", ["knowledge_base.search", "--kb", str(f["kb_tok"]), "세종"]),
        Case("kb", "no store there", ["knowledge_base.search", "--kb", str(tmp / "no-kb"), "세종"]),
        Case("kb", "dense search of a store without vectors", ["knowledge_base.search", "--kb", str(f["kb"]),
                                                               "--stage", "dense", "세종"]),
        Case("kb", "a good search", ["knowledge_base.search", "--kb", str(f["kb"]), "세종"], expect="ran"),
        Case("kb", "source .gz that is not gzip", ["knowledge_base.build", "--out", o("k1"), "--stages", "chunk",
                                                   "-o", f"kb.sources=[{{name: jsonl, path: '{f['nogz.jsonl.gz']}'}}]"]),
        Case("kb", "source line over $CSAT_MAX_RECORD_MB", ["knowledge_base.build", "--out", o("k2"), "--stages",
                                                            "chunk", "-o", (f"kb.sources=[{{name: jsonl, path: "
                                                            f"'{f['long_line.jsonl']}'}}]")],
             env={"CSAT_MAX_RECORD_MB": "0.001"}, needs="CSAT_MAX_RECORD_MB"),
        Case("kb", "/dev/zero as a source", ["knowledge_base.build", "--out", o("k3"), "--stages", "chunk", "-o",
                                             "kb.sources=[{name: jsonl, path: /dev/zero}]"], needs="/dev/zero"),
        Case("kb", "unknown source option", ["knowledge_base.build", "--out", o("k4"), "--stages", "chunk", "-o",
                                             ("kb.sources=[{name: wiki, path: 'data:kb/kowiki_social_2020.jsonl.gz', "
                                             "options: {max_char: 10}}]")], needs="max_char"),
        Case("kb", "two id-less jsonl sources", ["knowledge_base.build", "--out", o("k5"), "--stages", "chunk", "-o",
                                                 (f"kb.sources=[{{name: jsonl, path: '{f['src_noid_a.jsonl']}'}}, "
                                                 f"{{name: jsonl, path: '{f['src_noid_b.jsonl']}'}}]")], expect="ran"),
        Case("kb", "stage bm25 before chunk", ["knowledge_base.build", "--out", o("k6"), "--stages", "bm25"]),
        Case("kb", "restamp a directory with no store", ["knowledge_base.manifest", "--restamp", str(f["emptydir"])]),
        # 4. router directories
        Case("router", "truncated router.npz", ["eval.router", "eval", "--model", str(f["router_trunc_npz"]),
                                                "--data", kice], needs="router.npz"),
        Case("router", "truncated router.json", ["eval.router", "eval", "--model", str(f["router_trunc_json"]),
                                                 "--data", kice], needs="router.json"),
        Case("router", "router without SHA256SUMS", ["eval.router", "eval", "--model", str(f["router_nosums"]),
                                                     "--data", kice], needs="SHA256SUMS"),
        Case("router", "unknown shipped router", ["rag.predict", "--data", few, "-o", "router.model=shipped:nope",
                                                  "--out", o("r1")]),
        Case("router", "eval.router eval without labels", ["eval.router", "eval", "--data", few], needs="--labels"),
        Case("router", "truncated router.npz, re-stamped", ["eval.router", "eval", "--model",
                                                            str(f["router_trunc_npz_restamped"]), "--data", kice],
             needs="router.npz"),
        Case("router", "truncated router.json, re-stamped", ["eval.router", "eval", "--model",
                                                             str(f["router_trunc_json_restamped"]), "--data", kice],
             needs="router.json"),
        # 5. run directories, grids, ensembles
        Case("run", "--resume into results without a stamp", ["rag.predict", "--data", few, "--resume",
                                                               "--out", str(f["run_nostamp"])]),
        Case("run", "eval.run --predictions over a run without a stamp", ["eval.run",
                                                                          "--predictions", str(f["run_nostamp"]),
                                                                          "--out", o("e1")]),
        Case("run", "eval.run --data with --suite", ["eval.run", "--data", few, "--suite", "kice", "--out", o("e2")]),
        Case("run", "ensemble of runs that do not exist", ["eval.ensemble", "--method", "soft", "--out", o("en"),
                                                           str(tmp / "a"), str(tmp / "b")]),
        Case("run", "ablation variant named ../../x", ["eval.ablate", "--data", few, "--grid",
                                                       str(f["grid_path.yaml"]), "--out", o("a1")], needs="../../x"),
        Case("run", "ablation variant named 1", ["eval.ablate", "--data", few, "--grid", str(f["grid_int.yaml"]),
                                                 "--out", o("a2")]),
        Case("run", "ablation baseline that is no variant", ["eval.ablate", "--data", few, "--grid",
                                                             str(f["grid_base.yaml"]), "--out", o("a3")], needs="nope"),
        Case("run", "fine-tuning option wieght", ["finetune.train", "--config", str(f["ft_typo.yaml"]),
                                                  "--out", o("f1")], needs="wieght"),
        Case("run", "fine-tuning weight abc", ["finetune.train", "--config", str(f["ft_weight.yaml"]),
                                               "--out", o("f2")]),
        Case("run", "merge without adapters", ["finetune.merge", "--base", str(f["emptydir"]), "--adapters",
                                               str(tmp / "no-adapter"), "--out", o("m1")], needs="no-adapter"),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="run the cases whose group or name contains this")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case's last stderr line")
    args = ap.parse_args()
    console = Console()
    from common.paths import default_data_root

    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "out").mkdir()
        files = make_inputs(tmp, default_data_root())
        todo = [c for c in cases(files, tmp) if not args.only or args.only in c.group or args.only in c.name]
        results = []
        for c in todo:
            outcome, last = run_case(c, tmp)
            results.append((c, outcome, last))
            if args.verbose or outcome in ("traceback", "wrong"):
                console.print(f"[{'red' if outcome in ('traceback', 'wrong') else 'green'}]{outcome:9}[/] "
                              f"{c.group}/{c.name}: {last[:300]}")
    tab = Table(title=f"{len(results)} hostile inputs", title_justify="left")
    for col in ("group", "cases", "refused", "ran", "traceback", "wrong"):
        tab.add_column(col)
    groups = sorted({c.group for c, _, _ in results}, key=[c.group for c, _, _ in results].index)
    for g in [*groups, "all"]:
        rows = [o for c, o, _ in results if g in ("all", c.group)]
        tab.add_row(g, str(len(rows)), *(str(rows.count(k)) for k in ("refused", "ran", "traceback", "wrong")))
    console.print(tab)
    counts = {k: sum(o == k for _, o, _ in results) for k in ("refused", "ran", "traceback", "wrong")}
    print(f"RESULT cases={len(results)} refused={counts['refused']} ran={counts['ran']} "
          f"traceback={counts['traceback']} wrong={counts['wrong']} seconds={time.time() - t0:.0f}")
    return 0 if counts["traceback"] == counts["wrong"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
