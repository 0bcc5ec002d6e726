"""One error boundary per command (``common.cli.command``): an error raised anywhere below a CLI's ``main`` ends it
with one line naming the file and what to do, exit code 2, no traceback; ``CSAT_DEBUG=1`` shows the traceback."""
import json

import pytest
from cli_helpers import run_cli


def _one_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_failures_of_files_and_libraries_are_one_line(tmp_path, data_root, capsys):
    from eval.router.__main__ import main as router_eval
    from knowledge_base.build import main as build
    from rag.data.__main__ import main as data_main
    from rag.predict import main as predict
    from retrievers.search import main as search

    train = str(data_root / "competition/train.csv")
    code, err = run_cli(data_main, ["stats", train, "--encoding", "bogus-enc"], capsys)
    assert code == 2 and "unknown encoding: bogus-enc" in _one_line(err)
    (tmp_path / "kb/manifest.json").mkdir(parents=True)
    code, err = run_cli(search, ["--kb", str(tmp_path / "kb"), "질문"], capsys)
    assert code == 2 and "manifest.json: is a directory" in _one_line(err)
    (tmp_path / "file").write_text("x")
    code, err = run_cli(predict, ["--data", train, "--out", str(tmp_path / "file"), "--limit", "2",
                                  "-o", "router.name=always-korean"], capsys)
    assert code != 0 and "--out names a file" in _one_line(err)
    (tmp_path / "x.jsonl.gz").write_text("not gzip")
    code, err = run_cli(build, ["--out", str(tmp_path / "kbx"), "--stages", "chunk", "-o",
                                f"kb.sources=[{{name: wiki, path: {tmp_path / 'x.jsonl.gz'}}}]"], capsys)
    assert code != 0 and "not gzip-compressed" in _one_line(err)
    code, err = run_cli(router_eval, ["eval", "--data", train, "--labels",
                                      str(data_root / "competition/train_sources.csv"), "--model",
                                      str(tmp_path / "file")], capsys)
    assert code == 2 and "no router directory there" in _one_line(err)


def test_debug_switch_shows_the_traceback(data_root, monkeypatch):
    from rag.data.__main__ import main as data_main

    monkeypatch.setenv("CSAT_DEBUG", "1")
    with pytest.raises(LookupError, match="bogus-enc"):
        data_main(["stats", str(data_root / "competition/train.csv"), "--encoding", "bogus-enc"])


def test_inputs_that_could_take_the_machine_down_are_refused(tmp_path, data_root, capsys, monkeypatch):
    """A device as data (``/dev/zero`` read until memory ran out), an input over the size limit, a huge config."""
    from rag.data.__main__ import main as data_main
    from rag.predict import main as predict

    code, err = run_cli(predict, ["--data", "/dev/zero", "-o", "data.format=jsonl", "--out", str(tmp_path / "o")],
                        capsys)
    assert code != 0 and "/dev/zero: not a regular file" in _one_line(err)
    monkeypatch.setenv("CSAT_MAX_INPUT_MB", "0.5")
    code, err = run_cli(data_main, ["stats", str(data_root / "competition/train.csv")], capsys)
    assert code != 0 and "over the 0.5 MiB input limit (raise it with $CSAT_MAX_INPUT_MB)" in _one_line(err)
    monkeypatch.delenv("CSAT_MAX_INPUT_MB")
    big = tmp_path / "big.yaml"
    big.write_text("retrieval: {top_k: 3}\n" + "#" * (2 << 20))
    code, err = run_cli(predict, ["--config", str(big), "--out", str(tmp_path / "o")], capsys)
    assert code != 0 and "a run config is under" in _one_line(err)


def test_a_run_directory_belongs_to_one_run(tmp_path, data_root, tiny_qwen_dir, capsys):
    """While one run writes into --out (it holds DIR/.lock), a second run into it is refused, not interleaved."""
    from common.rundir import run_lock
    from rag.predict import main as predict

    out = tmp_path / "run"
    argv = ["--data", str(data_root / "competition/train.csv"), "--out", str(out), "--limit", "2",
            "-o", f"llm.model={tiny_qwen_dir}", "-o", "router.name=always-korean", "-o", "llm.dtype=float32"]
    with run_lock(out):  # a run in progress
        code, err = run_cli(predict, argv, capsys)
        assert code != 0 and "another run is writing into this directory" in _one_line(err)
        assert not (out / "details.jsonl").exists()
    code, err = run_cli(predict, argv, capsys)  # once it is done, the directory is free
    assert code == 0 and (out / "details.jsonl").read_text().count("\n") == 2
    # --resume with other labels: the label file and its sha256 are part of the stamp
    labels = tmp_path / "labels.csv"
    labels.write_text((data_root / "competition/train_sources.csv").read_text(encoding="utf-8"), encoding="utf-8")
    code, err = run_cli(predict, [*argv, "--labels", str(labels), "--resume"], capsys)
    assert code != 0 and "--resume refused" in err and "labels" in err
    # --resume into results without their stamp (a copied run) is refused, not mixed
    (out / ".run_stamp.json").unlink()
    code, err = run_cli(predict, [*argv, "--resume"], capsys)
    assert code != 0 and "no .run_stamp.json" in err


@pytest.mark.parametrize("domain", ["사회", "Social", "국어"])
def test_a_domain_outside_korean_and_social_is_refused_in_every_format(tmp_path, domain):
    """Label files refused these; flat CSV and jsonl kept them as a third domain that every figure counted apart."""
    from rag.data import DataError, load_questions

    (tmp_path / "q.jsonl").write_text('{"id": "a", "question": "q?", "choices": ["x", "y"], "answer": 1, '
                                      f'"domain": "{domain}"}}\n', encoding="utf-8")
    (tmp_path / "q.csv").write_text(f'id,question,choices,answer,domain\na,q?,"[\'x\', \'y\']",1,{domain}\n',
                                    encoding="utf-8")
    for name, fmt in (("q.jsonl", "jsonl"), ("q.csv", "flat")):
        with pytest.raises(DataError, match=f"row 1, id 'a', field 'domain'.*{domain}.*is not one of"):
            load_questions(tmp_path / name, format=fmt)


def test_scoring_a_partial_or_mixed_run_is_refused(tmp_path, data_root, tiny_qwen_dir, capsys):
    from eval.run import main as run
    from rag.predict import main as predict

    out = tmp_path / "run"
    assert predict(["--data", str(data_root / "competition/train.csv"), "--out", str(out), "--limit", "3",
                    "-o", f"llm.model={tiny_qwen_dir}", "-o", "router.name=always-korean",
                    "-o", "llm.dtype=float32"]) == 0
    details = out / "details.jsonl"
    lines = details.read_text(encoding="utf-8").splitlines(keepends=True)
    details.write_text("".join(lines[:2]), encoding="utf-8")  # an interrupted run
    code, err = run_cli(run, ["--predictions", str(out), "--out", str(tmp_path / "ev")], capsys)
    assert code != 0 and "2 of 3 questions answered" in err and "--allow-partial" in err
    assert run(["--predictions", str(out), "--out", str(tmp_path / "ev"), "--allow-partial"]) == 0
    details.write_text("".join(lines + lines[:1]), encoding="utf-8")  # two runs into one directory
    code, err = run_cli(run, ["--predictions", str(out), "--out", str(tmp_path / "ev2")], capsys)
    assert code != 0 and "1 duplicate record(s)" in err
    stranger = lines[0].replace('"generation-for-nlp-', '"someone-else-', 1)
    details.write_text("".join(lines + [stranger]), encoding="utf-8")
    code, err = run_cli(run, ["--predictions", str(out), "--out", str(tmp_path / "ev3")], capsys)
    assert code != 0 and "answer questions the run was not given" in err


def test_two_flags_that_say_the_same_thing_and_unknown_problem_keys_are_refused(tmp_path, data_root, capsys):
    from eval.run import main as run
    from rag.data import DataError, load_questions
    from retrievers.search import main as search

    code, err = run_cli(run, ["--data", str(data_root / "competition/train.csv"), "--suite", "kice", "--out",
                              str(tmp_path / "o")], capsys)
    assert code == 2 and "--data and --suite both say which questions" in err and not (tmp_path / "o").exists()
    code, err = run_cli(search, ["--kb", "A", "-o", "retrieval.kb=B", "질문"], capsys)
    assert code == 2 and "--kb and -o retrieval.kb both name" in err
    (tmp_path / "c.csv").write_text('id,paragraph,problems,question_plus\n'
                                    'x1,글,"{\'question\': \'q?\', \'choices\': [\'a\', \'b\'], \'answers\': 1}",\n',
                                    encoding="utf-8")
    with pytest.raises(DataError, match="row 1, id 'x1', field 'problems'.*unknown key.*'answers'"):
        load_questions(tmp_path / "c.csv")


def test_chunk_ids_are_unique_across_sources(tmp_path):
    """Two jsonl sources without ids used to make ``user:1:0`` twice (one chunk hid the other in every lookup)."""
    from common.config import load_config
    from knowledge_base.build import KBError, build

    for name, text in (("a.jsonl", "세종은 훈민정음을 만들었다."), ("b.jsonl", "이순신은 한산도에서 이겼다.")):
        (tmp_path / name).write_text(f'{{"text": "{text}"}}\n', encoding="utf-8")
    srcs = f"[{{name: jsonl, path: {tmp_path / 'a.jsonl'}}}, {{name: jsonl, path: {tmp_path / 'b.jsonl'}}}]"
    cfg = load_config(None, [f"kb.sources={srcs}", "kb.bm25.tokenizer=whitespace"])
    build(cfg, tmp_path / "kb", stages=["chunk"], progress=False)
    ids = [line.split('"chunk_id": "')[1].split('"')[0] for line in
           (tmp_path / "kb/chunks.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(ids) == ["user:a-1:0", "user:b-1:0"]
    (tmp_path / "b.jsonl").write_text('{"id": "a-1", "text": "이순신은 한산도에서 이겼다."}\n', encoding="utf-8")
    with pytest.raises(KBError, match="chunk id 'user:a-1:0' of source 'jsonl'.*b.jsonl.*also made by source"):
        build(cfg, tmp_path / "kb2", stages=["chunk"], progress=False)


def test_ablation_grids_are_checked_and_a_failing_variant_is_reported(tmp_path, data_root, tiny_qwen_dir, capsys):
    from eval.ablate import main as ablate
    from rag.data import load_questions, write_jsonl

    qs = load_questions(data_root / "competition/train.csv", labels=data_root / "competition/train_sources.csv")[:3]
    data = write_jsonl(qs, tmp_path / "three.jsonl")
    grid = tmp_path / "grid.yaml"
    base = ["--data", str(data), "--grid", str(grid), "-o", f"llm.model={tiny_qwen_dir}", "-o", "llm.dtype=float32"]
    for text, match in (("variants:\n  ../../x: []\n", "not a plain name"), ("variants:\n  1: []\n", "not a plain"),
                        ("baseline: nope\nvariants:\n  a: []\n", "baseline 'nope' is not one of")):
        grid.write_text(text, encoding="utf-8")
        code, err = run_cli(ablate, [*base, "--out", str(tmp_path / "g")], capsys)
        assert code != 0 and match in err, err
    grid.write_text("baseline: words\nvariants:\n  words: [router.name=always-korean]\n"
                    f"  broken: [router.name=always-social, retrieval.kb={tmp_path / 'no-kb'}]\n", encoding="utf-8")
    out = tmp_path / "abl"
    code, err = run_cli(ablate, [*base, "--out", str(out)], capsys)
    assert code == 1 and (out / "words" / "details.jsonl").exists()
    md = (out / "ablation.md").read_text(encoding="utf-8")
    assert "| broken |" in md and "**failed**" in md and "no-kb" in md
    code, err = run_cli(ablate, [*base, "--out", str(out)], capsys)  # an existing ablation, no --resume
    assert code == 2 and "already holds an ablation" in err
    grid.write_text("variants:\n  other: [router.name=always-korean]\n", encoding="utf-8")
    code, err = run_cli(ablate, [*base, "--out", str(out), "--resume"], capsys)
    assert code == 2 and "ran another grid" in err


@pytest.mark.parametrize("field,value,match", [
    ("probs", ["a", 0.5], "field 'probs' must be 2 finite"), ("gold", "1", "field 'gold' is '1'"),
    ("prediction", 3, "field 'prediction' is 3, not a choice number in 1..2"), ("probs", [0.5], "field .probs. must be 2")])
def test_details_records_with_values_no_run_writes_are_refused(tmp_path, field, value, match):
    import json

    from rag.record import RecordError, read_details

    rec = {"id": "q1", "n_choices": 2, "probs": [0.7, 0.3], "prediction": 1, "route": "korean", "gold": 1,
           "correct": True}
    rec[field] = value
    (tmp_path / "details.jsonl").write_text(json.dumps(rec) + "\n" + json.dumps(rec | {"id": "q2"}) + "\n")
    with pytest.raises(RecordError, match=rf"details.jsonl, line 1: {match}"):
        read_details(tmp_path / "details.jsonl")


@pytest.mark.parametrize("edit,match", [
    (lambda m: m["bm25"]["config"].update(k1=-1), r"bm25 settings are invalid \(k1"),
    (lambda m: m["bm25"]["config"].update(tokenizer="nope"), r"bm25 settings are invalid \(tokenizer"),
    (lambda m: m["dense"].update(dim=999), r"embeddings.npy holds .* dimension 999"),
    (lambda m: m["dense"]["index_config"].update(index="hnsw"), r"IndexFlatIP, not the 'hnsw' index"),
])
def test_a_restamped_store_is_still_checked(tmp_path, small_kb, edit, match):
    """A stamp proves the files were not changed after stamping, not that they make sense: the manifest's stage
    settings are validated with the build's own typed configs on load (``python -m knowledge_base.manifest
    --restamp`` was the way to smuggle ``k1: -1`` in)."""
    import json
    import shutil

    from knowledge_base.manifest import KBError, restamp
    from knowledge_base.store import KnowledgeBase

    kb = tmp_path / "kb"
    shutil.copytree(small_kb[0], kb)
    man = json.loads((kb / "manifest.json").read_text(encoding="utf-8"))
    edit(man)
    (kb / "manifest.json").write_text(json.dumps(man, ensure_ascii=False), encoding="utf-8")
    restamp(kb)
    with pytest.raises(KBError, match=match):
        store = KnowledgeBase.load(kb)
        store.faiss_index  # noqa: B018  (the index type is read when the index is)


def test_a_bad_prompt_template_is_refused_before_the_model_loads(tmp_path, data_root, capsys):
    """The model named here does not exist: had the run got as far as loading it, the error would be another."""
    from rag.predict import main as predict

    bad = tmp_path / "t.yaml"
    bad.write_text('question: "질문 {subject}: {question}"\n', encoding="utf-8")
    base = ["--data", str(data_root / "competition/train.csv"), "--limit", "1", "--out", str(tmp_path / "o"),
            "-o", "router.name=always-korean", "-o", f"llm.model={tmp_path / 'no-such-model'}"]
    code, err = run_cli(predict, [*base, "-o", f"prompt.template={bad}"], capsys)
    assert code != 0 and "question: unknown placeholder(s) {subject}; question takes {question}" in _one_line(err)
    code, err = run_cli(predict, [*base, "-o", f"prompt.template={tmp_path / 'none.yaml'}"], capsys)
    assert code != 0 and "no such template file" in _one_line(err) and "no-such-model" not in err


def test_an_empty_model_directory_is_named_not_blamed_on_a_tokenizer_library(tmp_path, data_root, capsys):
    from rag.predict import main as predict

    (tmp_path / "empty").mkdir()
    code, err = run_cli(predict, ["--data", str(data_root / "competition/train.csv"), "--limit", "1", "--out",
                                  str(tmp_path / "o"), "-o", "router.name=always-korean",
                                  "-o", f"llm.model={tmp_path / 'empty'}"], capsys)
    assert code != 0 and "is a directory without a model (no config.json and no .gguf" in _one_line(err)
    assert "sentencepiece" not in err.lower()


@pytest.mark.parametrize("source,content", [
    ("jsonl", '{"text": "' + "가" * 3000 + '"}\n'),       # one record past the limit
    ("csv", 'id,text\n1,"' + "나\n" * 2000 + '"\n'),      # a quoted field running over many lines
    ("txt", "다" * 3000),                                  # one txt document past the limit
])
def test_a_knowledge_base_source_record_over_the_limit_is_refused(tmp_path, capsys, monkeypatch, source, content):
    """Sources are streamed (no total limit), but one line / record / txt document is bounded by
    $CSAT_MAX_RECORD_MB: a file without line breaks is refused with the limit, not read whole."""
    from knowledge_base.build import main as build_main

    monkeypatch.setenv("CSAT_MAX_RECORD_MB", "0.001")  # 1,048 characters
    src = tmp_path / f"big.{source}"
    src.write_text(content, encoding="utf-8")
    args = ["--out", str(tmp_path / "kb"), "--stages", "chunk", "-o", f"kb.sources=[{{name: {source}, path: '{src}'}}]"]
    code, err = run_cli(build_main, args, capsys)
    assert code == 2 and str(src) in _one_line(err) and "$CSAT_MAX_RECORD_MB" in _one_line(err)
    monkeypatch.setenv("CSAT_MAX_RECORD_MB", "1")
    code, err = run_cli(build_main, args, capsys)
    assert code == 0, err


def test_a_device_as_a_knowledge_base_source_is_refused(tmp_path, capsys):
    from knowledge_base.build import main as build_main

    code, err = run_cli(build_main, ["--out", str(tmp_path / "kb"), "--stages", "chunk", "-o",
                                     "kb.sources=[{name: jsonl, path: /dev/zero}]"], capsys)
    assert code == 2 and "/dev/zero: not a regular file" in _one_line(err)


def test_a_store_whose_encoder_directory_is_gone_is_refused_by_name(tmp_path, small_kb, tiny_encoder_dir, capsys):
    """A dense store whose encoder directory was deleted after the build (no tampering: a cleaned-up temp dir)."""
    import shutil

    from common.config import load_config
    from knowledge_base.build import build
    from retrievers.search import main as search_main

    enc = tmp_path / "encoder"
    shutil.copytree(tiny_encoder_dir, enc)
    _, cfg = small_kb
    kb = tmp_path / "kb"
    build(load_config(None, [f"kb.sources={[s.model_dump(mode='json') for s in cfg.kb.sources]}",
                             "kb.chunking.size=300", "kb.chunking.overlap=50", f"kb.encoder.model={enc}",
                             "kb.encoder.query_prefix=", "kb.encoder.passage_prefix="]), kb, progress=False)
    shutil.rmtree(enc)
    code, err = run_cli(search_main, ["--kb", str(kb), "-o", "retrieval.method=dense", "세종"], capsys)
    assert code == 2 and f"its query encoder {enc} (manifest dense.encoder_config.model) is not there" in _one_line(err)


def test_a_reranker_path_that_does_not_exist_is_refused_before_the_store_loads(tmp_path, capsys):
    from retrievers.search import main as search_main

    code, err = run_cli(search_main, ["--kb", str(tmp_path / "no-kb"), "-o", f"retrieval.reranker={tmp_path}/nope",
                                      "세종"], capsys)
    assert code == 2 and (f"retrieval.reranker: '{tmp_path}/nope' is neither an existing local path nor a Hub id"
                          in _one_line(err))


def test_a_damaged_chunk_file_read_without_verification_names_file_and_line(tmp_path, small_kb, capsys):
    import shutil

    from knowledge_base.search import main as kb_search

    kb = tmp_path / "kb"
    shutil.copytree(small_kb[0], kb)
    raw = bytearray((kb / "chunks.jsonl").read_bytes())
    second = raw.split(b"\n")[1]
    query = json.loads(second)["text"][:60]  # a search whose hits include the second record
    raw[raw.index(b"\n") + 60] ^= 0xFF  # inside the second record: read only when a search returns it
    (kb / "chunks.jsonl").write_bytes(bytes(raw))
    code, err = run_cli(kb_search, ["--kb", str(kb), "--no-verify", query], capsys)
    assert code == 2 and f"{kb / 'chunks.jsonl'}, line 2: not a chunk record" in _one_line(err)


def test_merge_refuses_an_adapter_directory_that_is_not_one_before_loading_the_base(tmp_path, capsys):
    from finetune.merge import main as merge_main

    code, err = run_cli(merge_main, ["--base", str(tmp_path / "no-base"), "--adapters", str(tmp_path),
                                     "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and f"--adapters {tmp_path}: not a LoRA adapter directory" in _one_line(err)
